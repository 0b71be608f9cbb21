"""Validation / test loops for datasets whose one sample yields many predictions.

mmengine's ``ValLoop`` / ``TestLoop`` call ``evaluator.evaluate(len(dataset))`` and the metrics
keep only the first ``size`` collected results (``collect_results``): right when a sample is one
prediction, wrong when a sample is a whole video that the model predicts frame by frame (the
temporal stage of the two-stage paradigm, :class:`~surgvista_mm.datasets.FeatureSequenceDataset`)
— all but ``len(dataset)`` frames would be dropped silently. These loops count the predictions
every rank made and pass their total instead; the metrics then de-duplicate the videos a
distributed sampler repeats, by ``(video_id, frame_index)``. Both take ``amp`` like
``SurgVista{Val,Test}Loop`` (``engine/amp_loops.py``, ``tools/test.py --amp``).
"""
from __future__ import annotations

from typing import Dict

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.loops import _parse_losses

from surgvista_mm.registry import LOOPS
from .amp_loops import AmpEvalMixin

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


class _PerFrameEvaluation(AmpEvalMixin):
    """What both loops change: the evaluated size is the number of predictions made."""

    _stage = ''
    num_predictions = 0

    def _losses(self) -> Dict:
        return getattr(self, f'{self._stage}_loss')

    def run(self) -> dict:
        return _run(self, self._stage, self._losses())

    def _count_outputs(self, outputs: list) -> None:
        self.num_predictions += len(outputs)


@LOOPS.register_module()
class SequenceValLoop(_PerFrameEvaluation, ValLoop):
    """``ValLoop`` (``amp`` in place of ``fp16``) evaluating every per-frame prediction of every
    sample."""

    _stage = 'val'


@LOOPS.register_module()
class SequenceTestLoop(_PerFrameEvaluation, TestLoop):
    """``TestLoop`` (``amp`` in place of ``fp16``) evaluating every per-frame prediction of every
    sample."""

    _stage = 'test'
