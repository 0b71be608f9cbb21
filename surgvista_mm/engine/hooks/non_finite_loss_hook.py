"""Stop training on a non-finite loss, keeping the last good checkpoint."""
from __future__ import annotations

import glob
import os
from typing import Any, Optional

import torch
from mmengine.hooks import Hook

from surgvista_mm.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss became NaN or infinite."""


@HOOKS.register_module()
class SurgVistaNonFiniteLossHook(Hook):
    """Detect a NaN/Inf training loss and stop the run with a clear message.

    The finiteness flag is accumulated on the loss's device and read on the host every
    ``check_interval`` iterations, so a bad value is caught within ``check_interval`` iterations
    of its appearance. (mmengine's ``RuntimeInfoHook`` already reads every logged value each
    iteration, so with the default hooks this adds no synchronisation of its own.) Raising inside the train loop
    stops the run before the ``CheckpointHook`` of the current epoch runs, so the last checkpoint
    on disk is the last good one; it is named in the message so the run can be resumed from it
    (e.g. with a lower learning rate).

    Args:
        check_interval: iterations between host-side checks (>= 1).
        key: the entry of the train step's outputs to check (mmengine's summed ``'loss'``).
    """

    priority = 'HIGH'  # run before logging and checkpointing hooks

    def __init__(self, check_interval: int = 1, key: str = 'loss') -> None:
        if int(check_interval) < 1:
            raise ValueError(f'check_interval must be >= 1, got {check_interval}')
        self.check_interval = int(check_interval)
        self.key = key
        self._all_finite: Optional[torch.Tensor] = None

    def before_train(self, runner: Any) -> None:
        self._all_finite = None

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or self.key not in outputs:
            return
        value = outputs[self.key]
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        finite = torch.isfinite(value.detach()).all()
        self._all_finite = finite if self._all_finite is None else self._all_finite & finite
        if (runner.iter + 1) % self.check_interval == 0:
            self._check(runner)

    def after_train_epoch(self, runner: Any) -> None:
        # Make sure an epoch never ends (and gets checkpointed) with an unchecked bad value.
        self._check(runner)

    def _check(self, runner: Any) -> None:
        if self._all_finite is None:
            return
        ok = bool(self._all_finite.item())
        self._all_finite = None
        if ok:
            return
        ckpts = sorted(glob.glob(os.path.join(runner.work_dir, '*.pth')), key=os.path.getmtime)
        last = ckpts[-1] if ckpts else 'none saved yet'
        raise NonFiniteLossError(
            f'non-finite training loss ({self.key!r}) detected at or before iteration '
            f'{runner.iter + 1} (epoch {runner.epoch + 1}); training stopped. The last good '
            f'checkpoint is kept: {last}. Resume from it with a lower learning rate, bf16 autocast '
            f'or a smaller initial loss scale.')
