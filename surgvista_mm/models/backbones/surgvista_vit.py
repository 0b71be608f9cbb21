"""SurgVISTA's video ViT: tubelet embedding, fixed sin-cos positions, joint space-time attention."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn
from torch.utils.checkpoint import checkpoint

from surgvista_mm.registry import MODELS
from ..utils.pos_embed import build_pos_table
from ..utils.tokens import count_masked, gather_tokens, split_indices
from ..utils.linear import linear
from ..utils.transformer import SurgVistaBlock, init_vit_weights

_FIXED_KEYS = ('pos_embed',)  # fixed tables some checkpoints store; always recomputed here


def _pair(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ValueError(f'{name} must be an int or a pair, got {value!r}')
    return int(value[0]), int(value[1])


class TubeletEmbed(nn.Module):
    """Tubelet embedding: a Conv3d (kernel = stride = ``(tubelet, patch, patch)``, with bias),
    computed as one GEMM under CPU autocast.

    The parameters are the Conv3d's (``proj.weight`` ``[D, C, t, p, p]``, ``proj.bias``). As the
    tubelets do not overlap, the convolution is a matrix product: the clip cut into tubelets
    (``[B, N, C*t*p*p]``, each in (c, t, h, w) order, the weight's) times
    ``proj.weight.view(D, -1)``. Same sums as the convolution, in another order. Under bf16
    autocast on the CPU it ran 3.7x faster (a GEMM on AMX instead of oneDNN's convolution and
    its weight-gradient kernel: 40 vs 150 ms forward + backward at batch 2, 16x224^2, 1 thread,
    Intel Xeon); in float32 it gained only 1.2x and would move the golden parity outputs by
    ~3e-6 (summation order), so float32 and CUDA keep the convolution.

    ``forward``: ``[B, C, T, H, W]`` -> ``[B, T'*H'*W', D]`` in t-major, then h, then w order.
    """

    def __init__(self, in_channels: int, embed_dims: int, tubelet_size: int,
                 patch_size: Tuple[int, int]) -> None:
        super().__init__()
        self.kernel = (tubelet_size, *patch_size)
        self.proj = nn.Conv3d(in_channels, embed_dims, kernel_size=self.kernel,
                              stride=self.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        pt, ph, pw = self.kernel
        if t % pt or h % ph or w % pw:
            raise ValueError(f'TubeletEmbed: input {tuple(x.shape)} is not divisible into '
                             f'tubelets {self.kernel}')
        if (x.device.type != 'cpu' or not torch.is_autocast_enabled('cpu')
                or self.proj._forward_hooks or self.proj._forward_pre_hooks):
            return self.proj(x).flatten(2).transpose(1, 2)
        tubelets = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
        tubelets = tubelets.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * pt * ph * pw)
        weight = self.proj.weight.reshape(self.proj.out_channels, -1)
        return linear(tubelets, weight, self.proj.bias)


OUT_TYPES = ('tokens', 'pooled', 'featmap')
POS_EMBED_TYPES = ('sincos3d', 'sincos1d_videomae', 'learned_space_time')


def _norm_eps(norm_cfg: Optional[Dict], norm_eps: Optional[float]) -> float:
    """LayerNorm epsilon from mmaction2's ``norm_cfg`` (``dict(type='LN', eps=...)``) or
    ``norm_eps``; anything else (another norm type, other keys, disagreeing values) raises."""
    if norm_cfg is None:
        return 1e-6 if norm_eps is None else float(norm_eps)
    cfg = dict(norm_cfg)
    if cfg.get('type') not in ('LN', 'LayerNorm') or set(cfg) - {'type', 'eps'}:
        raise ValueError(f"SurgVistaViT: norm_cfg supports dict(type='LN', eps=...) only, "
                         f'got {norm_cfg!r}')
    eps = float(cfg.get('eps', 1e-5))  # mmcv's LN default, as mmaction2 builds it
    if norm_eps is not None and float(norm_eps) != eps:
        raise ValueError(f'SurgVistaViT: norm_eps={norm_eps} disagrees with norm_cfg eps={eps}')
    return eps


@MODELS.register_module()
class SurgVistaViT(BaseModule):
    """Video ViT with joint space-time attention (SurgVISTA / VideoMAE encoder layout).

    Also a drop-in for mmaction2's ``VisionTransformer``: its constructor arguments that mean
    something here are accepted under the same names; one this model cannot honour raises
    (``qk_scale`` other than ``head_dims ** -0.5``, ``init_values`` > 0 (layer scale),
    ``use_learnable_pos_emb=True``, ``use_mean_pooling=False`` (its ``x[:, 0]`` read-out),
    ``pretrained`` (use ``init_cfg``), a non-LayerNorm ``norm_cfg``).

    Args:
        img_size: input height/width in pixels (int or pair).
        patch_size: spatial patch size in pixels.
        in_channels: input channels.
        num_frames: input frames ``T``.
        tubelet_size: frames per token (1: a 2-D patch embedding applied to every frame).
        embed_dims: width ``D``.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``D``.
        qkv_bias: learn q/v biases.
        qk_scale: mmaction2's argument; only None or the default ``head_dims ** -0.5``.
        drop_rate: dropout after the position table and in blocks.
        attn_drop_rate: attention dropout.
        drop_path_rate: maximal stochastic depth (linspace over blocks).
        norm_eps: LayerNorm epsilon (default 1e-6).
        norm_cfg: mmaction2's ``dict(type='LN', eps=...)``, an alternative to ``norm_eps``.
        pos_embed_type: ``'sincos3d'`` (SurgVISTA), ``'sincos1d_videomae'`` (VideoMAE, MVD,
            UMT, mmaction2's ``VisionTransformer``; fixed tables, recomputed, never loaded) or
            ``'learned_space_time'`` (image models inflated to video: a learned spatial table
            ``pos_embed_spatial [1, H'W', D]`` shared by every frame, from the image model,
            plus a learned ``pos_embed_temporal [1, T', D]`` that starts at zero).
        out_type: what :meth:`forward` returns: ``'tokens'`` ``[B, N, D]`` (pre-training,
            :class:`SurgVistaClsHead`), ``'pooled'`` ``[B, D]`` (mean over tokens, then
            ``fc_norm`` when ``fc_norm``; mmaction2's ``use_mean_pooling=True``, what
            ``TimeSformerHead`` expects) or ``'featmap'`` ``[B, D, T', H', W']`` (``I3DHead``
            and other 3-D heads). Default: ``'featmap'`` with ``return_feat_map=True``,
            ``'pooled'`` with ``use_mean_pooling=True``, else ``'tokens'``.
        final_norm: final LayerNorm ``norm`` on the tokens. Default (None): True for
            ``'tokens'`` (pre-training), False otherwise; ``'pooled'`` never has one (its norm
            is ``fc_norm``, after the mean, as in mmaction2).
        fc_norm: with ``out_type='pooled'``, a LayerNorm ``fc_norm`` after the mean.
        use_mean_pooling: mmaction2's argument (None: not given); True requires a pooled or
            feature-map output, False is refused.
        return_feat_map: mmaction2's argument (None: not given); True means ``'featmap'``.
        init_values: mmaction2's layer-scale init; only 0.
        use_learnable_pos_emb: mmaction2's argument; only False (see ``pos_embed_type``).
        pretrained: mmaction2's argument; only None (use ``init_cfg``).
        fused_attn: attention implementation: 'auto' (per device / dtype, see
            ``utils.transformer.choose_attention``), True / 'sdpa' (fused), False / 'math'
            (explicit reference path) or 'sdpa-math'.
        linear_impl: GEMM implementation of every Linear: 'auto' (oneDNN for float32 on CPU,
            where it ran 1.7-2.1x faster than PyTorch's MKL path; ``F.linear`` elsewhere; see
            ``models.utils.linear``), 'torch' or 'onednn'.
        with_cp: activation checkpointing of each block while training.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=..., prefix=...)``
            loads strictly (see :meth:`init_weights`).
    """

    def __init__(self, img_size: Union[int, Sequence[int]] = 224,
                 patch_size: Union[int, Sequence[int]] = 16, in_channels: int = 3,
                 num_frames: int = 16, tubelet_size: int = 2, embed_dims: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_eps: Optional[float] = None,
                 norm_cfg: Optional[Dict] = None,
                 pos_embed_type: str = 'sincos3d', out_type: Optional[str] = None,
                 final_norm: Optional[bool] = None, fc_norm: bool = True,
                 use_mean_pooling: Optional[bool] = None,
                 return_feat_map: Optional[bool] = None, init_values: float = 0.0,
                 use_learnable_pos_emb: bool = False, pretrained: Optional[str] = None,
                 fused_attn: Union[bool, str] = 'auto', linear_impl: str = 'auto',
                 with_cp: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.img_size = _pair(img_size, 'img_size')
        self.patch_size = _pair(patch_size, 'patch_size')
        if num_frames % tubelet_size or any(s % p for s, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f'num_frames {num_frames} / img_size {self.img_size} must be '
                             f'multiples of tubelet_size {tubelet_size} / patch_size '
                             f'{self.patch_size}')
        if pos_embed_type not in POS_EMBED_TYPES:
            raise ValueError(f'pos_embed_type must be one of {POS_EMBED_TYPES}, '
                             f'got {pos_embed_type!r}')
        out_type = self._resolve_out_type(out_type, use_mean_pooling, return_feat_map)
        if final_norm is None:
            final_norm = out_type == 'tokens'
        if final_norm and out_type == 'pooled':
            raise ValueError("SurgVistaViT: out_type='pooled' is mean -> fc_norm with no final "
                             'norm before it (mmaction2 use_mean_pooling); final_norm must be '
                             'False')
        head_dims = embed_dims // num_heads
        if qk_scale is not None and abs(qk_scale - head_dims ** -0.5) > 1e-12:
            raise ValueError(f'SurgVistaViT: qk_scale={qk_scale} is not supported (only the '
                             f'default head_dims ** -0.5 = {head_dims ** -0.5})')
        if init_values:
            raise ValueError(f'SurgVistaViT: init_values={init_values} (layer scale) is not '
                             'supported')
        if use_learnable_pos_emb:
            raise ValueError('SurgVistaViT: use_learnable_pos_emb=True is not supported; the '
                             "video tables are fixed (pos_embed_type='sincos1d_videomae' is "
                             "mmaction2's), 'learned_space_time' is for inflated image models")
        if pretrained is not None:
            raise ValueError("SurgVistaViT: pretrained= is not supported; use init_cfg=dict("
                             "type='Pretrained', checkpoint=...) with a converted checkpoint")
        eps = _norm_eps(norm_cfg, norm_eps)
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.embed_dims = embed_dims
        self.depth = depth
        self.out_type = out_type
        self.final_norm = final_norm
        self.with_cp = with_cp
        self.pos_embed_type = pos_embed_type
        self.token_grid = (num_frames // tubelet_size, self.img_size[0] // self.patch_size[0],
                           self.img_size[1] // self.patch_size[1])
        self.num_tokens = int(np.prod(self.token_grid))

        self.patch_embed = TubeletEmbed(in_channels, embed_dims, tubelet_size, self.patch_size)
        if pos_embed_type == 'learned_space_time':
            t, h, w = self.token_grid
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, embed_dims))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, embed_dims))
            self.pos_embed = None
        else:
            self.register_buffer('pos_embed', build_pos_table(pos_embed_type, embed_dims,
                                                              self.token_grid),
                                 persistent=False)
        self.pos_drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        rates = np.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            SurgVistaBlock(embed_dims, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                           drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                           drop_path_rate=rate, norm_eps=eps, fused_attn=fused_attn,
                           linear_impl=linear_impl)
            for rate in rates])
        self.norm = nn.LayerNorm(embed_dims, eps=eps) if final_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm(embed_dims, eps=eps) \
            if out_type == 'pooled' and fc_norm else nn.Identity()
        self.apply(init_vit_weights)
        if pos_embed_type == 'learned_space_time':
            nn.init.trunc_normal_(self.pos_embed_spatial, std=0.02)  # temporal stays at zero

    @staticmethod
    def _resolve_out_type(out_type: Optional[str], use_mean_pooling: Optional[bool],
                          return_feat_map: Optional[bool]) -> str:
        """``out_type`` from the argument and mmaction2's two flags; disagreement raises."""
        if use_mean_pooling is False:
            raise ValueError('SurgVistaViT: use_mean_pooling=False (mmaction2 returns x[:, 0], '
                             "the first patch token) is not supported; use out_type='tokens'")
        if out_type is None:
            out_type = 'featmap' if return_feat_map else \
                'pooled' if use_mean_pooling else 'tokens'
        if out_type not in OUT_TYPES:
            raise ValueError(f'out_type must be one of {OUT_TYPES}, got {out_type!r}')
        if return_feat_map and out_type != 'featmap':
            raise ValueError(f"SurgVistaViT: return_feat_map=True contradicts out_type="
                             f"{out_type!r} (use out_type='featmap')")
        if use_mean_pooling and out_type == 'tokens':
            raise ValueError("SurgVistaViT: use_mean_pooling=True contradicts out_type='tokens' "
                             "(use out_type='pooled')")
        return out_type

    def position_table(self) -> torch.Tensor:
        """The position table ``[1, N, D]`` added to the embedded tokens."""
        if self.pos_embed is not None:
            return self.pos_embed
        t, h, w = self.token_grid
        spatial = self.pos_embed_spatial.repeat(1, t, 1)  # frame-major: [s_0..s_hw] per frame
        temporal = self.pos_embed_temporal.repeat_interleave(h * w, dim=1)
        return spatial + temporal

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                num_masked: Optional[int] = None) -> torch.Tensor:
        """Encode a clip, keeping the visible tokens only when a mask is given.

        Args:
            x: normalised clip ``[B, C, T, H, W]``.
            mask: bool ``[B, N]``, True = masked, same count per row; None keeps all tokens.
                Only with ``out_type='tokens'``.
            num_masked: masked tokens per row when known on the host (avoids reading a device
                mask back); None counts them from ``mask``.

        Returns:
            per ``out_type``: ``'tokens'``: ``[B, N_visible, D]`` (visible tokens in original
            order) or ``[B, N, D]``; ``'pooled'``: ``[B, D]``; ``'featmap'``:
            ``[B, D, T', H', W']``.
        """
        expected = (self.in_channels, self.num_frames, *self.img_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f'SurgVistaViT expects input [B, {", ".join(map(str, expected))}], '
                             f'got {tuple(x.shape)}')
        x = self.patch_embed(x)
        x = self.pos_drop(x + self.position_table().to(dtype=x.dtype))
        if mask is not None:
            if self.out_type != 'tokens':
                raise ValueError(f"a token mask needs out_type='tokens', not {self.out_type!r}")
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
        x = self.norm(x)
        if self.out_type == 'pooled':
            return self.fc_norm(x.mean(dim=1))
        if self.out_type == 'featmap':
            return x.transpose(1, 2).reshape(x.shape[0], self.embed_dims, *self.token_grid)
        return x

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
            if cfg['checkpoint'] is None:  # explicit: train from scratch (random init)
                print_log('SurgVistaViT: init_cfg.checkpoint=None, encoder starts from random '
                          'weights', logger='current')
            else:
                self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix', 'backbone.'))
            self._is_init = True
            return
        super().init_weights()

    def load_pretrained(self, path: str, prefix: str = 'backbone.') -> None:
        """Load encoder weights strictly from a converted (or plain) checkpoint file, or
        directly from a pre-training checkpoint of this project (``work_dirs/.../epoch_N.pth``:
        its ``backbone.*`` tensors; decoders, heads and teacher are ignored).

        Keys are taken from ``prefix`` when any key carries it (otherwise all keys). A stored
        ``pos_embed`` is dropped (fixed, recomputed) and, with ``final_norm=False``, so is the
        pre-training ``norm.*`` (fine-tuning discards it); both are logged. With
        ``out_type='pooled'`` a missing ``fc_norm.*`` keeps its initialisation (logged). Any other
        unexpected or missing key, or a shape mismatch, raises naming the file and keys.
        """
        from surgvista_mm.checkpoint.state_dict import (check_state_dict, unwrap_state_dict)
        from surgvista_mm.checkpoint.safe_load import load_checkpoint_file
        # weights_only=True; this project's own pre-training checkpoints (epoch_N.pth) load too
        state = unwrap_state_dict(load_checkpoint_file(path), path)
        if prefix and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        dropped = [k for k in state if k in _FIXED_KEYS
                   or (not self.final_norm and k.startswith('norm.'))]
        for key in dropped:
            state.pop(key)
        target = {k: v.shape for k, v in self.state_dict().items()}
        # out_type='pooled' adds a new fc_norm that pre-training checkpoints do not have
        fresh = check_state_dict(state, target, path,
                                 allow_missing=[k for k in target if k.startswith('fc_norm.')])
        self.load_state_dict(state, strict=not fresh)
        print_log(f'SurgVistaViT: loaded {len(state)} tensors from {path}'
                  + (f'; dropped {dropped}' if dropped else '')
                  + (f'; kept as initialised: {fresh}' if fresh else ''), logger='current')
