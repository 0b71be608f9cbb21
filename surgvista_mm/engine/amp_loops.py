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


class AmpEvalMixin:
    """``run_iter`` of mmengine's ``ValLoop`` / ``TestLoop`` under :func:`inference_precision`
    (autocast ``amp`` on the model's device, TF32 on CUDA), with float32 outputs for the
    evaluator. Goes before the loop class in the bases; the loop takes mmengine's arguments with
    ``amp`` (``'none'``, ``'bf16'``, ``'fp16'``) in place of ``fp16``. Used by
    :class:`SurgVistaValLoop` / :class:`SurgVistaTestLoop` and the per-frame
    ``SequenceValLoop`` / ``SequenceTestLoop`` (``engine/loops.py``)."""

    amp: str
    _stage: str

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],  # noqa: ANN001
                 evaluator: Union[Evaluator, Dict, List], amp: str = 'none') -> None:
        super().__init__(runner, dataloader, evaluator, fp16=False)
        amp_dtype(amp)  # raises on an unknown name
        self.amp = amp or 'none'

    def _count_outputs(self, outputs: list) -> None:
        """Called with each batch's outputs before the evaluator sees them (nothing here)."""

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """One batch: ``{val,test}_step`` under the precision context, then the evaluator."""
        runner = self.runner
        runner.call_hook(f'before_{self._stage}_iter', batch_idx=idx, data_batch=data_batch)
        with inference_precision(_model_device(runner.model), self.amp):
            outputs = getattr(runner.model, f'{self._stage}_step')(data_batch)
        outputs = float32_outputs(outputs)
        losses = self.val_loss if self._stage == 'val' else self.test_loss
        outputs, losses = _update_losses(outputs, losses)  # updates ``losses`` in place
        self._count_outputs(outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        runner.call_hook(f'after_{self._stage}_iter', batch_idx=idx, data_batch=data_batch,
                         outputs=outputs)


@LOOPS.register_module()
class SurgVistaValLoop(AmpEvalMixin, ValLoop):
    """mmengine's ``ValLoop`` with ``amp`` = ``'none'`` (float32; TF32 on CUDA), ``'bf16'`` or
    ``'fp16'`` (autocast on the model's device, on CPU too). See ``utils.precision``."""

    _stage = 'val'


@LOOPS.register_module()
class SurgVistaTestLoop(AmpEvalMixin, TestLoop):
    """mmengine's ``TestLoop`` with ``amp`` as :class:`SurgVistaValLoop`."""

    _stage = 'test'


#: loop types ``set_eval_amp`` accepts per stage, and what it makes of each
AMP_LOOPS = {stage: {None: f'SurgVista{stage.capitalize()}Loop',
                     f'{stage.capitalize()}Loop': f'SurgVista{stage.capitalize()}Loop',
                     f'SurgVista{stage.capitalize()}Loop': f'SurgVista{stage.capitalize()}Loop',
                     f'Sequence{stage.capitalize()}Loop': f'Sequence{stage.capitalize()}Loop'}
             for stage in ('val', 'test')}


def set_eval_amp(cfg: Any, amp: Optional[str], stages: Sequence[str] = ('test',)) -> None:
    """Give ``cfg``'s ``{stage}_cfg`` loops ``amp`` (None: leave the config as it is):
    ``{Val,Test}Loop`` become ``SurgVista{Val,Test}Loop``; ``SurgVista*Loop`` and the per-frame
    ``Sequence{Val,Test}Loop`` keep their type. Loops of other types are refused (their options
    would be lost)."""
    if amp is None:
        return
    try:
        amp_dtype(amp)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for stage in stages:
        key = f'{stage}_cfg'
        loop = dict(cfg.get(key) or {})
        accepted = AMP_LOOPS[stage]
        if loop.get('type') not in accepted:
            raise ConfigError(f'{key}.type is {loop["type"]!r}: --amp needs one of '
                              f'{sorted(set(accepted.values()))}')
        loop.pop('fp16', None)
        loop.update(type=accepted[loop.get('type')], amp=amp)
        cfg[key] = loop
