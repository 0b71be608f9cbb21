#!/usr/bin/env python
"""One command per dataset: validate an official release and write the manifests, label files and
split lists the registered datasets read.

    python tools/data/prepare.py DATASET --root RELEASE --out DIR [--check] [--frames FRAMES]
        [--tolerance S] [--force] [--name NAME] [--fps FPS]

--check validates the release and writes nothing. --frames: a folder written by
tools/data/extract_frames.py; the manifest then lists those frame folders instead of the video
files. --tolerance: seconds by which a video and its annotation may differ in length. Every error
names the file and line; nothing is written unless the whole release is valid (files are
written to a temporary folder first, then renamed into DIR). See docs/data.md.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from surgvista_mm.data_prep.releases import CONVERTERS, ReleaseError, prepare  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    epilog = 'Expected files per dataset:\n\n' + '\n\n'.join(
        spec.expects for spec in CONVERTERS.values())
    p = argparse.ArgumentParser(description=__doc__, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dataset', choices=sorted(CONVERTERS), metavar='DATASET',
                   help=f'one of {", ".join(sorted(CONVERTERS))}')
    p.add_argument('--root', required=True, help='the downloaded release folder')
    p.add_argument('--out', help='output folder (required unless --check)')
    p.add_argument('--check', action='store_true', help='validate only, write nothing')
    p.add_argument('--frames', default=None,
                   help='frames extracted by tools/data/extract_frames.py (its --out folder)')
    p.add_argument('--tolerance', type=int, default=None,
                   help='allowed video / annotation length difference in seconds '
                        '(default: 1 for per-frame annotations of videos, 0 otherwise)')
    p.add_argument('--force', action='store_true', help='overwrite files already in --out')
    p.add_argument('--fps', type=float, default=None,
                   help='generic_phase: native frame rate of start_frame,end_frame,phase '
                        'segment labels (default: each video\'s own)')
    p.add_argument('--name', default=None,
                   help='generic formats: manifest / source name (default: --out folder name)')
    args = p.parse_args(argv)
    if not args.check and not args.out:
        p.error('--out is required unless --check')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        plan = prepare(args.dataset, args.root, args.out, check=args.check, frames=args.frames,
                       tolerance=args.tolerance, force=args.force, name=args.name,
                       fps=args.fps)
    except (ReleaseError, FileExistsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for note in plan.notes:
        print(f'note: {note}')
    if args.check:
        print(f'{args.dataset}: {args.root} is valid; it would write:\n{plan.summary()}')
    else:
        print(f'{args.dataset}: wrote under {args.out}:\n{plan.summary()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
