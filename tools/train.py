#!/usr/bin/env python
"""Train a surgvista_mm config with mmengine's Runner (1 process, torchrun or Slurm)."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too

from mmengine.config import Config, DictAction  # noqa: E402

import surgvista_mm  # noqa: E402,F401  (registers the modules)
from surgvista_mm.compat import patch_runner_cfg_for_device  # noqa: E402
from surgvista_mm.utils.config_check import check_config, load_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from the latest checkpoint in work_dir, or from the given '
                        'file (the config default `resume=True` already auto-resumes)')
    parser.add_argument('--no-resume', action='store_true', help='start from scratch even if '
                        'work_dir holds checkpoints')
    parser.add_argument('--seed', type=int, default=None, help='overrides randomness.seed')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.teacher.checkpoint=x.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_resume:
        cfg.resume, cfg.load_from = False, None
    elif args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    check_config(cfg, args.config)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = build_cfg(args)
    note = patch_runner_cfg_for_device(cfg, args.launcher)
    from surgvista_mm.engine.runner import RUNNERS, SurgVistaRunner
    runner = RUNNERS.build(cfg) if cfg.get('runner_type') else SurgVistaRunner.from_cfg(cfg)
    if note:
        runner.logger.info(note)
    runner.logger.info(f'world size: {runner.world_size} (rank {runner.rank})')
    runner.train()


if __name__ == '__main__':
    main()
