#!/usr/bin/env python
"""Extract 1-fps frames (frame k = native frame round(k x fps)) from video files.

    python tools/data/extract_frames.py INPUT... --out DIR [--fps 1] [--short-side N]
        [--crop-margin] [--quality Q] [--restart-interval N] [--png] [--workers N]
        [--skip-bad] [--force]

INPUT: video files, folders of videos (searched recursively) or @list.txt (one path per line).
Writes DIR/<video_id>/000000.jpg, 000001.jpg, ... (video_id = file stem) and DIR/manifest.json
(surgvista_mm.manifest/v1, each video's native fps and 1-fps frame count). Complete videos are
skipped and partial ones continued, so an interrupted run can simply be started again; a folder
made with other options, or holding frames without this tool's .params.json, is only redone
with --force, which removes only this tool's files (frames, .params.json, .summary.json); a
DIR/<video_id> folder holding anything else (e.g. the input video, when --out is the input
tree) is refused, naming those files. Unreadable, truncated or empty videos are
listed at the end and make the exit status 1 unless --skip-bad. See docs/data.md.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from surgvista_mm.data_prep.frames import ExtractOptions, extract_frames  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('inputs', nargs='+', metavar='INPUT',
                   help='video files, folders of videos, or @list.txt')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--fps', type=float, default=1.0, help='frames per second kept (default 1)')
    p.add_argument('--short-side', type=int, default=None,
                   help='resize so the shorter side has N pixels (after the crop)')
    p.add_argument('--crop-margin', action='store_true',
                   help='crop the black margin: resize to height 300, grey > 15, median blur 19, '
                        'bounding box over 20 sampled frames (one box per video)')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality (default 95)')
    p.add_argument('--restart-interval', type=int, default=1,
                   help='JPEG restart marker every N MCUs (default 1: the pre-training loader '
                        'then decodes only the restart segments around its crop, same pixels, '
                        'files ~6-12%% larger; 0: no markers)')
    p.add_argument('--png', action='store_true', help='write lossless PNG frames instead')
    p.add_argument('--workers', type=int, default=1, help='parallel processes (videos)')
    p.add_argument('--skip-bad', action='store_true',
                   help='exit 0 even when some videos could not be read')
    p.add_argument('--force', action='store_true',
                   help='re-extract videos already extracted (with any options); removes only '
                        'the frame files and records this tool wrote')
    p.add_argument('--source', default=None, help='source name written into the manifest')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    opts = ExtractOptions(fps=args.fps, short_side=args.short_side, crop_margin=args.crop_margin,
                          quality=args.quality, image_ext='png' if args.png else 'jpg',
                          restart_interval=args.restart_interval)
    try:
        report = extract_frames(args.inputs, args.out, opts, workers=args.workers,
                                force=args.force, source=args.source)
    except (ValueError, FileNotFoundError) as e:  # bad inputs, found before any extraction
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'{len(report.done)} extracted, {len(report.skipped)} already complete, '
          f'{len(report.bad)} bad, {len(report.refused)} refused; manifest: '
          f'{report.manifest or "none (no complete video)"}')
    for path, why in report.warnings.items():
        print(f'WARNING {path}: {why}', file=sys.stderr)
    for path, why in report.refused.items():
        print(f'REFUSED {path}: {why}', file=sys.stderr)
    for path, why in report.bad.items():
        print(f'BAD {path}: {why}', file=sys.stderr)
    if report.refused or (report.bad and not args.skip_bad):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
