"""Optimizer wrappers for mixed precision: bf16 autocast on any device (mmengine's
``AmpOptimWrapper`` is GPU-only) and an ``AmpOptimWrapper`` without loss scaling for bf16."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Union

import torch
import torch.nn as nn
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from surgvista_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class SurgVistaAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward context is ``torch.autocast(<model device>, bfloat16)``.

    mmengine's ``AmpOptimWrapper`` refuses to build without a GPU. bf16 needs no loss scaling, so
    a plain optimizer wrapper with an autocast context gives the same numerics on the CPU (and
    works on CUDA too). ``tools/train.py`` swaps it in for a bf16 ``AmpOptimWrapper`` on machines
    without CUDA (see ``surgvista_mm.compat.adapt_optim_wrapper_for_cpu``).

    Args:
        optimizer: the wrapped optimizer.
        dtype: only ``'bfloat16'`` (fp16 needs dynamic loss scaling: use ``AmpOptimWrapper`` on a
            GPU).
        accumulative_counts: gradient accumulation steps.
        clip_grad: as in ``OptimWrapper``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, dtype: str = 'bfloat16',
                 accumulative_counts: int = 1, clip_grad: Optional[dict] = None) -> None:
        if dtype != 'bfloat16':
            raise ValueError(f'{type(self).__name__}: dtype must be "bfloat16", got {dtype!r} '
                             '(fp16 needs loss scaling: use AmpOptimWrapper on a GPU)')
        super().__init__(optimizer, accumulative_counts=accumulative_counts, clip_grad=clip_grad)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(device_type, dtype=self.cast_dtype):
            yield


@OPTIM_WRAPPERS.register_module()
class SurgVistaAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` whose loss scaling follows the autocast dtype.

    mmengine's default ``loss_scale='dynamic'`` builds a ``GradScaler`` whatever the dtype: with
    bf16 (float32's exponent range, no gradient underflow) it only multiplies and divides every
    gradient and may skip steps on a spurious overflow check. Here ``loss_scale='auto'`` means
    no scaling for bf16 (a disabled ``GradScaler``: ``backward`` / ``step`` are the plain ones)
    and dynamic scaling for fp16. An explicit ``loss_scale`` is used as given. Needs a GPU, as
    mmengine's (``compat.adapt_optim_wrapper_for_cpu`` swaps a bf16 one for
    :class:`SurgVistaAutocastOptimWrapper` on CPU machines).

    Args:
        optimizer: the wrapped optimizer.
        dtype: ``'bfloat16'`` or ``'float16'``.
        loss_scale: ``'auto'`` (see above), ``'dynamic'``, a float (static scale) or a
            ``GradScaler`` argument dict.
        accumulative_counts: gradient accumulation steps.
        clip_grad: as in ``OptimWrapper``.
        use_fsdp: ``ShardedGradScaler`` (FSDP), as mmengine's.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, dtype: str = 'bfloat16',
                 loss_scale: Union[str, float, dict] = 'auto', accumulative_counts: int = 1,
                 clip_grad: Optional[dict] = None, use_fsdp: bool = False) -> None:
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f'{type(self).__name__}: dtype must be "bfloat16" or "float16", '
                             f'got {dtype!r}')
        super().__init__(loss_scale=auto_loss_scale(dtype, loss_scale), dtype=dtype,
                         use_fsdp=use_fsdp, optimizer=optimizer,
                         accumulative_counts=accumulative_counts, clip_grad=clip_grad)


def auto_loss_scale(dtype: str, loss_scale: Union[str, float, dict] = 'auto'
                    ) -> Union[str, float, dict]:
    """The ``GradScaler`` setting of ``loss_scale='auto'``: none for bf16, dynamic for fp16."""
    if loss_scale != 'auto':
        return loss_scale
    return dict(enabled=False) if dtype == 'bfloat16' else 'dynamic'
