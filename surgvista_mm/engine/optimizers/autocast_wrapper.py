"""bf16 autocast for the optimizer wrapper on any device (mmengine's AmpOptimWrapper is GPU-only)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

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
