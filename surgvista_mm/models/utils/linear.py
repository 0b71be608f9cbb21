"""Linear layers whose float32 CPU GEMMs run on oneDNN instead of the BLAS library.

PyTorch sends float32 ``addmm`` / ``mm`` on the CPU to its BLAS (MKL in the official wheels),
and bfloat16 / float16 ones to oneDNN. On AMD CPUs MKL's vendor dispatch picks AVX2 kernels, so
on this project's machine (AMD EPYC with AVX-512) a float32 ``[3136, 1024] x [1024, 4096]``
GEMM ran at 86-90 GFLOP/s through MKL and at 170-185 GFLOP/s through oneDNN (one thread, for
the forward and both backward GEMMs; ``tools/benchmark/linear.py``). Same math: both are IEEE
float32 GEMMs and differ only in summation order (max abs error against float64 on that GEMM:
8e-5 MKL, 1.5e-4 oneDNN, for outputs of magnitude ~100).

``impl='auto'`` (the default of every SurgVISTA module) uses oneDNN for float32 CPU tensors
outside autocast when PyTorch has its oneDNN linear op, and ``F.linear`` otherwise (CUDA, any
autocast region, other dtypes); ``'torch'`` always uses ``F.linear``; ``'onednn'`` requires the
oneDNN path and raises where it cannot run.

Parameters stay ordinary ``nn.Linear`` parameters (same state-dict keys, optimizer, DDP).
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
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


def _onednn_mm(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """``a @ b_t.T`` with oneDNN: ``a`` ``[M, K]``, ``b_t`` ``[N, K]`` (views are fine)."""
    return torch.ops.mkldnn._linear_pointwise(a, b_t, None, 'none', [], '')


class _OneDnnLinear(torch.autograd.Function):
    """``y = x W^T + b`` with all three GEMMs (forward, grad of x, grad of W) on oneDNN."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, weight: torch.Tensor,  # noqa: ANN001 - autograd ctx
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x2d, weight)
        ctx.has_bias = bias is not None
        return torch.ops.mkldnn._linear_pointwise(x2d, weight, bias, 'none', [], '')

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        x2d, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _onednn_mm(grad, weight.t())          # [M, N] x [N, K]
        if ctx.needs_input_grad[1]:
            grad_w = _onednn_mm(grad.t(), x2d.t())         # [N, M] x [M, K]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def choose_linear(x: torch.Tensor, weight: torch.Tensor) -> str:
    """The implementation ``impl='auto'`` uses for input ``x`` and ``weight``: 'onednn' for
    float32 CPU tensors outside autocast (where oneDNN's op exists), else 'torch'."""
    if (x.device.type == 'cpu' and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu') and onednn_linear_available()):
        return 'onednn'
    return 'torch'


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
    if impl == 'torch':
        return F.linear(x, weight, bias)
    if impl != 'onednn':
        raise ValueError(f'linear impl must be one of {LINEAR_IMPLS}, got {impl!r}')
    if choose_linear(x, weight) != 'onednn':
        raise RuntimeError(f"linear impl 'onednn' needs float32 CPU tensors outside autocast and "
                           f"a PyTorch with oneDNN; got {x.dtype} on {x.device} "
                           f"(available: {onednn_linear_available()})")
    lead = x.shape[:-1]
    if x.numel() == 0:
        return F.linear(x, weight, bias)
    x2d = x.reshape(-1, x.shape[-1])
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        out = _OneDnnLinear.apply(x2d, weight, bias)
    else:  # inference (the frozen teacher): no autograd node
        out = torch.ops.mkldnn._linear_pointwise(x2d, weight, bias, 'none', [], '')
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
        if impl not in LINEAR_IMPLS:
            raise ValueError(f'linear impl must be one of {LINEAR_IMPLS}, got {impl!r}')
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., in_features]`` -> ``[..., out_features]``."""
        return linear(x, self.weight, self.bias, self.impl)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, impl={self.impl!r}'


def _mm_t(a: torch.Tensor, b_t: torch.Tensor, impl: str) -> torch.Tensor:
    """``a @ b_t.T`` by ``impl`` ('onednn' or 'torch')."""
    return _onednn_mm(a, b_t) if impl == 'onednn' else a @ b_t.t()


class _MlpRecomputeGelu(torch.autograd.Function):
    """``fc2(gelu(fc1(x)))`` that keeps ``x`` and ``fc1(x)`` for backward but not the GELU
    output, recomputing it (one elementwise op) in backward: the same gradients with one
    ``[tokens, hidden]`` activation less per block (19 MB per ViT-B block and 16x224^2 clip
    in float32)."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, w1: torch.Tensor,  # noqa: ANN001 - autograd ctx
                b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                impl: str) -> torch.Tensor:
        hidden = torch.addmm(b1, x2d, w1.t()) if impl == 'torch' else \
            torch.ops.mkldnn._linear_pointwise(x2d, w1, b1, 'none', [], '')
        act = F.gelu(hidden)
        ctx.save_for_backward(x2d, w1, hidden, w2)
        ctx.impl = impl
        return torch.addmm(b2, act, w2.t()) if impl == 'torch' else \
            torch.ops.mkldnn._linear_pointwise(act, w2, b2, 'none', [], '')

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        x2d, w1, hidden, w2 = ctx.saved_tensors
        impl = ctx.impl
        grad = grad.contiguous()
        need = ctx.needs_input_grad
        grad_w2 = _mm_t(grad.t(), F.gelu(hidden).t(), impl) if need[3] else None
        grad_b2 = grad.sum(0) if need[4] else None
        grad_h = torch.ops.aten.gelu_backward(_mm_t(grad, w2.t(), impl), hidden)
        del hidden
        grad_x = _mm_t(grad_h, w1.t(), impl) if need[0] else None
        grad_w1 = _mm_t(grad_h.t(), x2d.t(), impl) if need[1] else None
        grad_b1 = grad_h.sum(0) if need[2] else None
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2, None


