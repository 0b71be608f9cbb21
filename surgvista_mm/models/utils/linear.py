"""Linear layers whose float32 CPU GEMMs run on oneDNN instead of the BLAS library.

PyTorch sends float32 ``addmm`` / ``mm`` on the CPU to its BLAS (MKL in the official wheels),
and bfloat16 / float16 ones to oneDNN. On AMD CPUs MKL's vendor dispatch picks AVX2 kernels, so
on this project's machine (AMD EPYC with AVX-512) a float32 ``[3136, 1024] x [1024, 4096]``
GEMM ran at 86-90 GFLOP/s through MKL and at 170-185 GFLOP/s through oneDNN (one thread, for
the forward and both backward GEMMs; ``tools/benchmark/linear.py``). Same math: both are IEEE
float32 GEMMs and differ only in summation order (max abs error against float64 on that GEMM:
8e-5 MKL, 1.5e-4 oneDNN, for outputs of magnitude ~100).

On Intel CPUs MKL runs its AVX-512 kernels and oneDNN gains nothing (measured on a 2-core
Intel Xeon with AVX-512 and AMX, 2026-12-04: oneDNN 0.77x ``F.linear`` over the same shapes,
fwd + bwd), so the choice depends on the CPU vendor (:func:`mkl_penalised_cpu`).

``impl='auto'`` (the default of every SurgVISTA module) uses oneDNN for float32 CPU tensors
outside autocast when PyTorch has its oneDNN linear op and the CPU is not an Intel one, and
``F.linear`` otherwise (Intel CPUs, CUDA, any autocast region, other dtypes); ``'torch'`` always
uses ``F.linear``; ``'onednn'`` requires the oneDNN path and raises where it cannot run.

Parameters stay ordinary ``nn.Linear`` parameters (same state-dict keys, optimizer, DDP).
"""
from __future__ import annotations

import functools
from typing import FrozenSet, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable
import torch.nn.functional as F
from torch import nn

LINEAR_IMPLS = ('auto', 'torch', 'onednn')


