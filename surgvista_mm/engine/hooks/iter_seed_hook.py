"""Seed the random generators of every training iteration from (seed, iteration).

Why: a resumed run must draw the same random numbers as an uninterrupted one. The data side is
already seeded per sample from ``(seed, epoch, index)`` (``base_clip_dataset.sample_rng``), but
the training step draws from the process-wide generators: dropout, drop-path and attention
dropout (torch, on the model's device), mixup/cutmix's choice (``numpy.random``), its
``Beta`` draw, permutation and cutmix box (torch, CPU). Their state at the start of epoch ``k``
of an uninterrupted run depends on everything drawn before (training iterations, data loader
iterators, validation), which a process that resumed at epoch ``k`` never drew. Re-seeding them
at every iteration from ``(seed, iteration)`` makes each iteration's draws independent of the
history, so kill -9 + resume ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import random
from typing import Any, Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from surgvista_mm.registry import HOOKS


def iteration_seed(seed: int, iteration: int) -> int:
    """A 63-bit seed for ``iteration`` of a run seeded with ``seed`` (numpy ``SeedSequence``:
    well mixed, so neighbouring iterations and seeds do not give correlated streams)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(iteration)]).generate_state(
        2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & 0x7FFFFFFFFFFFFFFF


@HOOKS.register_module()
class SurgVistaIterSeedHook(Hook):
    """Before each training iteration, seed ``random``, ``numpy.random`` and torch (CPU and every
    CUDA device) from ``(runner.seed, runner.iter)``.

    ``runner.seed`` is ``randomness.seed`` (plus the rank when ``randomness.diff_rank_seed``;
    a resumed run takes the checkpoint's seed when the config sets none), so ranks keep mmengine's
    behaviour. Seeding is a host-side operation: no device synchronisation.
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner: Any, batch_idx: int,
                          data_batch: Optional[Any] = None) -> None:
        seed = iteration_seed(runner.seed, runner.iter)
        random.seed(seed)
        np.random.seed(seed & 0xFFFFFFFF)
        torch.manual_seed(seed)  # also seeds every CUDA device
