#!/usr/bin/env python
"""Evaluate a checkpoint with a config's test_dataloader / test_evaluator."""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too

from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint_to_model  # noqa: E402

import surgvista_mm  # noqa: E402,F401  (registers the modules)
from surgvista_mm.engine.checkpoint_io import load_checkpoint_file  # noqa: E402
from surgvista_mm.engine.amp_loops import set_eval_amp  # noqa: E402
from surgvista_mm.evaluation.writers import check_out_dir  # noqa: E402
from surgvista_mm.inference.model import check_checkpoint_fits, wrap_evaluator  # noqa: E402
from surgvista_mm.utils.config_check import ConfigError  # noqa: E402
from surgvista_mm.utils.precision import AMP_CHOICES  # noqa: E402
from surgvista_mm.utils.cli import (add_runner_args, build_runner, finish_distributed,  # noqa: E402
                                    load_runner_config, parse_runner_args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a training checkpoint (epoch_*.pth, best_*.pth) or '
                        'a converted/plain state-dict file; loaded with weights_only=True')
    parser.add_argument('--out-dir', help='also write predictions (per-video phase files, '
                        'scores.npz / predictions.npz), metrics.json and plots here')
    parser.add_argument('--force', action='store_true',
                        help='replace results already in --out-dir')
    parser.add_argument('--amp', choices=AMP_CHOICES, help='test precision (default: the '
                        "config's test_cfg.amp): none (float32, TF32 on CUDA), bf16 or fp16")
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    try:  # a bad key or value stops here, before the runner logs the config
        cfg = load_runner_config(args)
        cfg.load_from, cfg.resume = None, False
        set_eval_amp(cfg, args.amp)
        if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
            raise SystemExit(f'{args.config}: test_dataloader and test_evaluator must be set '
                             'to test')
        if args.out_dir:  # refused before anything is built when it already holds results
            check_out_dir(args.out_dir, args.force)
            cfg.test_evaluator = wrap_evaluator(cfg.test_evaluator, args.out_dir, args.force,
                                                args.config)
        checkpoint = load_checkpoint_file(args.checkpoint, map_location='cpu')
        runner, _ = build_runner(cfg, args.config, args.launcher)
    except ConfigError as exc:
        raise SystemExit(f'error: {exc}') from None
    except FileExistsError as exc:
        raise SystemExit(f'error: {exc}') from None
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_checkpoint_fits(model, checkpoint, args.checkpoint, args.config)
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    runner.logger.info(f'loaded weights from {args.checkpoint}')
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
