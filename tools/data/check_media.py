#!/usr/bin/env python
"""Decode every 1-fps frame of the videos of one or more manifests and report bad media.

    python tools/data/check_media.py data/cholec80/manifests/cholec80.json [MANIFEST...] \\
        [--workers 8] [--min-size 224] [--data-root DIR]

Reports, one line each, missing, empty (0-byte), truncated or undecodable frame files, frames
whose size differs from the rest of their video (or whose short side is below --min-size), and
video files that do not open, are shorter than the manifest says or fail to decode a frame.
Exit status 1 when a problem is found, 0 otherwise (see surgvista_mm/datasets/media_check.py).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from surgvista_mm.datasets.media_check import check_manifests  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('manifests', nargs='+', metavar='MANIFEST')
    p.add_argument('--workers', type=int, default=8, help='decoding threads (default 8)')
    p.add_argument('--min-size', type=int, default=None,
                   help='smallest allowed short side in pixels (e.g. the crop size)')
    p.add_argument('--data-root', default=None, help="override the manifests' data_root")
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    try:
        report = check_manifests(args.manifests, workers=args.workers, min_size=args.min_size,
                                 progress=not args.no_progress, data_root=args.data_root)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