class Mlp(nn.Module):
    """Transformer MLP ``fc2(drop(act(fc1(x))))`` then dropout, with :class:`Linear` layers
    (the state-dict keys of timm's ``Mlp``: ``fc1``, ``fc2``).

    While training in float32 without dropout (the SurgVISTA blocks), the GELU output is not
    stored for backward but recomputed there (:class:`_MlpRecomputeGelu`: same values and
    gradients, ~19 MB less per ViT-B block and 16x224^2 clip); under autocast, with dropout
    or without grad the layers run one by one.

    Args:
        in_features: input / output width.
        hidden_features: hidden width.
        drop: dropout probability after the activation and after ``fc2``.
        linear_impl: one of :data:`LINEAR_IMPLS`.
    """

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0,
                 linear_impl: str = 'auto') -> None:
        super().__init__()
        self.fc1 = Linear(in_features, hidden_features, impl=linear_impl)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = Linear(hidden_features, in_features, impl=linear_impl)
        self.drop2 = nn.Dropout(drop)

    def _recompute_impl(self, x: torch.Tensor) -> Optional[str]:
        """GEMM implementation of the GELU-recomputing path for ``x``, or None to run the
        layers one by one (dropout, another activation, no grad, autocast, other dtypes)."""
        p = self.drop1.p if self.training else 0.0
        if not (p == 0.0 and type(self.act) is nn.GELU and self.act.approximate == 'none'
                and torch.is_grad_enabled() and x.dtype == torch.float32
                and self.fc1.weight.dtype == torch.float32 and self.fc1.bias is not None
                and self.fc2.bias is not None and x.numel() > 0
                and not torch.is_autocast_enabled(x.device.type)):
            return None
        best = choose_linear(x, self.fc1.weight)
        impl = best if self.fc1.impl == 'auto' else self.fc1.impl
        if impl == 'onednn' and best != 'onednn':
            return None  # the layer-by-layer path raises the explicit error
        return impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., in_features]`` -> same shape."""
        impl = self._recompute_impl(x)
        if impl is not None:
            out = _MlpRecomputeGelu.apply(x.reshape(-1, x.shape[-1]), self.fc1.weight,
                                          self.fc1.bias, self.fc2.weight, self.fc2.bias, impl)
            return self.drop2(out.reshape(x.shape))
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


def set_linear_impl(module: nn.Module, impl: str) -> int:
    """Set ``impl`` on every :class:`Linear` inside ``module``; returns how many were set (for
    benchmarks and A/B checks; configs pass ``linear_impl`` to the modules instead)."""
    if impl not in LINEAR_IMPLS:
        raise ValueError(f'linear impl must be one of {LINEAR_IMPLS}, got {impl!r}')
    count = 0
    for m in module.modules():
        if isinstance(m, Linear):
            m.impl = impl
            count += 1
    return count
