"""Transformer block shared by the SurgVISTA encoder and both decoders.

Parameter layout (kept for checkpoint compatibility with the published models): ``norm1``,
``attn.qkv`` (Linear without bias) plus ``attn.q_bias`` / ``attn.v_bias`` (the k bias is zero),
``attn.proj``, ``norm2``, ``mlp.fc1`` / ``mlp.fc2``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from .linear import (Linear, cpu_has_amx_bf16, linear, mkl_penalised_cpu,
                     onednn_linear_available)
from .onednn_attention import onednn_attention
from .recompute import Mlp, norm_linear


ATTENTION_IMPLS = ('auto', 'sdpa', 'sdpa-math', 'math', 'onednn')


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
              dropout_p: float = 0.0, impl: str = 'sdpa') -> torch.Tensor:
    """``softmax(q k^T * scale) v`` by one of several implementations (same math).

    Args:
        q, k, v: ``[B, heads, N, head_dims]``.
        scale: logit scale (``head_dims ** -0.5``).
        dropout_p: dropout on the attention weights.
        impl: 'sdpa' (``F.scaled_dot_product_attention``, PyTorch picks the backend),
            'sdpa-math' (SDPA's math backend only), 'math' (explicit matmuls: under autocast
            they run in the autocast dtype; the softmax runs in the dtype autocast gives it:
            float32 on CUDA, the logits' dtype on CPU), 'onednn' (float32 CPU only: oneDNN
            GEMMs in query blocks, flash-style backward; :mod:`.onednn_attention`), or 'auto'
            (:func:`choose_attention`).

    Returns:
        ``[B, heads, N, head_dims]``.
    """
    if impl == 'auto':
        impl = choose_attention(q, dropout_p)
    if impl == 'sdpa':
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
    if impl == 'sdpa-math':
        from torch.nn.attention import SDPBackend, sdpa_kernel
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
    if impl == 'onednn':
        if dropout_p:
            raise ValueError("attention impl 'onednn' has no attention dropout; use 'sdpa'")
        return onednn_attention(q, k, v, scale)
    if impl == 'math':
        attn = (q * scale) @ k.transpose(-2, -1)
        attn = F.dropout(attn.softmax(dim=-1), p=dropout_p)
        return attn @ v
    raise ValueError(f'attention impl must be one of {ATTENTION_IMPLS}, got {impl!r}')


#: shortest sequence 'auto' treats as long on the CPU ('onednn' in float32 where MKL is
#: penalised, 'sdpa' under bf16 autocast on AMX CPUs)
ONEDNN_MIN_TOKENS = 1024


def choose_attention(q: torch.Tensor, dropout_p: float = 0.0) -> str:
    """The implementation 'auto' uses for a query ``q`` ``[B, heads, N, head_dims]``.

    Measured with ``tools/benchmark/attention.py`` (forward + backward, 1 thread;
    docs/benchmarks.md). On CUDA: 'sdpa' (its flash / memory-efficient / cuDNN kernels).

    On an AMD EPYC (AVX-512 and avx512_bf16, no AMX), where MKL runs AVX2 code: under bf16/fp16
    autocast the explicit path ('math': oneDNN bf16 GEMMs) beat PyTorch's CPU flash kernel at
    every SurgVISTA shape (1.17-2.32x); in float32 'onednn' (oneDNN GEMMs in query blocks) beat
    the flash kernel at 1568 tokens (1.23-1.25x) and lost at 196-240 tokens.

    On an Intel Xeon with AMX (2026-12-04): in float32 the flash kernel won at every shape
    ('onednn' 0.73-0.84x); under bf16 autocast 'math' won at 196-240 tokens (1.66-1.81x) and
    the flash kernel (AMX) at 1568 tokens ('math' 0.70-0.86x; the flash kernel also stores no
    ``[N, N]`` matrix for backward).

    So, when gradients are recorded: CPU autocast -> 'sdpa' for sequences of
    :data:`ONEDNN_MIN_TOKENS` or more on AMX CPUs under bf16, else 'math'; CPU float32 ->
    'onednn' from :data:`ONEDNN_MIN_TOKENS` tokens on CPUs where MKL is penalised
    (:func:`~.linear.mkl_penalised_cpu`), else 'sdpa'. Forward only (``no_grad`` /
    ``inference_mode``: evaluation, online inference) always goes to 'sdpa': for one ViT-B clip
    (1568 tokens, 2 threads) the flash kernel's forward took 3.2 CPU-s against 25 for 'onednn'
    in float32, and 1.6-2.1 against 3.1-3.3 for 'math' in bf16 (docs/benchmarks.md, "Inference
    on a CPU"). Attention dropout and ``torch.compile`` always go to 'sdpa'.
    """
    if (q.device.type != 'cpu' or torch.compiler.is_compiling()
            or not torch.is_grad_enabled()):
        return 'sdpa'
    long_sequence = q.shape[-2] >= ONEDNN_MIN_TOKENS
    if torch.is_autocast_enabled('cpu'):
        if (long_sequence and torch.get_autocast_dtype('cpu') == torch.bfloat16
                and cpu_has_amx_bf16()):
            return 'sdpa'
        return 'math'
    if (q.dtype == torch.float32 and not dropout_p and long_sequence
            and onednn_linear_available() and mkl_penalised_cpu()):
        return 'onednn'
    return 'sdpa'


class QVBiasAttention(nn.Module):
    """Multi-head self-attention with a bias on q and v only.

    Args:
        embed_dims: channel count ``C``.
        num_heads: number of heads; ``C`` must be divisible by it.
        qkv_bias: learn ``q_bias`` and ``v_bias`` (k bias is always zero).
        attn_drop: dropout on attention weights (training only).
        proj_drop: dropout after the output projection.
        fused_attn: True: ``F.scaled_dot_product_attention``; False: the explicit
            softmax(q k^T * scale) v reference path; or an :data:`ATTENTION_IMPLS` name
            ('auto': chosen per device / dtype by :func:`choose_attention`).
        linear_impl: GEMM implementation of ``qkv`` and ``proj``, one of
            :data:`~surgvista_mm.models.utils.linear.LINEAR_IMPLS` ('auto': oneDNN for float32
            on CPU, see :mod:`surgvista_mm.models.utils.linear`).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0,
                 fused_attn: Union[bool, str] = True, linear_impl: str = 'auto') -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims ** -0.5
        if isinstance(fused_attn, bool):
            fused_attn = 'sdpa' if fused_attn else 'math'
        if fused_attn not in ATTENTION_IMPLS:
            raise ValueError(f'fused_attn must be a bool or one of {ATTENTION_IMPLS}, '
                             f'got {fused_attn!r}')
        self.attn_impl = fused_attn
        self.attn_drop = attn_drop
        self.qkv = Linear(embed_dims, embed_dims * 3, bias=False, impl=linear_impl)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = None
            self.v_bias = None
        self.proj = Linear(embed_dims, embed_dims, impl=linear_impl)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, norm: Optional[nn.LayerNorm] = None) -> torch.Tensor:
        """``x`` ``[B, N, C]`` -> ``[B, N, C]``; ``norm`` (the block's LayerNorm) is applied
        to ``x`` first, fused with the ``qkv`` projection (``recompute.norm_linear``: on the
        float32 training path its output is recomputed in backward, not stored)."""
        batch, num_tokens, channels = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        if norm is not None:
            qkv = norm_linear(x, norm, self.qkv.weight, bias, self.qkv.impl)
        else:
            qkv = linear(x, self.qkv.weight, bias, self.qkv.impl)
        qkv = qkv.reshape(batch, num_tokens, 3, self.num_heads, self.head_dims)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, N, head_dims] each
        drop = self.attn_drop if self.training else 0.0
        x = attention(q, k, v, self.scale, drop, self.attn_impl)
        x = x.transpose(1, 2).reshape(batch, num_tokens, channels)
        return self.proj_drop(self.proj(x))


