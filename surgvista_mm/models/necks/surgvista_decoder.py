"""SurgVISTA's light decoders: predict features of the masked tokens from the visible ones."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModule
from timm.layers import trunc_normal_
from torch import nn
from torch.utils.checkpoint import checkpoint

from surgvista_mm.registry import MODELS
from ..utils.linear import Linear
from ..utils.pos_embed import build_pos_table
from ..utils.tokens import gather_tokens, split_indices
from ..utils.transformer import SurgVistaBlock, init_vit_weights


@MODELS.register_module()
class SurgVistaDecoder(BaseModule):
    """Decoder of one SurgVISTA branch (reconstruction or distillation).

    Input sequence: ``[proj(visible) + pos(visible), mask_token + pos(masked)]`` (each group in
    original token order), then blocks, LayerNorm and a Linear ``head`` on the masked tokens.

    State-dict keys: ``proj``, ``mask_token``, ``blocks.*``, ``norm``, ``head`` (the fixed
    ``pos_embed`` table is a non-persistent buffer).

    Args:
        in_dims: encoder width.
        embed_dims: decoder width.
        depth: number of blocks.
        num_heads: attention heads.
        out_dims: output channels per masked token (1536 pixels, or the teacher width).
        token_grid: token grid ``(T', H', W')`` of the encoder.
        mlp_ratio: MLP hidden width / ``embed_dims``.
        qkv_bias: learn q/v biases.
        drop_path_rate: maximal stochastic depth (linspace over blocks).
        norm_eps: LayerNorm epsilon.
        pos_embed_type: ``'sincos3d'`` or ``'sincos1d_videomae'``.
        fused_attn: attention implementation ('auto', True/'sdpa', False/'math', 'sdpa-math';
            see ``SurgVistaViT``).
        linear_impl: GEMM implementation of every Linear ('auto', 'torch', 'onednn'; see
            ``SurgVistaViT``).
        with_cp: activation checkpointing of each block while training.
        init_cfg: mmengine init config.
    """

    def __init__(self, in_dims: int = 768, embed_dims: int = 384, depth: int = 4,
                 num_heads: int = 6, out_dims: int = 1536,
                 token_grid: Sequence[int] = (8, 14, 14), mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.0, norm_eps: float = 1e-6,
                 pos_embed_type: str = 'sincos3d', fused_attn: Union[bool, str] = 'auto',
                 linear_impl: str = 'auto', with_cp: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(token_grid) != 3:
            raise ValueError(f'token_grid must be (T\', H\', W\'), got {token_grid!r}')
        self.token_grid = tuple(int(v) for v in token_grid)
        self.num_tokens = int(np.prod(self.token_grid))
        self.with_cp = with_cp
        self.proj = Linear(in_dims, embed_dims, impl=linear_impl)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.register_buffer('pos_embed', build_pos_table(pos_embed_type, embed_dims,
                                                          self.token_grid), persistent=False)
        rates = np.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            SurgVistaBlock(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                           drop_path_rate=rate, norm_eps=norm_eps, fused_attn=fused_attn,
                           linear_impl=linear_impl)
            for rate in rates])
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.head = Linear(embed_dims, out_dims, impl=linear_impl)
        self.apply(init_vit_weights)
        trunc_normal_(self.mask_token, std=0.02)

    def forward(self, visible: torch.Tensor, mask: torch.Tensor,
                targets: Optional[torch.Tensor] = None,
                num_targets: Optional[int] = None) -> torch.Tensor:
        """Predict the masked tokens (or a subset of them).

        Args:
            visible: encoder output ``[B, N_visible, in_dims]`` (visible tokens, original order).
            mask: bool ``[B, N]``, True = masked.
            targets: bool ``[B, N]``, a subset of ``mask`` (``num_targets`` per row): predict only
                these tokens, the others masked tokens are left out of the decoder's sequence
                (VideoMAE V2's decoder masking; see ``SurgVistaPretrainer.decoder_keep_ratio``).
                None: every masked token (the default, SurgVISTA's decoder).
            num_targets: ``targets`` per row (required with ``targets``).

        Returns:
            ``[B, N_masked, out_dims]`` (or ``[B, num_targets, out_dims]``) in original order of
            the predicted tokens.
        """
        batch, num_visible, _ = visible.shape
        if tuple(mask.shape) != (batch, self.num_tokens):
            raise ValueError(f'mask must be [{batch}, {self.num_tokens}], got {tuple(mask.shape)}')
        ids_visible, ids_masked = split_indices(mask, num_visible)
        if targets is not None:
            if num_targets is None or tuple(targets.shape) != tuple(mask.shape):
                raise ValueError(f'targets must be a bool [{batch}, {self.num_tokens}] subset of '
                                 f'mask with num_targets given, got {tuple(targets.shape)}, '
                                 f'num_targets={num_targets}')
            ids_masked = split_indices(targets, self.num_tokens - num_targets)[1]
        x = self.proj(visible)
        pos = self.pos_embed.to(dtype=x.dtype)
        x = torch.cat([x + gather_tokens(pos, ids_visible),
                       self.mask_token.to(x.dtype) + gather_tokens(pos, ids_masked)], dim=1)
        for block in self.blocks:
            if self.with_cp and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.head(self.norm(x[:, -ids_masked.shape[1]:]))
