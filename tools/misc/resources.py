#!/usr/bin/env python
"""CPU cores and /dev/shm a training config needs per rank and per node.

    python tools/misc/resources.py configs/pretrain/surgvista_vitb.py [--ranks-per-node 8]
    python tools/misc/resources.py CONFIG --cpus      # only the cores per rank (slurm_train.sh)
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--ranks-per-node', type=int, default=8)
    p.add_argument('--cpus', action='store_true', help='print only the cores per rank')
    args = p.parse_args(argv)
    from mmengine.config import Config

    from surgvista_mm.utils.resources import describe
    info = describe(Config.fromfile(args.config), args.ranks_per_node)
    if args.cpus:
        print(info['cpus_per_rank'])
    else:
        for key, value in info.items():
            print(f'{key}: {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
