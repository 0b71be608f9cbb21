"""SurgVISTA's video ViT: tubelet embedding, fixed sin-cos positions, joint space-time attention."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn
from torch.utils.checkpoint import checkpoint

from surgvista_mm.registry import MODELS
from ..utils.pos_embed import build_pos_table
from ..utils.tokens import count_masked, gather_tokens, split_indices
from ..utils.transformer import SurgVistaBlock, init_vit_weights

_FIXED_KEYS = ('pos_embed',)  # fixed tables some checkpoints store; always recomputed here


def _pair(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ValueError(f'{name} must be an int or a pair, got {value!r}')
    return int(value[0]), int(value[1])


class TubeletEmbed(nn.Module):
    """Conv3d tubelet embedding (kernel = stride = ``(tubelet, patch, patch)``, with bias).

    ``forward``: ``[B, C, T, H, W]`` -> ``[B, T'*H'*W', D]`` in t-major, then h, then w order.
    """

    def __init__(self, in_channels: int, embed_dims: int, tubelet_size: int,
                 patch_size: Tuple[int, int]) -> None:
        super().__init__()
        kernel = (tubelet_size, *patch_size)
        self.proj = nn.Conv3d(in_channels, embed_dims, kernel_size=kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


@MODELS.register_module()
class SurgVistaViT(BaseModule):
    """Video ViT with joint space-time attention (SurgVISTA / VideoMAE encoder layout).

    Args:
        img_size: input height/width in pixels (int or pair).
        patch_size: spatial patch size in pixels.
        in_channels: input channels.
        num_frames: input frames ``T``.
        tubelet_size: frames per token.
        embed_dims: width ``D``.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``D``.
        qkv_bias: learn q/v biases.
        drop_rate: dropout in blocks.
        attn_drop_rate: attention dropout.
        drop_path_rate: maximal stochastic depth (linspace over blocks).
        norm_eps: LayerNorm epsilon.
        pos_embed_type: ``'sincos3d'`` (SurgVISTA) or ``'sincos1d_videomae'`` (VideoMAE/MVD).
        final_norm: apply the final LayerNorm ``norm`` (pre-training); False for fine-tuning.
        fused_attn: attention implementation: 'auto' (per device / dtype, see
            ``utils.transformer.choose_attention``), True / 'sdpa' (fused), False / 'math'
            (explicit reference path) or 'sdpa-math'.
        with_cp: activation checkpointing of each block while training.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=..., prefix=...)``
            loads strictly (see :meth:`init_weights`).
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 224,
                 patch_size: Union[int, Sequence[int]] = 16, in_channels: int = 3,
                 num_frames: int = 16, tubelet_size: int = 2, embed_dims: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_eps: float = 1e-6,
                 pos_embed_type: str = 'sincos3d', final_norm: bool = True,
                 fused_attn: Union[bool, str] = 'auto', with_cp: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.img_size = _pair(img_size, 'img_size')
        self.patch_size = _pair(patch_size, 'patch_size')
        if num_frames % tubelet_size or any(s % p for s, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f'num_frames {num_frames} / img_size {self.img_size} must be '
                             f'multiples of tubelet_size {tubelet_size} / patch_size '
                             f'{self.patch_size}')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.embed_dims = embed_dims
        self.depth = depth
        self.final_norm = final_norm
        self.with_cp = with_cp
        self.pos_embed_type = pos_embed_type
        self.token_grid = (num_frames // tubelet_size, self.img_size[0] // self.patch_size[0],
                           self.img_size[1] // self.patch_size[1])
        self.num_tokens = int(np.prod(self.token_grid))

        self.patch_embed = TubeletEmbed(in_channels, embed_dims, tubelet_size, self.patch_size)
        self.register_buffer('pos_embed', build_pos_table(pos_embed_type, embed_dims,
                                                          self.token_grid), persistent=False)
        rates = np.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            SurgVistaBlock(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                           drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                           drop_path_rate=rate, norm_eps=norm_eps, fused_attn=fused_attn)
            for rate in rates])
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps) if final_norm else nn.Identity()
        self.apply(init_vit_weights)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                num_masked: Optional[int] = None) -> torch.Tensor:
        """Encode a clip, keeping the visible tokens only when a mask is given.

        Args:
            x: normalised clip ``[B, C, T, H, W]``.
            mask: bool ``[B, N]``, True = masked, same count per row; None keeps all tokens.
            num_masked: masked tokens per row when known on the host (avoids reading a device
                mask back); None counts them from ``mask``.

        Returns:
            ``[B, N_visible, D]`` (visible tokens in original order), or ``[B, N, D]``.
        """
        expected = (self.in_channels, self.num_frames, *self.img_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f'SurgVistaViT expects input [B, {", ".join(map(str, expected))}], '
                             f'got {tuple(x.shape)}')
        x = self.patch_embed(x)
        x = x + self.pos_embed.to(dtype=x.dtype)
        if mask is not None:
            if tuple(mask.shape) != (x.shape[0], self.num_tokens):
                raise ValueError(f'mask must be [B, {self.num_tokens}], got {tuple(mask.shape)}')
            if num_masked is None:
                num_masked = count_masked(mask)
            visible, _ = split_indices(mask, self.num_tokens - num_masked)
            x = gather_tokens(x, visible)
        for block in self.blocks:
            if self.with_cp and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.norm(x)

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id for layer-wise LR decay (mmpretrain protocol).

        Layer 0: patch embedding / position table; block ``k``: ``k + 1``; everything else
        (final norm, parameters outside this backbone): ``depth + 1``.

        Returns:
            ``(layer_depth, num_layers)`` with ``num_layers = depth + 2``.
        """
        num_layers = self.depth + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(('patch_embed', 'pos_embed', 'cls_token')):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` init_cfg is loaded strictly with :meth:`load_pretrained`.

        The weights are initialised at construction already; without an init_cfg nothing
        changes here.
        """
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            unknown = set(cfg) - {'type', 'checkpoint', 'prefix'}
            if unknown or 'checkpoint' not in cfg:
                raise KeyError(f'SurgVistaViT Pretrained init_cfg takes checkpoint and prefix '
                               f'(weights are read on the CPU); got keys {sorted(cfg)}')
            self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix', 'backbone.'))
            self._is_init = True
            return
        super().init_weights()

    def load_pretrained(self, path: str, prefix: str = 'backbone.') -> None:
        """Load encoder weights strictly from a converted (or plain) checkpoint file.

        Keys are taken from ``prefix`` when any key carries it (otherwise all keys). A stored
        ``pos_embed`` is dropped (fixed, recomputed) and, with ``final_norm=False``, so is the
        pre-training ``norm.*`` (fine-tuning discards it); both are logged. Any other unexpected
        or missing key, or a shape mismatch, raises naming the file and keys.
        """
        from surgvista_mm.checkpoint.state_dict import (check_state_dict, unwrap_state_dict)
        from surgvista_mm.compat import load_external_weights
        state = unwrap_state_dict(load_external_weights(path), path)
        if prefix and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        dropped = [k for k in state if k in _FIXED_KEYS
                   or (not self.final_norm and k.startswith('norm.'))]
        for key in dropped:
            state.pop(key)
        target = {k: v.shape for k, v in self.state_dict().items()}
        check_state_dict(state, target, path)
        self.load_state_dict(state, strict=True)
        print_log(f'SurgVistaViT: loaded {len(state)} tensors from {path}'
                  + (f'; dropped {dropped}' if dropped else ''), logger='current')
