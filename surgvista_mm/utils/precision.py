"""Numeric precision of evaluation and inference: autocast dtype and TF32.

Training precision is the optimizer wrapper's (``SurgVistaAmpOptimWrapper``); evaluation runs in
float32 unless asked otherwise. ``amp`` names used by the tools (``--amp``) and by the
``SurgVistaValLoop`` / ``SurgVistaTestLoop`` configs:

* ``'none'``: float32. On CUDA, float32 matmuls and convolutions use TF32 tensor cores
  (10-bit mantissa inputs, float32 accumulation) when ``tf32=True``;
* ``'bf16'`` / ``'fp16'``: ``torch.autocast`` with that dtype on the model's device (outputs
  are cast back to float32 before they reach metrics or files).

The metric differences these cause on the demo are stated in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Union

import torch

AMP_CHOICES = ('none', 'bf16', 'fp16')
_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def amp_dtype(amp: Optional[str]) -> Optional[torch.dtype]:
    """The autocast dtype of an ``amp`` name (None for ``'none'`` / None).

    Raises:
        ValueError: an unknown name.
    """
    if amp is None:
        return None
    if amp not in _DTYPES:
        raise ValueError(f"amp must be one of {AMP_CHOICES}, got {amp!r}")
    return _DTYPES[amp]


def add_amp_argument(parser: argparse.ArgumentParser, default: str = 'none') -> None:
    """``--amp {none,bf16,fp16}`` (see the module doc)."""
    parser.add_argument('--amp', choices=AMP_CHOICES, default=default,
                        help='evaluation precision: none (float32; TF32 matmuls on CUDA), bf16 or '
                        'fp16 autocast (docs/benchmarks.md states the metric differences)')


def set_tf32(enabled: bool) -> tuple:
    """Allow (or forbid) TF32 for float32 CUDA matmuls and cuDNN convolutions.

    Returns:
        the previous ``(matmul, cudnn)`` flags, for :func:`restore_tf32`. No effect on CPU ops.
    """
    previous = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    torch.backends.cudnn.allow_tf32 = bool(enabled)
    return previous


def restore_tf32(previous: tuple) -> None:
    """Restore the flags :func:`set_tf32` returned."""
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


@contextmanager
def inference_precision(device: Union[str, torch.device], amp: Optional[str] = 'none',
                        tf32: bool = True) -> Iterator[None]:
    """Run the body with ``amp``'s autocast on ``device`` (and TF32 on CUDA; flags restored).

    Args:
        device: the model's device ('cpu', 'cuda', 'cuda:1', ...).
        amp: ``'none'``, ``'bf16'`` or ``'fp16'``.
        tf32: allow TF32 for float32 CUDA matmuls inside the body.
    """
    dtype = amp_dtype(amp)
    device_type = torch.device(device).type
    previous = set_tf32(tf32) if device_type == 'cuda' else None
    try:
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            yield
    finally:
        if previous is not None:
            restore_tf32(previous)


def float32_outputs(outputs: Any) -> Any:
    """Cast the bf16 / fp16 tensors of data samples (or lists of them) to float32, in place.

    Metrics convert predictions to numpy, which has no bfloat16. Returns ``outputs``.
    """
    for sample in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if not hasattr(sample, 'all_items'):
            continue
        for key, value in list(sample.all_items()):
            if isinstance(value, torch.Tensor) and value.dtype in (torch.bfloat16, torch.float16):
                setattr(sample, key, value.float())
    return outputs
