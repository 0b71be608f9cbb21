#!/usr/bin/env python
"""Check that no benchmark test video hides in the pre-training data.

    python tools/data/check_leakage.py --pretrain MANIFEST_OR_CONFIG... --test MANIFEST...
        [--test-ids LIST] [--stride S] [--max-distance D] [--min-matches N]

--pretrain: pre-training manifests, or a pre-training config (.py) whose
train_dataloader.dataset.sources are used (after include / exclude / min_frames).
--test: manifests of the downstream videos (e.g. data/cholec80/manifests/cholec80.json);
--test-ids: keep only these test videos (a file, one id per line, or "id1,id2").
Compares by id (shipped benchmark test lists; same source name), by file hash, and by content
(perceptual hashes of sampled frames at a consistent time offset; robust to re-encoding,
resizing and trimming). Prints every overlap: pre-training source and video, test video, the
matched frames (seconds). Exit status 1 when an overlap is found, 0 otherwise.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from surgvista_mm.data_prep.leakage import (check_leakage, load_pretrain_videos,  # noqa: E402
                                            load_test_videos, parse_id_list, summarize)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pretrain', nargs='+', required=True, metavar='MANIFEST',
                   help='pre-training manifests (.json/.jsonl) or a pre-training config (.py)')
    p.add_argument('--test', nargs='+', required=True, metavar='MANIFEST',
                   help='manifests holding the test videos')
    p.add_argument('--test-ids', default=None,
                   help='only these test videos: an id-list file or comma-separated ids')
    p.add_argument('--stride', type=int, default=1,
                   help='seconds between sampled pre-training frames (default 1)')
    p.add_argument('--test-stride', type=int, default=1,
                   help='seconds between sampled test frames (default 1)')
    p.add_argument('--max-frames', type=int, default=None,
                   help='at most N sampled frames per pre-training video')
    p.add_argument('--max-distance', type=int, default=10,
                   help='largest Hamming distance (of 64 bits) of matching frames (default 10)')
    p.add_argument('--min-matches', type=int, default=3,
                   help='matched frames at one time offset that make an overlap (default 3)')
    p.add_argument('--min-fraction', type=float, default=0.5,
                   help='matched share of the pre-training frames that the offset places inside '
                        'the test video (default 0.5)')
    p.add_argument('--no-content', action='store_true', help='ids and file hashes only')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    pretrain = load_pretrain_videos(args.pretrain)
    test = load_test_videos(args.test, parse_id_list(args.test_ids))
    print(f'{len(pretrain)} pre-training videos, {len(test)} test videos')
    overlaps = check_leakage(pretrain, test, content=not args.no_content, stride=args.stride,
                             test_stride=args.test_stride, max_distance=args.max_distance,
                             min_matches=args.min_matches, min_fraction=args.min_fraction,
                             max_frames=args.max_frames)
    if overlaps:
        print(summarize(overlaps))
        print(f'{len(overlaps)} overlap(s) found')
        return 1
    print('no overlap found')
    return 0


if __name__ == '__main__':
    sys.exit(main())
