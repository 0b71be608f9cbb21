#!/usr/bin/env python
"""Print whether a pre-training run learned: pixel MSE of the last epoch vs the first logged
iterations (``make demo`` expects a ratio below 0.7).

Example::

    python tools/analysis/demo_report.py work_dirs/demo
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from surgvista_mm.visualization.learning_report import pixel_mse_progress  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--expect', type=float, default=0.7, help='ratio to stay below')
    args = p.parse_args(argv)
    try:
        res = pixel_mse_progress(args.work_dir)
    except (OSError, ValueError) as err:
        print(f'demo_report: error: {err}', file=sys.stderr)
        return 2
    verdict = 'learned' if res['ratio'] < args.expect else f'NOT below {args.expect}'
    print(f'pixel MSE (normalised pixels, masked tubes): first logged iterations '
          f'{res["first"]:.4f}, last epoch ({res["last_epoch"]:g}) {res["last"]:.4f}: ratio '
          f'{res["ratio"]:.3f} -- {verdict}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