@functools.lru_cache(maxsize=None)
def onednn_linear_available() -> bool:
    """Whether this PyTorch build has oneDNN's dense linear op (``mkldnn::_linear_pointwise``,
    present since PyTorch 2.0 in CPU builds with oneDNN)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return torch.ops.mkldnn._linear_pointwise.default is not None
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=None)
def cpu_info() -> Tuple[str, FrozenSet[str]]:
    """``(vendor_id, flags)`` of the first CPU listed in ``/proc/cpuinfo`` (Linux); ``('', {})``
    where that file cannot be read."""
    vendor, flags = '', frozenset()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key == 'vendor_id' and not vendor:
                    vendor = value.strip()
                elif key == 'flags' and not flags:
                    flags = frozenset(value.split())
                if vendor and flags:
                    break
    except OSError:
        pass
    return vendor, flags


def mkl_penalised_cpu() -> bool:
    """Whether float32 GEMMs through MKL run below the CPU's best kernels here: True on x86 CPUs
    of other vendors than Intel (MKL's vendor dispatch picks AVX2 code on AMD), False on Intel
    and where the vendor is unknown (then PyTorch's defaults are kept)."""
    vendor = cpu_info()[0]
    return bool(vendor) and vendor != 'GenuineIntel'


def cpu_has_amx_bf16() -> bool:
    """Whether the CPU has AMX bf16 tiles (Intel Sapphire Rapids and later): oneDNN's and
    PyTorch's CPU flash-attention kernel then run bf16 GEMMs on AMX."""
    return 'amx_bf16' in cpu_info()[1]


def check_linear_impl(impl: str) -> str:
    """``impl`` if it is one of :data:`LINEAR_IMPLS`, else ValueError."""
    if impl not in LINEAR_IMPLS:
        raise ValueError(f'linear impl must be one of {LINEAR_IMPLS}, got {impl!r}')
    return impl


def onednn_mm_t(a: torch.Tensor, b_t: torch.Tensor,
                bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``a @ b_t.T (+ bias)`` on oneDNN: ``a`` ``[M, K]``, ``b_t`` ``[N, K]`` (views are fine),
    float32 CPU tensors, no autograd."""
    return torch.ops.mkldnn._linear_pointwise(a, b_t, bias, 'none', [], '')


class _OneDnnLinear(torch.autograd.Function):
    """``y = x W^T + b`` with all three GEMMs (forward, grad of x, grad of W) on oneDNN."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, weight: torch.Tensor,  # noqa: ANN001 - autograd ctx
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x2d, weight)
        ctx.has_bias = bias is not None
        return onednn_mm_t(x2d, weight, bias)

    @staticmethod
    @once_differentiable  # its GEMMs have no autograd: double backward raises
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        x2d, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = onednn_mm_t(grad, weight.t())          # [M, N] x [N, K]
        if ctx.needs_input_grad[1]:
            grad_w = onednn_mm_t(grad.t(), x2d.t())         # [N, M] x [M, K]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def onednn_applicable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether the oneDNN path can run for input ``x`` and ``weight``: float32 CPU tensors
    outside autocast and outside ``torch.compile``, with oneDNN's linear op available."""
    return (not torch.compiler.is_compiling() and x.device.type == 'cpu'
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu') and onednn_linear_available())


def choose_linear(x: torch.Tensor, weight: torch.Tensor) -> str:
    """The implementation ``impl='auto'`` uses for input ``x`` and ``weight``: 'onednn' for
    float32 CPU tensors outside autocast (where oneDNN's op exists) on a CPU where MKL does not
    run its best kernels (:func:`mkl_penalised_cpu`), else 'torch'. Inside
    ``torch.compile`` always 'torch': inductor lowers oneDNN's linear op only with constant
    (frozen) weights, and picks its own GEMM kernels for ``F.linear``."""
    return 'onednn' if onednn_applicable(x, weight) and mkl_penalised_cpu() else 'torch'


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
           impl: str = 'auto') -> torch.Tensor:
    """``F.linear`` by the implementation ``impl`` (see the module docstring).

    Args:
        x: ``[..., in_features]``.
        weight: ``[out_features, in_features]``.
        bias: ``[out_features]`` or None.
        impl: one of :data:`LINEAR_IMPLS`.

    Returns:
        ``[..., out_features]``.
    """
    if impl == 'auto':
        impl = choose_linear(x, weight)
    elif check_linear_impl(impl) == 'onednn' and not onednn_applicable(x, weight):
        raise RuntimeError(f"linear impl 'onednn' needs float32 CPU tensors outside autocast and "
                           f"a PyTorch with oneDNN; got {x.dtype} on {x.device} "
                           f"(available: {onednn_linear_available()})")
    if impl == 'torch':
        return F.linear(x, weight, bias)
    lead = x.shape[:-1]
    if x.numel() == 0 or weight.numel() == 0:  # oneDNN builds no primitive for empty GEMMs
        return F.linear(x, weight, bias)
    x2d = x.reshape(-1, x.shape[-1])
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        out = _OneDnnLinear.apply(x2d, weight, bias)
    else:  # inference (the frozen teacher): no autograd node
        out = onednn_mm_t(x2d, weight, bias)
    return out.reshape(*lead, weight.shape[0])


class Linear(nn.Linear):
    """``nn.Linear`` computed by :func:`linear` (same parameters and state-dict keys).

    Args:
        in_features, out_features, bias: as ``nn.Linear``.
        impl: one of :data:`LINEAR_IMPLS` ('auto' by default).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 impl: str = 'auto') -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.impl = check_linear_impl(impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., in_features]`` -> ``[..., out_features]``."""
        return linear(x, self.weight, self.bias, self.impl)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, impl={self.impl!r}'


def gemm_t(a: torch.Tensor, b_t: torch.Tensor, impl: str,
           bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``a @ b_t.T (+ bias)`` for 2-D ``a`` ``[M, K]`` and ``b_t`` ``[N, K]`` (views are fine)
    by ``impl``: 'onednn' or 'torch' (``addmm`` / ``mm``)."""
    if impl == 'onednn':
        return onednn_mm_t(a, b_t, bias)
    return a @ b_t.t() if bias is None else torch.addmm(bias, a, b_t.t())


def set_linear_impl(module: nn.Module, impl: str) -> int:
    """Set ``impl`` on every :class:`Linear` inside ``module``; returns how many were set (for
    benchmarks and A/B checks; configs pass ``linear_impl`` to the modules instead)."""
    check_linear_impl(impl)
    count = 0
    for m in module.modules():
        if isinstance(m, Linear):
            m.impl = impl
            count += 1
    return count
