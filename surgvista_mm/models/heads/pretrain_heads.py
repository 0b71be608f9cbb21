"""Pre-training heads: build the targets of the masked tokens and compute the losses.

Both heads return the weighted loss under a ``loss_*`` key (summed by mmengine) and the
unweighted value under a name without "loss" (logged only). Losses are computed in float32.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from surgvista_mm.registry import MODELS
from ..utils.tokens import select_masked


@MODELS.register_module()
class SurgVistaPixelHead(BaseModule):
    """Reconstruction target: per-patch, per-channel normalised pixels; MSE loss.

    Args:
        patch_size: spatial patch size in pixels.
        tubelet_size: frames per token.
        eps: added to the (unbiased) standard deviation of each patch and channel.
        loss_weight: factor of ``loss_pixel``.
        init_cfg: mmengine init config (the head has no parameters).
    """

    def __init__(self, patch_size: int = 16, tubelet_size: int = 2, eps: float = 1e-6,
                 loss_weight: float = 1.0, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.eps = eps
        self.loss_weight = loss_weight

    def construct_target(self, clip: torch.Tensor) -> torch.Tensor:
        """Normalised pixel targets of **all** tokens.

        Args:
            clip: un-normalised clip in [0, 1], ``[B, C, T, H, W]``.

        Returns:
            ``[B, N, tubelet * p * p * C]`` (t-major token order; values in (t, h, w, c) order),
            float32. Each patch and channel is normalised as
            ``(x - mean) / (sqrt(unbiased var) + eps)`` over its ``tubelet * p * p`` pixels.
        """
        b, c, t, h, w = clip.shape
        pt, p = self.tubelet_size, self.patch_size
        if t % pt or h % p or w % p:
            raise ValueError(f'clip {tuple(clip.shape)} is not divisible into tubelets '
                             f'({pt}, {p}, {p})')
        x = clip.float().reshape(b, c, t // pt, pt, h // p, p, w // p, p)
        x = x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b, -1, pt * p * p, c)
        mean = x.mean(dim=-2, keepdim=True)
        std = x.var(dim=-2, unbiased=True, keepdim=True).sqrt()
        x = (x - mean) / (std + self.eps)
        return x.flatten(2)

    def loss(self, pred: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """MSE between predictions and the targets of the masked tokens.

        Args:
            pred: ``[B, N_masked, P]`` decoder predictions.
            target: ``[B, N, P]`` targets of all tokens (:meth:`construct_target`).
            mask: bool ``[B, N]``, True = masked.

        Returns:
            ``loss_pixel`` (weighted) and ``pixel_mse`` (unweighted).
        """
        target = select_masked(target, mask, pred.shape[1])
        mse = F.mse_loss(pred.float(), target.float())
        return dict(loss_pixel=mse * self.loss_weight, pixel_mse=mse.detach())


@MODELS.register_module()
class SurgVistaDistillHead(BaseModule):
    """Feature distillation: SmoothL1 (beta 1, mean) to the teacher features of masked tokens.

    Args:
        norm_target: LayerNorm (no affine) the teacher features first.
        beta: SmoothL1 transition point.
        norm_eps: epsilon of that LayerNorm.
        loss_weight: factor of ``loss_distill`` (0.05 in SurgVISTA).
        init_cfg: mmengine init config (the head has no parameters).
    """

    def __init__(self, norm_target: bool = False, beta: float = 1.0, norm_eps: float = 1e-6,
                 loss_weight: float = 0.05, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm_target = norm_target
        self.beta = beta
        self.norm_eps = norm_eps
        self.loss_weight = loss_weight

    def loss(self, pred: torch.Tensor, features: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """SmoothL1 loss on the masked tokens.

        Args:
            pred: ``[B, N_masked, C]`` decoder predictions.
            features: ``[B, N, C]`` teacher features of all tokens.
            mask: bool ``[B, N]``, True = masked.

        Returns:
            ``loss_distill`` (weighted) and ``distill_smoothl1`` (unweighted).
        """
        if pred.shape[-1] != features.shape[-1]:
            raise ValueError(f'distillation decoder outputs {pred.shape[-1]} channels but the '
                             f'teacher gives {features.shape[-1]}: set out_dims accordingly')
        if features.shape[:2] != mask.shape:
            raise ValueError(f'teacher features {tuple(features.shape)} do not cover the student '
                             f'token grid (mask {tuple(mask.shape)}): check the teacher\'s '
                             'img_size, patch_size and frame_stride')
        target = select_masked(features, mask, pred.shape[1]).float()
        if self.norm_target:
            target = F.layer_norm(target, target.shape[-1:], eps=self.norm_eps)
        value = F.smooth_l1_loss(pred.float(), target, beta=self.beta)
        return dict(loss_distill=value * self.loss_weight, distill_smoothl1=value.detach())
