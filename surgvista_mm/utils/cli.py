"""Shared pieces of ``tools/train.py`` and ``tools/test.py``: launcher arguments, config loading,
runner construction."""
from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import Any, Tuple

from mmengine.config import Config

from surgvista_mm.compat import patch_runner_cfg_for_device
from .config_check import CfgOptionsAction, check_config, load_config


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and torchrun's ``--local-rank``."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. model.teacher.checkpoint=x.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an argument."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_runner_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options``, the launcher and the work dir applied."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config, config_path: str, launcher: str) -> Tuple[Any, str]:
    """Check the config, adapt it to this machine (compat) and build the runner.

    Returns:
        ``(runner, note)``; the runner has logged the note and its world size.
    """
    check_config(cfg, config_path)
    note = patch_runner_cfg_for_device(cfg, launcher)
    from surgvista_mm.engine.runner import RUNNERS, SurgVistaRunner
    runner = RUNNERS.build(cfg) if cfg.get('runner_type') else SurgVistaRunner.from_cfg(cfg)
    if note:
        runner.logger.info(note)
    runner.logger.info(f'world size: {runner.world_size} (rank {runner.rank})')
    return runner, note or ''


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every rank, then destroy the process group.

    The main process writes results (checkpoints, ``--out-dir`` files, plots) after the last
    collective while the other ranks would already exit; a rank leaving while the group still has
    live gloo/NCCL threads can abort at interpreter shutdown (``terminate called without an active
    exception``), and torch asks for ``destroy_process_group()`` before exit. No-op without a
    process group.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
