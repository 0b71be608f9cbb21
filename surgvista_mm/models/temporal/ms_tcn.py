"""Causal multi-stage temporal convolutional network (MS-TCN, Farha & Gall, CVPR 2019; the
causal variant TeCNO uses for online phase recognition), the temporal stage of the two-stage
paradigm (docs/twostage.md). Written from the paper's description and equations.

* A **stage** is a 1x1 convolution (input -> ``num_f_maps``), ``num_layers`` dilated residual
  layers (dilation ``2**l``) and a 1x1 convolution to ``num_classes`` logits. A **dilated
  residual layer** is, in the paper's order: dilated convolution (kernel 3), ReLU, 1x1
  convolution, dropout, residual addition.
* **Causal**: the dilated convolution sees frames ``t - 2d, t - d, t`` only: the sequence is
  padded by ``2d`` on the left and not at all on the right, so the output at ``t`` never depends
  on frames after ``t`` (online recognition).
* **Stages** after the first take the softmax of the previous stage's logits as input.
* **Loss** per stage (summed over stages): cross-entropy over the labelled frames plus
  ``lambda`` times the truncated mean squared error over the frame-to-frame change of the
  log-probabilities, ``Delta_{t,c} = |log y_{t,c} - log y_{t-1,c}|``,
  ``L_T-MSE = 1 / (T C) sum_{t,c} min(Delta_{t,c}, tau)^2`` (``tau = 4``, ``lambda = 0.15``).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from surgvista_mm.registry import MODELS

__all__ = ['CausalDilatedResidualLayer', 'CausalTCNStage', 'CausalMSTCN', 'truncated_mse']


class CausalDilatedResidualLayer(nn.Module):
    """``x + dropout(conv1x1(ReLU(causal_dilated_conv3(x))))`` on ``[B, C, T]``."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv_dilated = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv_dilated(F.pad(x, (2 * self.dilation, 0))))  # left padding only
        return x + self.dropout(self.conv_1x1(out))


class CausalTCNStage(nn.Module):
    """1x1 conv in, ``num_layers`` causal dilated residual layers (dilation 1, 2, 4, ...), 1x1
    conv out: ``[B, in_channels, T]`` -> logits ``[B, num_classes, T]``."""

    def __init__(self, in_channels: int, num_f_maps: int, num_layers: int, num_classes: int,
                 dropout: float) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(in_channels, num_f_maps, 1)
        self.layers = nn.ModuleList(CausalDilatedResidualLayer(num_f_maps, 2 ** i, dropout)
                                    for i in range(num_layers))
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for layer in self.layers:
            x = layer(x)
        return self.conv_out(x)


def truncated_mse(logits: torch.Tensor, tau: float) -> torch.Tensor:
    """MS-TCN's smoothing loss of logits ``[B, C, T]``: mean over ``t >= 1`` and ``c`` of
    ``min(|log_softmax_t - log_softmax_{t-1}|, tau)^2`` (0 for a one-frame sequence)."""
    if logits.shape[-1] < 2:
        return logits.sum() * 0
    logp = F.log_softmax(logits, dim=1)
    delta = (logp[..., 1:] - logp[..., :-1]).abs().clamp(max=tau)
    return (delta ** 2).mean()


