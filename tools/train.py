#!/usr/bin/env python
"""Train a surgvista_mm config with mmengine's Runner (1 process, torchrun or Slurm)."""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too

import surgvista_mm  # noqa: E402,F401  (registers the modules)
from surgvista_mm.utils.cli import (add_runner_args, build_runner,  # noqa: E402
                                    load_runner_config, parse_runner_args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from the latest checkpoint in work_dir, or from the given '
                        'file (the config default `resume=True` already auto-resumes)')
    parser.add_argument('--no-resume', action='store_true', help='start from scratch even if '
                        'work_dir holds checkpoints')
    parser.add_argument('--seed', type=int, default=None, help='overrides randomness.seed')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_runner_config(args)
    if args.no_resume:
        cfg.resume, cfg.load_from = False, None
    elif args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    runner, _ = build_runner(cfg, args.config, args.launcher)
    runner.train()


if __name__ == '__main__':
    main()
