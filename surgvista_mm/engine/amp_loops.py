"""Validation / test loops with a choice of evaluation precision (``amp``)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.loops import _update_losses
from torch.utils.data import DataLoader

from surgvista_mm.registry import LOOPS
from surgvista_mm.utils.config_check import ConfigError
from surgvista_mm.utils.precision import amp_dtype, float32_outputs, inference_precision


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


class _AmpIterMixin:
    """``run_iter`` of mmengine's loops under :func:`inference_precision` (autocast ``amp`` on
    the model's device, TF32 on CUDA), with float32 outputs for the evaluator."""

    amp: str
    _stage: str

    def _init_amp(self, amp: Optional[str]) -> None:
        amp_dtype(amp)  # raises on an unknown name
        self.amp = amp or 'none'

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """One batch: ``{val,test}_step`` under the precision context, then the evaluator."""
        runner = self.runner
        runner.call_hook(f'before_{self._stage}_iter', batch_idx=idx, data_batch=data_batch)
        with inference_precision(_model_device(runner.model), self.amp):
            outputs = getattr(runner.model, f'{self._stage}_step')(data_batch)
        outputs = float32_outputs(outputs)
        losses = self.val_loss if self._stage == 'val' else self.test_loss
        outputs, losses = _update_losses(outputs, losses)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        runner.call_hook(f'after_{self._stage}_iter', batch_idx=idx, data_batch=data_batch,
                         outputs=outputs)


@LOOPS.register_module()
class SurgVistaValLoop(_AmpIterMixin, ValLoop):
    """mmengine's ``ValLoop`` with ``amp`` = ``'none'`` (float32; TF32 on CUDA), ``'bf16'`` or
    ``'fp16'`` (autocast on the model's device, on CPU too). See ``utils.precision``."""

    _stage = 'val'

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],  # noqa: ANN001
                 evaluator: Union[Evaluator, Dict, List], amp: str = 'none') -> None:
        super().__init__(runner, dataloader, evaluator, fp16=False)
        self._init_amp(amp)


@LOOPS.register_module()
class SurgVistaTestLoop(_AmpIterMixin, TestLoop):
    """mmengine's ``TestLoop`` with ``amp`` as :class:`SurgVistaValLoop`."""

    _stage = 'test'

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],  # noqa: ANN001
                 evaluator: Union[Evaluator, Dict, List], amp: str = 'none') -> None:
        super().__init__(runner, dataloader, evaluator, fp16=False)
        self._init_amp(amp)


def set_eval_amp(cfg: Any, amp: Optional[str], stages: Sequence[str] = ('test',)) -> None:
    """Make ``cfg``'s ``{stage}_cfg`` loops ``SurgVista{Val,Test}Loop`` with ``amp`` (None: leave
    the config as it is). Loops of other types are refused (their options would be lost)."""
    if amp is None:
        return
    try:
        amp_dtype(amp)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for stage in stages:
        key = f'{stage}_cfg'
        loop = dict(cfg.get(key) or {})
        ours = f'SurgVista{stage.capitalize()}Loop'
        if loop.get('type') not in (None, f'{stage.capitalize()}Loop', ours):
            raise ConfigError(f'{key}.type is {loop["type"]!r}: --amp needs {ours}')
        loop.pop('fp16', None)
        loop.update(type=ours, amp=amp)
        cfg[key] = loop
