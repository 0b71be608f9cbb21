"""Transformer pieces that store less for backward by recomputing cheap intermediates.

A ViT block's training graph keeps, per block, the two LayerNorm outputs (inputs of ``qkv``
and ``fc1``) and the GELU output (input of ``fc2``). All three are elementwise functions of
tensors that are kept anyway (the block input / the residual, and ``fc1``'s output), so these
ops recompute them in backward instead: the same values and gradients (the recomputation is
the forward's own kernel on the same inputs), with ``2 x [N, C] + [N, 4C]`` floats less per
block, 29 MB per ViT-B block on a 16x224^2 clip in float32 (~350 MB for the 12 blocks of a
fine-tuning step), for one LayerNorm / GELU more per block in backward.

They run on the float32 training path (grad enabled, no autocast); everywhere else the layers
run one by one (under autocast the stored tensors are half-size already, and autocast's casts
would have to be replayed).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.autograd.function import once_differentiable
import torch.nn.functional as F
from torch import nn

from .linear import Linear, check_linear_impl, choose_linear, gemm_t, onednn_applicable


def recompute_impl(x: torch.Tensor, weight: torch.Tensor, impl: str) -> Optional[str]:
    """GEMM implementation of the recomputing path for input ``x`` and a Linear ``weight``
    configured with ``impl``, or None when the path does not apply (no grad, autocast, not
    float32, empty input, or 'onednn' where it cannot run: the plain path then raises)."""
    if not (torch.is_grad_enabled() and x.dtype == torch.float32
            and weight.dtype == torch.float32 and x.numel() > 0
            and not torch.is_autocast_enabled(x.device.type)):
        return None
    chosen = choose_linear(x, weight) if impl == 'auto' else impl
    if chosen == 'onednn' and not onednn_applicable(x, weight):
        return None
    return chosen


def _unhooked(*modules: nn.Module) -> bool:
    """No forward (pre-)hooks on any of ``modules``: the fused paths read their parameters
    directly and would skip them."""
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _norm_args(norm: Optional[nn.LayerNorm], width: int):
    """``(weight, bias, eps)`` of a plain affine ``nn.LayerNorm`` (not a subclass, no hooks)
    over the last ``width`` channels, or None otherwise."""
    if (type(norm) is nn.LayerNorm and norm.weight is not None and norm.bias is not None
            and tuple(norm.normalized_shape) == (width,) and _unhooked(norm)):
        return norm.weight, norm.bias, norm.eps
    return None


class _NormLinear(torch.autograd.Function):
    """``linear(layer_norm(x))``, keeping ``x`` and the norm's statistics, not its output."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, ln_w: torch.Tensor,  # noqa: ANN001 - autograd ctx
                ln_b: torch.Tensor, eps: float, weight: torch.Tensor,
                bias: Optional[torch.Tensor], impl: str) -> torch.Tensor:
        normed, mean, rstd = torch.native_layer_norm(x2d, x2d.shape[-1:], ln_w, ln_b, eps)
        ctx.save_for_backward(x2d, ln_w, ln_b, mean, rstd, weight)
        ctx.eps, ctx.impl, ctx.has_bias = eps, impl, bias is not None
        return gemm_t(normed, weight, impl, bias)

    @staticmethod
    @once_differentiable  # its GEMMs have no autograd: double backward raises
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        x2d, ln_w, ln_b, mean, rstd, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        grad = grad.contiguous()
        normed = torch.native_layer_norm(x2d, x2d.shape[-1:], ln_w, ln_b, ctx.eps)[0]
        grad_w = gemm_t(grad.t(), normed.t(), ctx.impl) if need[4] else None
        del normed
        grad_b = grad.sum(0) if ctx.has_bias and need[5] else None
        grad_normed = gemm_t(grad, weight.t(), ctx.impl)
        grad_x, grad_ln_w, grad_ln_b = torch.ops.aten.native_layer_norm_backward(
            grad_normed, x2d, x2d.shape[-1:], mean, rstd, ln_w, ln_b,
            [need[0], need[1], need[2]])
        return grad_x, grad_ln_w, grad_ln_b, None, grad_w, grad_b, None


def norm_linear(x: torch.Tensor, norm: nn.LayerNorm, weight: torch.Tensor,
                bias: Optional[torch.Tensor], impl: str = 'auto') -> torch.Tensor:
    """``linear(norm(x), weight, bias)``; on the float32 training path the normalised ``x``
    is recomputed in backward instead of stored (see the module docstring).

    Args:
        x: ``[..., C]``.
        norm: the LayerNorm over ``C``.
        weight, bias: ``[out, C]`` and ``[out]`` (or None).
        impl: GEMM implementation (:data:`~.linear.LINEAR_IMPLS`).
    """
    from .linear import linear
    chosen = recompute_impl(x, weight, impl)
    args = _norm_args(norm, x.shape[-1])
    if chosen is None or args is None:
        return linear(norm(x), weight, bias, impl)
    out = _NormLinear.apply(x.reshape(-1, x.shape[-1]), *args, weight, bias, chosen)
    return out.reshape(*x.shape[:-1], weight.shape[0])


