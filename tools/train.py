#!/usr/bin/env python
"""Train a surgvista_mm config with mmengine's Runner (1 process, torchrun or Slurm)."""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a clone too

from mmengine.config import Config  # noqa: E402

import surgvista_mm  # noqa: E402,F401  (registers the modules)
from surgvista_mm.utils.config_check import ConfigError, check_init_checkpoints  # noqa: E402
from surgvista_mm.utils.config_follow import replace_sources  # noqa: E402
from surgvista_mm.utils.cli import (add_runner_args, build_runner, finish_distributed,  # noqa: E402
                                    load_runner_config, parse_runner_args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from the latest complete checkpoint in work_dir, or from '
                        'the given epoch_*/iter_*.pth (the config default `resume=True` already '
                        'auto-resumes; a file without optimizer state, e.g. best_*.pth, is '
                        'refused unless --cfg-options allow_partial_resume=True)')
    parser.add_argument('--no-resume', action='store_true', help='start from scratch even if '
                        'work_dir holds checkpoints')
    parser.add_argument('--resume-override-optim', '--resume-override-lr', action='store_true',
                        help='on resume, apply the config\'s optimizer / LR schedule values '
                        '(e.g. a lower lr) instead of refusing to resume when they differ from '
                        'the checkpoint\'s (the optimizer moments are kept)')
    parser.add_argument('--resume-allow-model-change', action='store_true',
                        help='resume even though the model config differs from the checkpoint\'s')
    parser.add_argument('--sources', nargs='+', metavar='MANIFEST', default=None,
                        help='pre-training: train on these manifests instead of the config\'s '
                        'sources (one source per manifest, named by its file stem)')
    parser.add_argument('--seed', type=int, default=None,
                        help='overrides randomness.seed and the datasets\' seed (crops, masks)')
    add_runner_args(parser)
    return parse_runner_args(parser)


def configure(args: argparse.Namespace) -> Config:
    """The config with the command line applied (work dir, resume, seed)."""
    cfg = load_runner_config(args)
    if args.sources:
        replace_sources(cfg, args.sources, args.config)
    if args.no_resume:
        cfg.resume, cfg.load_from = False, None
    elif args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    for flag in ('resume_override_optim', 'resume_allow_model_change'):  # resume_checks.py
        if getattr(args, flag, False):
            cfg[flag] = True
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            dataset = (cfg.get(key) or {}).get('dataset')
            if dataset is not None and 'seed' in dataset:
                dataset.seed = args.seed
    return cfg


def main() -> None:
    args = parse_args()
    try:  # a bad key or value stops here, before the runner logs the config
        cfg = configure(args)
        check_init_checkpoints(cfg, args.config)
        runner, _ = build_runner(cfg, args.config, args.launcher)
    except ConfigError as exc:
        raise SystemExit(f'error: {exc}') from None
    check_total_batch(cfg, runner)
    runner.train()
    finish_distributed()


def check_total_batch(cfg: Config, runner) -> None:  # noqa: ANN001
    """Warn when the config's LR was derived for another total batch than this launch has."""
    expected = cfg.get('total_batch')
    if expected is None or cfg.get('train_dataloader') is None or \
            (cfg.get('auto_scale_lr') or {}).get('enable', False):  # the runner rescales the LR
        return
    accumulation = (cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1)
    actual = runner.world_size * cfg.train_dataloader.batch_size * accumulation
    if actual != expected:
        runner.logger.warning(
            f'{cfg.filename or "config"}: the learning rate was set for a total batch of {expected} '
            f'clips per optimizer step, but this launch has {actual} ({runner.world_size} '
            f'processes x {cfg.train_dataloader.batch_size} x {accumulation} accumulation). '
            'Adjust optim_wrapper.accumulative_counts or the LR.')



if __name__ == '__main__':
    main()
