#!/usr/bin/env python
"""Print the held-out result of a two-stage run (``tools/test.py --out-dir`` folder) next to the
share of its largest phase (the accuracy of always predicting it), and fail when the model is
not clearly above it.

    python tools/twostage/demo_report.py work_dirs/demo_twostage/results --margin 10
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def largest_phase_share(gt_dir: str) -> float:
    """Percent of the frames in ``gt_dir``'s phase files that belong to the most frequent phase."""
    from surgvista_mm.evaluation.phase_files import list_phase_files, read_phase_file
    labels = np.concatenate([read_phase_file(osp.join(gt_dir, name))[1]
                             for name in list_phase_files(gt_dir)])
    return 100.0 * np.bincount(labels).max() / len(labels)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('results', help='the --out-dir folder of tools/test.py')
    p.add_argument('--margin', type=float, default=10.0,
                   help='percentage points above the largest-phase share required')
    args = p.parse_args(argv)
    with open(osp.join(args.results, 'metrics.json'), encoding='utf-8') as f:
        metrics = json.load(f)['metrics']
    acc = metrics['phase/unrelaxed/image_accuracy']
    share = largest_phase_share(osp.join(args.results, 'gt'))
    print(f'held-out unrelaxed image-level accuracy {acc:.2f}% (largest-phase share '
          f'{share:.2f}%; {args.results}/metrics.json)')
    if acc < share + args.margin:
        print(f'not learned: below the largest-phase share + {args.margin:g} points',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
