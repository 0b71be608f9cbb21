#!/usr/bin/env python
"""CPU cores and /dev/shm a training config needs per rank and per node.

    python tools/misc/resources.py configs/pretrain/surgvista_vitb.py [--ranks-per-node 8]
    python tools/misc/resources.py CONFIG --cpus      # only the cores per rank (slurm_train.sh)
    python tools/misc/resources.py CONFIG --cpus -- --seed 1 --cfg-options train_dataloader.num_workers=4

Arguments after ``--`` are tools/train.py's: their ``--cfg-options`` apply (slurm_train.sh passes
its train arguments there, so an overridden worker count sizes the request); the rest is ignored.
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
    p.epilog = 'after --: tools/train.py arguments (only their --cfg-options is read)'
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index('--') if '--' in argv else len(argv)
    args = p.parse_args(argv[:split])
    from surgvista_mm.utils.config_check import CfgOptionsAction, load_config
    from surgvista_mm.utils.resources import describe
    train = argparse.ArgumentParser(add_help=False)
    train.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, default=None)
    options = train.parse_known_args(argv[split + 1:])[0].cfg_options
    info = describe(load_config(args.config, options), args.ranks_per_node)
    if args.cpus:
        print(info['cpus_per_rank'])
    else:
        for key, value in info.items():
            print(f'{key}: {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
