"""The EndoSSL ViT-L/16 image teacher in its published parameter layout."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.logging import print_log
from torch import nn

from surgvista_mm.checkpoint.state_dict import check_state_dict, strip_prefix, unwrap_state_dict
from surgvista_mm.checkpoint.safe_load import load_external_weights
from surgvista_mm.registry import MODELS
from ..utils.linear import Linear
from ..utils.recompute import Mlp
from ..utils.transformer import attention
from .base import BaseFrozenTeacher, optional_path, resolve_out_layer


_QKV = ('q', 'k', 'v')


class _QKVAttention(nn.Module):
    """Attention with one fused ``qkv`` Linear (with bias) and ``proj``, whose state dict holds
    the published separate ``q``, ``k``, ``v`` Linears.

    The fused GEMM reads the normalised input once: under autocast that is one cast of it to
    the autocast dtype instead of three. ``state_dict()`` splits ``qkv.{weight,bias}`` into
    ``q.* / k.* / v.*`` (rows ``[0:C]``, ``[C:2C]``, ``[2C:3C]``) and ``load_state_dict`` joins
    them again, so files keep the published layout.
    """

    def __init__(self, embed_dims: int, num_heads: int, linear_impl: str) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = Linear(embed_dims, 3 * embed_dims, impl=linear_impl)
        self.proj = Linear(embed_dims, embed_dims, impl=linear_impl)
        self.register_state_dict_post_hook(_split_qkv)
        self.register_load_state_dict_pre_hook(_join_qkv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        head_dims = c // self.num_heads
        # [B, N, 3C] -> 3 x [B, heads, N, head_dims]
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, head_dims).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v, head_dims ** -0.5,
                        impl='auto')  # per device / dtype (utils.transformer.choose_attention)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


def _split_qkv(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict post hook: ``qkv.*`` -> the published ``q.* / k.* / v.*`` (then ``proj.*``)."""
    own = [key for key in list(state_dict) if key.startswith(prefix)]
    entries = {key[len(prefix):]: state_dict.pop(key) for key in own}
    fused = {name: entries.pop(f'qkv.{name}').chunk(3, dim=0) for name in ('weight', 'bias')
             if f'qkv.{name}' in entries}
    for i, part in enumerate(_QKV):
        for name, chunks in fused.items():
            state_dict[f'{prefix}{part}.{name}'] = chunks[i]
    for key, value in entries.items():
        state_dict[prefix + key] = value