class _NormMlp(torch.autograd.Function):
    """``fc2(gelu(fc1(layer_norm(x))))`` (the norm optional), keeping ``x``, the norm's
    statistics and ``fc1``'s output; the normalised input and the GELU output are recomputed
    in backward."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, ln_w: Optional[torch.Tensor],  # noqa: ANN001
                ln_b: Optional[torch.Tensor], eps: float, w1: torch.Tensor, b1: torch.Tensor,
                w2: torch.Tensor, b2: torch.Tensor, impl: str) -> torch.Tensor:
        if ln_w is not None:
            normed, mean, rstd = torch.native_layer_norm(x2d, x2d.shape[-1:], ln_w, ln_b, eps)
        else:
            normed, mean, rstd = x2d, None, None
        hidden = gemm_t(normed, w1, impl, b1)
        del normed
        ctx.save_for_backward(x2d, ln_w, ln_b, mean, rstd, w1, hidden, w2)
        ctx.eps, ctx.impl = eps, impl
        return gemm_t(F.gelu(hidden), w2, impl, b2)

    @staticmethod
    @once_differentiable  # its GEMMs have no autograd: double backward raises
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        x2d, ln_w, ln_b, mean, rstd, w1, hidden, w2 = ctx.saved_tensors
        impl, need = ctx.impl, ctx.needs_input_grad
        grad = grad.contiguous()
        grad_w2 = gemm_t(grad.t(), F.gelu(hidden).t(), impl) if need[6] else None
        grad_b2 = grad.sum(0) if need[7] else None
        grad_h = torch.ops.aten.gelu_backward(gemm_t(grad, w2.t(), impl), hidden)
        del hidden
        normed = x2d if ln_w is None else \
            torch.native_layer_norm(x2d, x2d.shape[-1:], ln_w, ln_b, ctx.eps)[0]
        grad_w1 = gemm_t(grad_h.t(), normed.t(), impl) if need[4] else None
        del normed
        grad_b1 = grad_h.sum(0) if need[5] else None
        grad_in = gemm_t(grad_h, w1.t(), impl)
        grad_x = grad_ln_w = grad_ln_b = None
        if ln_w is None:
            grad_x = grad_in if need[0] else None
        else:
            grad_x, grad_ln_w, grad_ln_b = torch.ops.aten.native_layer_norm_backward(
                grad_in, x2d, x2d.shape[-1:], mean, rstd, ln_w, ln_b,
                [need[0], need[1], need[2]])
        return grad_x, grad_ln_w, grad_ln_b, None, grad_w1, grad_b1, grad_w2, grad_b2, None


class Mlp(nn.Module):
    """Transformer MLP ``fc2(drop(act(fc1(x))))`` then dropout, with :class:`~.linear.Linear`
    layers (the state-dict keys of timm's ``Mlp``: ``fc1``, ``fc2``).

    ``forward(x, norm)`` applies ``norm`` (the block's LayerNorm) first. On the float32
    training path without dropout (the SurgVISTA blocks) the normalised input and the GELU
    output are recomputed in backward instead of stored (:class:`_NormMlp`); elsewhere (under
    autocast, with dropout, without grad) the layers run one by one.

    Args:
        in_features: input / output width.
        hidden_features: hidden width.
        drop: dropout probability after the activation and after ``fc2``.
        linear_impl: one of :data:`~.linear.LINEAR_IMPLS`.
    """

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0,
                 linear_impl: str = 'auto') -> None:
        super().__init__()
        check_linear_impl(linear_impl)
        self.fc1 = Linear(in_features, hidden_features, impl=linear_impl)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = Linear(hidden_features, in_features, impl=linear_impl)
        self.drop2 = nn.Dropout(drop)

    def _recompute_impl(self, x: torch.Tensor) -> Optional[str]:
        """GEMM implementation of the recomputing path for ``x``, or None."""
        p = self.drop1.p if self.training else 0.0
        if (p != 0.0 or type(self.act) is not nn.GELU or self.act.approximate != 'none'
                or type(self.fc1) is not Linear or type(self.fc2) is not Linear
                or self.fc1.impl != self.fc2.impl or self.fc1.bias is None
                or self.fc2.bias is None or not _unhooked(self.fc1, self.act, self.fc2)):
            return None  # e.g. a swapped-in adapter layer: run the modules themselves
        return recompute_impl(x, self.fc1.weight, self.fc1.impl)

    def forward(self, x: torch.Tensor, norm: Optional[nn.LayerNorm] = None) -> torch.Tensor:
        """``x`` ``[..., in_features]`` -> same shape; ``norm`` is applied to ``x`` first."""
        impl = self._recompute_impl(x)
        args = (None, None, 0.0) if norm is None else _norm_args(norm, x.shape[-1])
        if impl is not None and args is not None:
            out = _NormMlp.apply(x.reshape(-1, x.shape[-1]), *args, self.fc1.weight,
                                 self.fc1.bias, self.fc2.weight, self.fc2.bias, impl)
            return self.drop2(out.reshape(x.shape))
        if norm is not None:
            x = norm(x)
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
