"""The linear LR scaling rule (``auto_scale_lr``) of every surgvista_mm runner and strategy.

A config's LR is written for ``auto_scale_lr.base_batch_size`` clips per optimizer step. A launch
trains with ``world_size x train_dataloader.batch_size x optim_wrapper.accumulative_counts``
clips per optimizer step (:func:`clips_per_step`) and multiplies every parameter group's LR by
the ratio (:func:`apply_auto_scale_lr`). mmengine's two rules leave accumulation out
(``Runner.scale_lr`` and ``BaseStrategy._scale_lr``); ``SurgVistaRunner.scale_lr`` and
``SurgVistaFSDPStrategy._scale_lr`` both call this one, so the same config gets the same LR from
both runners. :func:`lr_scaling_record` is the effective LR recorded in every checkpoint
(``meta['run_config']['auto_scale_lr']``), so a resume at another total batch is noticed
(``engine/resume_checks.py``).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple


def clips_per_step(world_size: int, batch_size: int, accumulation: int) -> int:
    """Clips per optimizer step: ``world_size x batch_size x accumulation``."""
    return int(world_size) * int(batch_size) * int(accumulation)


def config_batch_and_accumulation(cfg: Any) -> Tuple[int, int]:
    """A config's ``train_dataloader.batch_size`` (0 without training) and
    ``optim_wrapper.accumulative_counts`` (1 when unset)."""
    loader = cfg.get('train_dataloader') or {}
    accumulation = (cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1)
    return loader.get('batch_size') or 0, accumulation


def config_clips_per_step(cfg: Any, world_size: int) -> int:
    """:func:`clips_per_step` of a config at ``world_size`` processes (0 without training)."""
    return clips_per_step(world_size, *config_batch_and_accumulation(cfg))


def lr_scale_factor(auto_scale_lr: Optional[dict], clips: int) -> Optional[float]:
    """``clips / auto_scale_lr.base_batch_size``; None when ``auto_scale_lr`` is not enabled.

    Raises:
        ValueError: ``base_batch_size`` is not a positive number.
    """
    if not auto_scale_lr or not auto_scale_lr.get('enable', False):
        return None
    base = auto_scale_lr.get('base_batch_size')
    if not isinstance(base, (int, float)) or isinstance(base, bool) or base <= 0:
        raise ValueError(f'auto_scale_lr.base_batch_size must be a positive number, got '
                         f'{base!r}')
    return clips / float(base)


def apply_auto_scale_lr(optim_wrapper: Any, auto_scale_lr: Optional[dict], world_size: int,
                        batch_size: int, accumulation: int, logger: Any) -> None:
    """Multiply the LR of every parameter group of ``optim_wrapper`` (an optim wrapper, or a
    dict of them) by :func:`lr_scale_factor`; nothing when ``auto_scale_lr`` is not enabled.
    Call it once, before the LR schedulers are built (they store the initial LR)."""
    clips = clips_per_step(world_size, batch_size, accumulation)
    factor = lr_scale_factor(auto_scale_lr, clips)
    if factor is None:
        return
    wrappers = list(optim_wrapper.values()) if hasattr(optim_wrapper, 'values') \
        else [optim_wrapper]
    for wrapper in wrappers:
        for group in wrapper.param_groups:
            group['lr'] = group['lr'] * factor
    logger.info(f'auto_scale_lr: the LR was set for {auto_scale_lr["base_batch_size"]:g} clips '
                f'per optimizer step; this launch has {clips} ({world_size} processes x batch '
                f'{batch_size} x accumulation {accumulation}), LR scaled by {factor:g}')


def lr_scaling_record(cfg: Any, world_size: int) -> Optional[dict]:
    """What ``auto_scale_lr`` makes of ``cfg``'s LR at ``world_size`` processes: clips per
    optimizer step, the factor and the scaled ``optim_wrapper.optimizer.lr`` (None when it is not
    enabled)."""
    clips = config_clips_per_step(cfg, world_size)
    factor = lr_scale_factor(cfg.get('auto_scale_lr'), clips)
    if factor is None:
        return None
    lr = ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')
    return {'clips_per_step': clips, 'factor': factor,
            'scaled_lr': lr * factor if isinstance(lr, (int, float)) else None}
