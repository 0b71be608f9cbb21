"""Validation / test loops for datasets whose one sample yields many predictions.

mmengine's ``ValLoop`` / ``TestLoop`` call ``evaluator.evaluate(len(dataset))`` and the metrics
keep only the first ``size`` collected results (``collect_results``): right when a sample is one
prediction, wrong when a sample is a whole video that the model predicts frame by frame (the
temporal stage of the two-stage paradigm, :class:`~surgvista_mm.datasets.FeatureSequenceDataset`)
— all but ``len(dataset)`` frames would be dropped silently. These loops count the predictions
every rank made and pass their total instead; the metrics then de-duplicate the videos a
distributed sampler repeats, by ``(video_id, frame_index)``.
"""
from __future__ import annotations

from typing import Dict

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from mmengine.runner.loops import _parse_losses, _update_losses

from surgvista_mm.registry import LOOPS

__all__ = ['SequenceValLoop', 'SequenceTestLoop']


def _total_predictions(local: int) -> int:
    """Number of predictions made on all ranks."""
    if get_world_size() == 1:
        return local
    count = torch.tensor([local], dtype=torch.int64)
    all_reduce(count)  # gloo and nccl (mmengine moves it to the backend's device)
    return int(count.item())


def _run(loop, stage: str, losses: Dict) -> dict:  # noqa: ANN001
    """The body of mmengine's ``run`` with the evaluated size = predictions made."""
    loop.runner.call_hook(f'before_{stage}')
    loop.runner.call_hook(f'before_{stage}_epoch')
    loop.runner.model.eval()
    losses.clear()
    loop.num_predictions = 0
    for idx, data_batch in enumerate(loop.dataloader):
        loop.run_iter(idx, data_batch)
    metrics = loop.evaluator.evaluate(_total_predictions(loop.num_predictions))
    if losses:
        metrics.update(_parse_losses(losses, stage))
    loop.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
    loop.runner.call_hook(f'after_{stage}')
    return metrics


def _run_iter(loop, stage: str, idx: int, data_batch, losses: Dict) -> Dict:  # noqa: ANN001
    """mmengine's ``run_iter`` that also counts the predictions (data samples) made."""
    loop.runner.call_hook(f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
    with autocast(enabled=loop.fp16):
        step = loop.runner.model.val_step if stage == 'val' else loop.runner.model.test_step
        outputs = step(data_batch)
    outputs, losses = _update_losses(outputs, losses)
    loop.num_predictions += len(outputs)
    loop.evaluator.process(data_samples=outputs, data_batch=data_batch)
    loop.runner.call_hook(f'after_{stage}_iter', batch_idx=idx, data_batch=data_batch,
                          outputs=outputs)
    return losses


class _PerFrameEvaluation:
    """What both loops change: the evaluated size is the number of predictions made."""

    _stage = ''
    num_predictions = 0

    def _losses(self) -> Dict:
        return getattr(self, f'{self._stage}_loss')

    def run(self) -> dict:
        return _run(self, self._stage, self._losses())

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch) -> None:  # noqa: ANN001
        setattr(self, f'{self._stage}_loss',
                _run_iter(self, self._stage, idx, data_batch, self._losses()))


@LOOPS.register_module()
class SequenceValLoop(_PerFrameEvaluation, ValLoop):
    """``ValLoop`` (same arguments) evaluating every per-frame prediction of every sample."""

    _stage = 'val'


@LOOPS.register_module()
class SequenceTestLoop(_PerFrameEvaluation, TestLoop):
    """``TestLoop`` (same arguments) evaluating every per-frame prediction of every sample."""

    _stage = 'test'
