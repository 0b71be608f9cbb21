"""Frozen image teachers: shared behaviour (always eval, no grad, frame selection, autocast)."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import nn

_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


class BaseFrozenTeacher(BaseModule):
    """An image model run per frame, frozen, producing features on the student's token grid.

    Subclasses implement :meth:`encode_images` (``[B', 3, H, W]`` -> patch tokens
    ``[B', H'*W', C]``) and load their weights in ``init_weights`` (never at build time).

    Args:
        frame_stride: frames fed to the teacher are ``0, s, 2s, ...`` (2 = first frame of each
            tubelet of size 2).
        autocast: run under ``torch.autocast`` with ``autocast_dtype`` (off: fp32, as in the
            parity tests).
        autocast_dtype: ``'bfloat16'`` or ``'float16'``.
    """

    def __init__(self, frame_stride: int = 2, autocast: bool = False,
                 autocast_dtype: str = 'bfloat16') -> None:
        super().__init__(init_cfg=None)
        if autocast_dtype not in _DTYPES:
            raise ValueError(f'autocast_dtype must be one of {sorted(_DTYPES)}, '
                             f'got {autocast_dtype!r}')
        if frame_stride < 1:
            raise ValueError(f'frame_stride must be >= 1, got {frame_stride}')
        self.frame_stride = frame_stride
        self.autocast = autocast
        self.autocast_dtype = autocast_dtype

    #: with ``autocast``, store Linear / Conv weights in the autocast dtype (see :meth:`freeze`);
    #: only for teachers whose every use of those weights is an op autocast casts anyway
    store_cast_weights: bool = False

    def freeze(self) -> None:
        """Eval mode and no gradients for every parameter; with ``autocast`` and
        ``store_cast_weights``, the weights and biases of Linear / Conv layers are stored in the
        autocast dtype.

        Autocast casts exactly those tensors to its dtype at every call of a linear / conv op
        (the teacher's weights do not require grad, so autocast's weight cache does not apply):
        storing them cast gives the same values without 300 M parameters re-cast per step
        (ViT-L; ~7 % of the bf16 teacher forward on this CPU). LayerNorms, embeddings and
        tokens stay float32. Off for teachers whose code is not ours (timm models may use a
        weight outside such an op).
        """
        self.requires_grad_(False)
        super().train(False)
        if self.autocast and self.store_cast_weights:
            dtype = _DTYPES[self.autocast_dtype]
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    module.to(dtype)

    def train(self, mode: bool = True) -> 'BaseFrozenTeacher':
        """Teachers stay in eval mode whatever ``mode`` says."""
        return super().train(False)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """``[B', 3, H, W]`` -> patch tokens ``[B', H'*W', C]`` (prefix tokens dropped)."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Teacher features on the student's token grid.

        Args:
            clip: normalised clip ``[B, 3, T, H, W]`` (the student's input).

        Returns:
            ``[B, T'*H'*W', C]`` with ``T' = ceil(T / frame_stride)``, t-major token order.
        """
        if clip.dim() != 5:
            raise ValueError(f'teacher expects a clip [B, 3, T, H, W], got {tuple(clip.shape)}')
        frames = clip[:, :, ::self.frame_stride]
        b, c, t, h, w = frames.shape
        images = frames.transpose(1, 2).reshape(b * t, c, h, w)
        with torch.autocast(device_type=clip.device.type, dtype=_DTYPES[self.autocast_dtype],
                            enabled=self.autocast):
            tokens = self.encode_images(images)
        return tokens.reshape(b, t * tokens.shape[1], tokens.shape[2])


def resolve_out_layer(out_layer: int, depth: int) -> int:
    """Normalise a (possibly negative) block index; raises ValueError when out of range."""
    index = out_layer + depth if out_layer < 0 else out_layer
    if not 0 <= index < depth:
        raise ValueError(f'out_layer {out_layer} is out of range for {depth} blocks')
    return index


def optional_path(path: Optional[str]) -> Optional[str]:
    """Validate a checkpoint argument (a str path or None) without touching the file system."""
    if path is not None and not isinstance(path, str):
        raise TypeError(f'checkpoint must be a file path or None, got {type(path).__name__}')
    return path
