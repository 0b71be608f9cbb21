"""Fine-tuning head: mean pooling, ``fc_norm``, dropout, Linear ``head`` (cls_head of
mmaction2's ``Recognizer3D``)."""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from surgvista_mm.registry import MODELS
from ..utils.linear import Linear


@MODELS.register_module()
class SurgVistaClsHead(BaseModule):
    """Classification head for single-label (softmax CE) or multi-label (BCE) tasks.

    Needs the tokens of a backbone with ``out_type='tokens'`` (``[B, N, D]``, the default of
    :class:`~surgvista_mm.models.SurgVistaViT`): it pools and normalises them itself. The outputs
    of ``out_type='pooled'`` / ``'featmap'`` are refused with a message naming the out_type
    (use mmaction2's ``TimeSformerHead`` / ``I3DHead`` with those, see docs/reuse.md).

    Scores of several clips of one sample (``num_segs`` > 1) are averaged: logits in ``loss``,
    and per ``average_clips`` in ``predict``. No accuracy is computed here (no host sync).

    Args:
        num_classes: number of classes.
        in_channels: backbone width.
        multi_label: BCE-with-logits on multi-hot ``gt_label`` and sigmoid scores (triplets,
            CVS); otherwise softmax cross-entropy on class indices or soft labels (mixup/cutmix).
        label_smooth_eps: label smoothing of the single-label target.
        dropout_ratio: dropout before the Linear layer.
        init_scale: the Linear layer is trunc-normal(std .02) times this (0.0: exactly zero,
            as in SurgVISTA; VideoMAE uses 0.001); the bias starts at zero.
        norm_eps: epsilon of ``fc_norm``.
        average_clips: ``'prob'`` (average probabilities) or ``'score'`` (average logits).
        loss_weight: factor of ``loss_cls``.
        init_cfg: mmengine init config.
    """

    def __init__(self, num_classes: int, in_channels: int = 768, multi_label: bool = False,
                 label_smooth_eps: float = 0.0, dropout_ratio: float = 0.5,
                 init_scale: float = 0.0, norm_eps: float = 1e-6, average_clips: str = 'prob',
                 loss_weight: float = 1.0, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if average_clips not in ('prob', 'score'):
            raise ValueError(f"average_clips must be 'prob' or 'score', got {average_clips!r}")
        if multi_label and label_smooth_eps:
            raise ValueError('label_smooth_eps is only defined for single-label heads')
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.label_smooth_eps = label_smooth_eps
        self.average_clips = average_clips
        self.loss_weight = loss_weight
        self.fc_norm = nn.LayerNorm(in_channels, eps=norm_eps)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.head = Linear(in_channels, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        with torch.no_grad():
            self.head.weight.mul_(init_scale)
        nn.init.zeros_(self.head.bias)

    #: the backbone ``out_type`` whose output this head reads
    required_out_type = 'tokens'

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, D]`` tokens -> ``[B, D]`` mean-pooled, ``fc_norm``'ed features."""
        if x.dim() != 3:
            got = {2: " (the output of out_type='pooled')",
                   5: " (the output of out_type='featmap')"}.get(x.dim(), '')
            raise ValueError(f"SurgVistaClsHead needs the backbone's out_type='tokens' output "
                             f'[B, N, D], got shape {tuple(x.shape)}{got}; set the backbone\'s '
                             "out_type='tokens', or use an mmaction2 head for that out_type "
                             '(docs/reuse.md)')
        return self.fc_norm(x.mean(dim=1))

    def forward(self, x: torch.Tensor, loss_aux: Optional[Dict] = None,
                fcn_test: bool = False) -> torch.Tensor:
        """Logits ``[B, num_classes]`` from tokens ``[B, N, D]``.

        ``loss_aux`` (handled by the recognizer) is accepted and not used; ``fcn_test`` is not
        supported.
        """
        if fcn_test:
            raise ValueError('SurgVistaClsHead does not support fcn_test')
        return self.head(self.dropout(self.pool(x)))

    def _average(self, logits: torch.Tensor, batch: int) -> torch.Tensor:
        """Average logits ``[B * num_segs, C]`` over segments -> ``[B, C]``."""
        if logits.shape[0] % batch:
            raise ValueError(f'{logits.shape[0]} score rows for {batch} samples')
        return logits.view(batch, -1, logits.shape[-1]).mean(dim=1)

    def _labels(self, data_samples: List, device: torch.device) -> torch.Tensor:
        labels = torch.stack([sample.gt_label for sample in data_samples]).to(device)
        if self.multi_label or labels.dim() == 2 and labels.shape[1] == self.num_classes:
            if labels.shape[-1] != self.num_classes:
                raise ValueError(f'multi-label gt_label must have {self.num_classes} entries, '
                                 f'got shape {tuple(labels.shape)}')
            return labels.float()  # multi-hot or soft labels [B, C]
        return labels.view(-1).long()  # class indices [B]

    def loss(self, feats: torch.Tensor, data_samples: List, loss_aux: Optional[Dict] = None
             ) -> Dict[str, torch.Tensor]:
        """Loss of a batch.

        Args:
            feats: backbone tokens ``[B * num_segs, N, D]``.
            data_samples: ``ActionDataSample`` list with ``gt_label`` (index ``[1]``,
                soft label ``[C]`` after blending, or multi-hot ``[C]``).
            loss_aux: auxiliary losses of the recognizer's neck (merged by the recognizer).

        Returns:
            ``{'loss_cls': tensor}``.
        """
        logits = self._average(self(feats).float(), len(data_samples))
        labels = self._labels(data_samples, logits.device)
        if self.multi_label:
            loss = F.binary_cross_entropy_with_logits(logits, labels)
        elif labels.dim() == 2:  # soft labels (mixup / cutmix)
            if self.label_smooth_eps:
                labels = labels * (1 - self.label_smooth_eps) + self.label_smooth_eps / \
                    self.num_classes
            loss = torch.sum(-labels * F.log_softmax(logits, dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smooth_eps)
        return dict(loss_cls=loss * self.loss_weight)

    def predict(self, feats: torch.Tensor, data_samples: List, fcn_test: bool = False
                ) -> List:
        """Set ``pred_score`` (probabilities ``[C]``: softmax, or sigmoid when multi-label) and
        ``pred_label`` (argmax index ``[1]``; multi-hot ``score > 0.5`` when multi-label) on each
        sample, averaging ``num_segs`` clips per sample."""
        logits = self(feats, fcn_test=fcn_test).float()
        batch = len(data_samples)
        activation = torch.sigmoid if self.multi_label else (lambda s: s.softmax(dim=-1))
        if self.average_clips == 'score':
            scores = activation(self._average(logits, batch))
        else:
            scores = self._average(activation(logits), batch)
        if self.multi_label:
            labels = (scores > 0.5).long()
        else:
            labels = scores.argmax(dim=-1, keepdim=True)
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(score)
            sample.set_pred_label(label)
        return data_samples