def _join_qkv(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict,
              strict: bool, missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
    """Load-state-dict pre hook: ``q.* / k.* / v.*`` -> ``qkv.*`` (left as they are unless all
    three are there, so that strict loading names what is missing)."""
    for name in ('weight', 'bias'):
        keys = [f'{prefix}{part}.{name}' for part in _QKV]
        if all(key in state_dict for key in keys):
            state_dict[f'{prefix}qkv.{name}'] = torch.cat([state_dict.pop(key) for key in keys])


class _TeacherBlock(nn.Module):
    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float, norm_eps: float,
                 linear_impl: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = _QKVAttention(embed_dims, num_heads, linear_impl)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), linear_impl=linear_impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed2d(nn.Module):
    def __init__(self, in_channels: int, embed_dims: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


@MODELS.register_module()
class SurgVistaImageTeacher(BaseFrozenTeacher):
    """EndoSSL ViT (MSN) image teacher, frozen.

    Keys: ``cls_token``, ``pos_embed`` (patches only; the cls token is concatenated after the
    position add, without position), ``patch_embed.proj``, ``blocks.N.{norm1, attn.q, attn.k,
    attn.v, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``.

    Args:
        img_size: square input size in pixels.
        patch_size: patch size in pixels.
        in_channels: input channels.
        embed_dims: width (1024 for ViT-L).
        depth: blocks (24).
        num_heads: heads (16).
        mlp_ratio: MLP ratio (4).
        norm_eps: epsilon of the blocks' LayerNorms (1e-5, PyTorch's default, as published).
        final_norm_eps: epsilon of the final ``norm`` (1e-6), used only with ``out_norm``.
        out_layer: block whose output is returned (-1: last). Later blocks are not run.
        out_norm: apply the final ``norm`` to that output (SurgVISTA: False).
        checkpoint: weight file loaded in :meth:`init_weights` (dict under ``state_dict``,
            ``model`` or ``module``, or bare; ``head.*`` dropped, ``backbone.`` stripped).
        frame_stride, autocast, autocast_dtype: see :class:`BaseFrozenTeacher`.
        linear_impl: GEMM implementation of every Linear ('auto': oneDNN for float32 on CPU;
            'torch'; 'onednn'; see ``models.utils.linear``).
    """

    store_cast_weights = True  # every Linear / Conv weight is used by F.linear / conv2d only

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3,
                 embed_dims: int = 1024, depth: int = 24, num_heads: int = 16,
                 mlp_ratio: float = 4.0, norm_eps: float = 1e-5, final_norm_eps: float = 1e-6,
                 out_layer: int = -1, out_norm: bool = False, checkpoint: Optional[str] = None,
                 frame_stride: int = 2, autocast: bool = False,
                 autocast_dtype: str = 'bfloat16', linear_impl: str = 'auto') -> None:
        super().__init__(frame_stride=frame_stride, autocast=autocast,
                         autocast_dtype=autocast_dtype)
        if img_size % patch_size:
            raise ValueError(f'img_size {img_size} is not a multiple of patch_size {patch_size}')
        self.img_size = img_size
        self.out_index = resolve_out_layer(out_layer, depth)
        self.out_norm = out_norm
        self.checkpoint = optional_path(checkpoint)
        num_patches = (img_size // patch_size) ** 2
        self.patch_embed = _PatchEmbed2d(in_channels, embed_dims, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dims))
        self.blocks = nn.ModuleList([_TeacherBlock(embed_dims, num_heads, mlp_ratio, norm_eps,
                                                   linear_impl) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dims, eps=final_norm_eps)
        self.freeze()

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """``[B', 3, H, W]`` -> patch tokens ``[B', H'*W', C]`` of block ``out_layer``."""
        if images.shape[-1] != self.img_size or images.shape[-2] != self.img_size:
            raise ValueError(f'teacher expects {self.img_size}x{self.img_size} frames, got '
                             f'{tuple(images.shape[-2:])}')
        x = self.patch_embed(images)  # the autocast dtype under autocast
        x = x + self.pos_embed.to(x.dtype)  # the stream stays in that dtype (no float32 copy)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        for block in self.blocks[:self.out_index + 1]:
            x = block(x)
        if self.out_norm:
            x = self.norm(x)
        return x[:, 1:]

    def init_weights(self) -> None:
        """Load ``checkpoint`` strictly (called by the algorithm's ``init_weights``)."""
        if self.checkpoint is None:
            print_log('SurgVistaImageTeacher: no checkpoint given, the teacher keeps random '
                      'weights (only meaningful in tests)', logger='current', level=30)
        else:
            self.load_checkpoint(self.checkpoint)
        self._is_init = True

    def load_checkpoint(self, path: str) -> None:
        """Load EndoSSL weights from ``path`` (weights_only); raises naming file and keys."""
        state = unwrap_state_dict(load_external_weights(path), path)
        state = strip_prefix(state, 'backbone.')
        dropped = sorted(k for k in state if k.startswith('head.'))
        state = {k: v for k, v in state.items() if not k.startswith('head.')}
        check_state_dict(state, {k: v.shape for k, v in self.state_dict().items()}, path)
        self.load_state_dict(state, strict=True)
        self.freeze()
        print_log(f'SurgVistaImageTeacher: loaded {len(state)} tensors from {path}'
                  + (f'; dropped {dropped}' if dropped else ''), logger='current')