@MODELS.register_module()
class CausalMSTCN(BaseModel):
    """Causal MS-TCN over per-frame feature sequences, one video per sample.

    Inputs (from :class:`~surgvista_mm.datasets.FeatureSequenceDataset`): ``inputs`` a list of
    float features ``[T_i, D]`` (one per video) and ``data_samples`` a list of
    ``BaseDataElement`` with ``gt_labels`` (int64 ``[T_i]``, -1 for unlabelled frames) and
    metainfo ``video_id`` and ``frame_indices`` (``[T_i]``). Videos of a batch are run one by
    one (their lengths differ), so batch size 1 is the usual setting.

    ``predict`` returns one ``ActionDataSample`` **per labelled frame** (metainfo ``video_id``,
    ``frame_index``; ``gt_label`` ``[1]``; ``pred_score`` = last stage softmax ``[C]``;
    ``pred_label``): the samples ``SurgicalPhaseMetric`` and ``tools/test.py --out-dir`` read
    from the end-to-end models (evaluate with ``SequenceValLoop`` / ``SequenceTestLoop``).

    Args:
        in_channels: feature width ``D``.
        num_classes: number of phases.
        num_stages: number of stages (2 in TeCNO's settings).
        num_layers: dilated residual layers per stage.
        num_f_maps: feature maps (channels) of every layer.
        dropout: dropout in each residual layer.
        smooth_weight: ``lambda`` of the truncated-MSE loss (0.15).
        smooth_tau: ``tau``, truncation of the log-probability change (4).
        data_preprocessor: mmengine data preprocessor config (default: move to the device).
        init_cfg: mmengine init config (default: PyTorch's initialisation).
    """

    def __init__(self, in_channels: int, num_classes: int, num_stages: int = 2,
                 num_layers: int = 8, num_f_maps: int = 32, dropout: float = 0.5,
                 smooth_weight: float = 0.15, smooth_tau: float = 4.0,
                 data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        for name, value in dict(in_channels=in_channels, num_classes=num_classes,
                                num_stages=num_stages, num_layers=num_layers,
                                num_f_maps=num_f_maps).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'CausalMSTCN: {name} must be a positive int, got {value!r}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.smooth_weight = float(smooth_weight)
        self.smooth_tau = float(smooth_tau)
        self.stages = nn.ModuleList(
            CausalTCNStage(in_channels if s == 0 else num_classes, num_f_maps, num_layers,
                           num_classes, dropout) for s in range(num_stages))

    @property
    def receptive_field(self) -> int:
        """Frames (seconds at 1 fps) one stage sees: ``1 + 2 * (2**num_layers - 1)``."""
        return 1 + 2 * (2 ** len(self.stages[0].layers) - 1)

    def stage_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of every stage ``[S, B, C, T]`` from features ``[B, T, D]``."""
        if features.dim() != 3 or features.shape[-1] != self.in_channels:
            raise ValueError(f'CausalMSTCN expects features [B, T, {self.in_channels}], got '
                             f'{tuple(features.shape)}')
        x = features.transpose(1, 2)
        outputs = []
        for stage in self.stages:
            x = stage(x if not outputs else F.softmax(outputs[-1], dim=1))
            outputs.append(x)
        return torch.stack(outputs)

    def _sequences(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
                   ) -> List[torch.Tensor]:
        if isinstance(inputs, torch.Tensor):
            return [inputs] if inputs.dim() == 2 else list(inputs)
        return list(inputs)

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], list, torch.Tensor]:
        """``mode='loss'``: the loss dict; ``'predict'``: per-frame data samples;
        ``'tensor'``: the stage logits ``[S, 1, C, T]`` of a single video."""
        videos = self._sequences(inputs)
        if mode == 'tensor':
            if len(videos) != 1:
                raise ValueError("mode='tensor' takes one video")
            return self.stage_logits(videos[0].float()[None])
        if data_samples is None or len(data_samples) != len(videos):
            raise ValueError(f'CausalMSTCN: {len(videos)} feature sequences need as many data '
                             'samples')
        if mode == 'loss':
            return self.loss(videos, data_samples)
        if mode == 'predict':
            return self.predict(videos, data_samples)
        raise ValueError(f'CausalMSTCN: unknown mode {mode!r}')

    def loss(self, videos: List[torch.Tensor], data_samples: List[BaseDataElement]
             ) -> Dict[str, torch.Tensor]:
        """Cross-entropy (labelled frames) and ``smooth_weight`` x truncated MSE, summed over
        stages and averaged over the videos."""
        loss_cls = videos[0].new_zeros((), dtype=torch.float32)
        loss_smooth = videos[0].new_zeros((), dtype=torch.float32)
        for features, sample in zip(videos, data_samples):
            labels = sample.gt_labels.long()
            if labels.shape[0] != features.shape[0]:
                raise ValueError(f'video {sample.video_id}: {features.shape[0]} feature rows, '
                                 f'{labels.shape[0]} labels')
            logits = self.stage_logits(features.float()[None])  # [S, 1, C, T]
            for stage in logits:
                loss_cls = loss_cls + F.cross_entropy(stage, labels[None], ignore_index=-1)
                loss_smooth = loss_smooth + truncated_mse(stage, self.smooth_tau)
        n = len(videos)
        return dict(loss_cls=loss_cls / n, loss_smooth=self.smooth_weight * loss_smooth / n)

    @torch.no_grad()
    def predict(self, videos: List[torch.Tensor], data_samples: List[BaseDataElement]
                ) -> List:
        """One ``ActionDataSample`` per labelled frame (see the class docstring)."""
        from mmaction.structures import ActionDataSample
        out = []
        for features, sample in zip(videos, data_samples):
            probs = F.softmax(self.stage_logits(features.float()[None])[-1, 0], dim=0)
            probs = probs.t().cpu()  # [T, C]: one transfer per video
            labels = sample.gt_labels.cpu()
            frames = sample.frame_indices.tolist()
            for t in torch.nonzero(labels >= 0).flatten().tolist():
                frame = ActionDataSample()
                frame.set_metainfo(dict(video_id=sample.video_id, frame_index=int(frames[t])))
                frame.set_gt_label(labels[t:t + 1])
                frame.set_pred_score(probs[t])
                frame.set_pred_label(probs[t].argmax(dim=0, keepdim=True))
                out.append(frame)
        return out
