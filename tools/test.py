#!/usr/bin/env python
"""Evaluate a checkpoint with a config's test_dataloader / test_evaluator."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint_to_model  # noqa: E402

import surgvista_mm  # noqa: E402,F401
from surgvista_mm.compat import (load_external_weights, load_trusted_checkpoint,  # noqa: E402
                                 patch_runner_cfg_for_device)
from surgvista_mm.utils.config_check import check_config, load_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='weights: a converted/plain state-dict file (loaded '
                        'with weights_only=True) or, with --trust-checkpoint, a full training '
                        'checkpoint written by your own run')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='the checkpoint is your own training checkpoint (it pickles '
                        'mmengine objects that weights_only=True refuses)')
    parser.add_argument('--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from, cfg.resume = None, False
    check_config(cfg, args.config)
    if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
        raise SystemExit(f'{args.config}: test_dataloader and test_evaluator must be set to test')
    note = patch_runner_cfg_for_device(cfg, args.launcher)
    from surgvista_mm.engine.runner import RUNNERS, SurgVistaRunner
    runner = RUNNERS.build(cfg) if cfg.get('runner_type') else SurgVistaRunner.from_cfg(cfg)
    if note:
        runner.logger.info(note)
    loader = load_trusted_checkpoint if args.trust_checkpoint else load_external_weights
    checkpoint = loader(args.checkpoint, map_location='cpu')
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    runner.logger.info(f'loaded weights from {args.checkpoint}')
    runner.test()


if __name__ == '__main__':
    main()