class SurgVistaBlock(nn.Module):
    """Pre-norm transformer block: ``x + DropPath(Attn(LN(x)))``, ``x + DropPath(MLP(LN(x)))``.

    Args:
        embed_dims: channel count ``C``.
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP as a multiple of ``C``.
        qkv_bias: learn q/v biases.
        drop_rate: dropout after the attention projection and in the MLP.
        attn_drop_rate: dropout on attention weights.
        drop_path_rate: stochastic depth probability of this block.
        norm_eps: LayerNorm epsilon.
        fused_attn: attention implementation (see :class:`QVBiasAttention`).
        linear_impl: GEMM implementation of every Linear (see :class:`QVBiasAttention`).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_eps: float = 1e-6,
                 fused_attn: Union[bool, str] = True, linear_impl: str = 'auto') -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = QVBiasAttention(embed_dims, num_heads, qkv_bias=qkv_bias,
                                    attn_drop=attn_drop_rate, proj_drop=drop_rate,
                                    fused_attn=fused_attn, linear_impl=linear_impl)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop=drop_rate,
                       linear_impl=linear_impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, N, C]`` -> ``[B, N, C]``."""
        x = x + self.drop_path(self.attn(x, self.norm1))
        return x + self.drop_path(self.mlp(x, self.norm2))


def init_vit_weights(module: nn.Module) -> None:
    """ViT initialisation (use with ``module.apply``): xavier-uniform Linear weights with zero
    bias, unit/zero LayerNorm; the 3-D patch embedding is initialised like a Linear layer."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.Conv2d, nn.Conv3d)):
        nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
