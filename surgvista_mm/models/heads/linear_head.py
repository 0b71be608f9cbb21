"""A plain linear classification head over pooled features ``[B, D]`` (the frame-level stage
of the two-stage paradigm, docs/twostage.md)."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from surgvista_mm.registry import MODELS
from .cls_head import SurgVistaClsHead


@MODELS.register_module()
class SurgVistaLinearHead(SurgVistaClsHead):
    """Dropout and one Linear layer on already pooled features ``[B, D]`` (no ``fc_norm``).

    Losses (softmax cross-entropy with optional label smoothing, soft labels after mixup /
    cutmix; or BCE when ``multi_label``), clip averaging and ``predict`` are
    :class:`SurgVistaClsHead`'s. Use it after a backbone that returns pooled features, e.g.
    :class:`~surgvista_mm.models.backbones.TimmImageEncoder`.

    Args:
        num_classes, in_channels, multi_label, label_smooth_eps, dropout_ratio, average_clips,
        loss_weight, init_cfg: see :class:`SurgVistaClsHead`.
        init_std: the Linear weight starts trunc-normal with this std (bias zero).
    """

    required_out_type = 'pooled'

    def __init__(self, num_classes: int, in_channels: int, multi_label: bool = False,
                 label_smooth_eps: float = 0.0, dropout_ratio: float = 0.0,
                 init_std: float = 0.01, average_clips: str = 'prob', loss_weight: float = 1.0,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(num_classes, in_channels, multi_label, label_smooth_eps, dropout_ratio,
                         1.0, 1e-6, average_clips, loss_weight, init_cfg)
        self.fc_norm = nn.Identity()
        nn.init.trunc_normal_(self.head.weight, std=init_std)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, D]`` unchanged (a ``[B, D, 1...]`` map is flattened)."""
        if x.dim() > 2 and all(s == 1 for s in x.shape[2:]):
            x = x.flatten(1)
        if x.dim() != 2:
            raise ValueError(f'SurgVistaLinearHead needs pooled features [B, D], got shape '
                             f'{tuple(x.shape)}')
        return x
