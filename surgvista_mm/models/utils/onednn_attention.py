"""float32 CPU attention whose GEMMs run on oneDNN, in query blocks (flash-style backward).

PyTorch's CPU flash-attention kernel does its float32 GEMMs through the BLAS library (MKL,
AVX2 kernels on AMD CPUs, see :mod:`surgvista_mm.models.utils.linear`). This implementation
computes, per (sample, head) and block of ``block`` queries, ``S = (q * scale) k^T``, the
log-sum-exp ``L`` of each row, ``P = exp(S - L)`` and ``P v`` with oneDNN GEMMs; it keeps only
``q``, ``k``, ``v``, the output and ``L`` for backward (as the flash kernel does; no
``[N, N]`` matrix outlives a block) and recomputes ``P`` block by block there:
``dv += P^T do``, ``dS = P * (do v^T - rowsum(do * o))``, ``dq = scale dS k``,
``dk += scale dS^T q``. Same math as ``softmax(q k^T * scale) v`` (float32 throughout).

Measured with ``tools/benchmark/attention.py`` (1 thread, forward + backward): see
:func:`surgvista_mm.models.utils.transformer.choose_attention`.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .linear import onednn_mm_t as _mm_t


def _forward_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                    block: int):
    """The forward: output ``[B, heads, N, D]`` (stored as ``[B, N, heads, D]``, so the caller's
    ``transpose(1, 2).reshape(B, N, C)`` is a view) and the row log-sum-exp ``[B, heads, N]``
    of the scaled logits."""
    batch, heads, num, dims = q.shape
    out = q.new_empty(batch, num, heads, dims)
    lse = q.new_empty(batch, heads, num)
    for b in range(batch):
        for h in range(heads):
            # contiguous per head: oneDNN is slow on a [D, N] operand with row stride 3C
            k_h, v_t = k[b, h].contiguous(), v[b, h].contiguous().t()
            for i in range(0, num, block):
                s = _mm_t(q[b, h, i:i + block] * scale, k_h)                # [bq, N]
                rows = torch.logsumexp(s, dim=-1, keepdim=True)
                out[b, i:i + block, h] = _mm_t(s.sub_(rows).exp_(), v_t)      # [bq, D]
                lse[b, h, i:i + block] = rows.squeeze(-1)
    return out.transpose(1, 2), lse


class _OneDnnAttention(torch.autograd.Function):
    """``softmax(q k^T * scale) v`` for float32 CPU ``[B, heads, N, D]`` tensors."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor,  # noqa: ANN001 - autograd ctx
                v: torch.Tensor, scale: float, block: int) -> torch.Tensor:
        out, lse = _forward_blocks(q, k, v, scale, block)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale, ctx.block = scale, block
        return out

    @staticmethod
    @once_differentiable  # its GEMMs have no autograd: double backward raises
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205 - autograd signature
        q, k, v, out, lse = ctx.saved_tensors
        scale, block = ctx.scale, ctx.block
        batch, heads, num, _ = q.shape
        grad = grad.contiguous()  # e.g. the expanded gradient of a sum
        delta = (grad * out).sum(-1)                                         # [B, heads, N]
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for b in range(batch):
            for h in range(heads):
                k_h, v_h = k[b, h].contiguous(), v[b, h].contiguous()
                k_t = k_h.t()
                for i in range(0, num, block):
                    sl = slice(i, i + block)
                    q_s = q[b, h, sl] * scale                                # [bq, D]
                    g = grad[b, h, sl]
                    p = _mm_t(q_s, k_h).sub_(lse[b, h, sl, None]).exp_()   # [bq, N]
                    dv[b, h] += _mm_t(p.t(), g.t())                         # [N, D]
                    ds = _mm_t(g, v_h).sub_(delta[b, h, sl, None]).mul_(p)  # [bq, N]
                    dq[b, h, sl] = _mm_t(ds, k_t).mul_(scale)
                    dk[b, h] += _mm_t(ds.t(), q_s.t())
        return dq, dk, dv, None, None


def onednn_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                     block: int = 256) -> torch.Tensor:
    """``softmax(q k^T * scale) v`` with oneDNN GEMMs in blocks of ``block`` queries.

    Args:
        q, k, v: float32 CPU ``[B, heads, N, D]`` (views are fine).
        scale: logit scale.
        block: queries per block (256 was fastest at 1568 tokens here; 128-512 within 10 %).

    Returns:
        ``[B, heads, N, D]`` (stored as ``[B, N, heads, D]``).
    """
    if q.device.type != 'cpu' or q.dtype != torch.float32:
        raise ValueError(f'onednn attention takes float32 CPU tensors, got {q.dtype} on '
                         f'{q.device}')
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _OneDnnAttention.apply(q, k, v, float(scale), int(block))
    with torch.no_grad():
        return _forward_blocks(q, k, v, float(scale), int(block))[0]
