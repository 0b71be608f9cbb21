"""Converters whose tensors change shape on the way: mmaction2's ``VisionTransformer``, UMT
stage-1 and timm ViT image models (supervised ImageNet, DINO, MAE) -> :class:`SurgVistaViT`.

Each converter is ``fn(state, target) -> (tensors, mapped, dropped, notes)``: ``mapped`` lists
``(source key, target key)``, ``dropped`` ``(source key, reason)``, ``notes`` what was changed
beyond a rename (kernel inflation, split biases). ``target`` (shapes, may be None) decides the
temporal size of the patch-embedding kernel.

Layouts (keys and shapes of a ViT-B/16):

* ``mmaction2-vit`` (``mmaction.models.VisionTransformer``, alone or as ``backbone.*`` of a
  recognizer): ``patch_embed.projection.*`` ``[768, 3, 2, 16, 16]``; ``blocks.N.mlp.layers.0.0.*``
  / ``layers.1.*`` (mmcv FFN) = our ``mlp.fc1`` / ``mlp.fc2``; ``fc_norm`` (mean pooling) or
  ``norm``; a persistent 1-D sin-cos ``pos_embed`` (recomputed here); ``cls_head.*`` is kept as is.
* ``umt`` (Unmasked Teacher stage 1, VideoMAE layout, ``encoder.``/``backbone.`` prefix optional):
  ``patch_embed.proj.weight`` ``[768, 3, 1, 16, 16]`` (tubelet 1, 8 frames in its pre-training);
  CLIP-alignment decoders are dropped.
* ``timm-vit`` (timm ``vit_base_patch16_224`` layout): ``patch_embed.proj.weight``
  ``[768, 3, 16, 16]``; ``cls_token``; learned ``pos_embed`` ``[1, 197, 768]``; full
  ``attn.qkv.bias`` ``[2304]``; ``norm``; ``head`` / ``fc_norm``; MAE pre-training checkpoints
  add ``mask_token`` and ``decoder_*``.

Exact equivalences used: a 2-D patch kernel applied to every frame is a Conv3d kernel with
temporal size 1; the k part of a qkv bias adds ``q . b_k`` to every logit of a query's row, which
softmax ignores, so dropping it changes nothing. An approximation, reported as a note: a kernel
of temporal size 1 *inflated* to ``t`` frames (repeated, divided by ``t``: the same response to a
static clip).
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch

Tensors = Dict[str, torch.Tensor]
Result = Tuple[Tensors, List[Tuple[str, str]], List[Tuple[str, str]], List[str]]

_PATCH = 'backbone.patch_embed.proj.weight'


def _strip_any(state: Mapping[str, torch.Tensor], prefixes: Tuple[str, ...]) -> Tensors:
    """Strip the first of ``prefixes`` that some key carries (keys without it are kept)."""
    for prefix in prefixes:
        if any(k.startswith(prefix) for k in state):
            return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}
    return dict(state)


def inflate_patch_kernel(weight: torch.Tensor, frames: int) -> torch.Tensor:
    """``[D, C, p, p]`` or ``[D, C, 1, p, p]`` -> ``[D, C, frames, p, p]``, repeated over time
    and divided by ``frames`` (a static clip gives the image model's response)."""
    if weight.dim() == 4:
        weight = weight.unsqueeze(2)
    if weight.shape[2] == frames:
        return weight
    if weight.shape[2] != 1:
        raise ValueError(f'cannot inflate a patch kernel of temporal size {weight.shape[2]} '
                         f'to {frames}')
    return weight.repeat(1, 1, frames, 1, 1) / frames


def _patch_kernel(weight: torch.Tensor, target: Optional[Mapping[str, torch.Size]],
                  notes: List[str], source_key: str) -> torch.Tensor:
    frames = int(target[_PATCH][2]) if target is not None and _PATCH in target else \
        (weight.shape[2] if weight.dim() == 5 else 1)
    out = inflate_patch_kernel(weight, frames)
    src_t = weight.shape[2] if weight.dim() == 5 else None
    if weight.dim() == 4:
        notes.append(f'{source_key}: 2-D kernel {tuple(weight.shape)} applied per frame '
                     f'(Conv3d kernel of temporal size 1)' if frames == 1 else
                     f'{source_key}: 2-D kernel inflated to {frames} frames (repeated / {frames})')
    elif src_t != frames:
        notes.append(f'{source_key}: kernel of temporal size {src_t} inflated to {frames} '
                     f'frames (repeated / {frames}); an approximation, not an identity')
    return out


def convert_mmaction2_vit(state: Mapping[str, torch.Tensor],
                          target: Optional[Mapping[str, torch.Size]] = None) -> Result:
    """mmaction2 ``VisionTransformer`` (or a recognizer with one) -> ``backbone.*``."""
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    notes: List[str] = []
    recognizer = any(k.startswith('backbone.') for k in state)
    for key, value in state.items():
        if recognizer and not key.startswith('backbone.'):
            if key.startswith('cls_head.'):
                out[key] = value
                mapped.append((key, key))
            else:
                dropped.append((key, 'not part of an mmaction2 ViT recognizer'))
            continue
        name = key[len('backbone.'):] if recognizer else key
        if name == 'pos_embed':
            dropped.append((key, "fixed 1-D sin-cos table, recomputed (pos_embed_type="
                                 "'sincos1d_videomae')"))
            continue
        new = None
        if name.startswith('patch_embed.projection.'):
            new = 'patch_embed.proj.' + name[len('patch_embed.projection.'):]
            if new.endswith('weight'):
                value = _patch_kernel(value, target, notes, key)
        elif re.match(r'^blocks\.\d+\.mlp\.layers\.0\.0\.(weight|bias)$', name):
            new = name.replace('mlp.layers.0.0.', 'mlp.fc1.')
        elif re.match(r'^blocks\.\d+\.mlp\.layers\.1\.(weight|bias)$', name):
            new = name.replace('mlp.layers.1.', 'mlp.fc2.')
        elif re.match(r'^blocks\.\d+\.(norm1|norm2|attn\.(q_bias|v_bias|qkv\.weight|proj))',
                      name) or name.startswith(('fc_norm.', 'norm.')):
            new = name
        if new is None:
            dropped.append((key, 'not part of mmaction2 VisionTransformer'))
            continue
        if new.startswith('fc_norm.') and target is not None and 'backbone.' + new not in target:
            dropped.append((key, 'fc_norm, unused with return_feat_map=True (the target has no '
                                 "fc_norm: out_type='featmap')"))
            continue
        out['backbone.' + new] = value
        mapped.append((key, 'backbone.' + new))
    return out, mapped, dropped, notes


def _videomae_layout(name: str) -> bool:
    return bool(re.match(r'^(patch_embed\.proj\.|blocks\.\d+\.|norm\.)', name))


def convert_umt(state: Mapping[str, torch.Tensor],
                target: Optional[Mapping[str, torch.Size]] = None) -> Result:
    """UMT stage-1 student encoder (VideoMAE layout, tubelet 1) -> ``backbone.*``.

    The patch kernel is inflated to the target's tubelet size (the fine-tuning config uses 2:
    16 frames give UMT's pre-training grid of 8 x 14 x 14 tokens and its position table)."""
    state = _strip_any(state, ('module.', ))
    state = _strip_any(state, ('encoder.', 'backbone.'))
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    notes: List[str] = []
    for key, value in state.items():
        if key == 'pos_embed':
            dropped.append((key, "1-D sin-cos table, recomputed (pos_embed_type="
                                 "'sincos1d_videomae')"))
        elif key.startswith(('fc_norm.', 'head.')):
            dropped.append((key, 'classifier, not part of the encoder'))
        elif _videomae_layout(key):
            if key == 'patch_embed.proj.weight':
                value = _patch_kernel(value, target, notes, key)
            out['backbone.' + key] = value
            mapped.append((key, 'backbone.' + key))
        else:
            dropped.append((key, 'CLIP-alignment decoder / teacher, not part of the encoder'))
    return out, mapped, dropped, notes


def convert_timm_vit(state: Mapping[str, torch.Tensor],
                     target: Optional[Mapping[str, torch.Size]] = None) -> Result:
    """timm ViT-B/16 image model -> ``backbone.*`` of ``SurgVistaViT(tubelet_size=1,
    pos_embed_type='learned_space_time')``."""
    state = _strip_any(state, ('module.', ))
    state = _strip_any(state, ('backbone.', 'encoder.'))
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    notes: List[str] = []
    for key, value in state.items():
        match = re.match(r'^blocks\.(\d+)\.attn\.qkv\.bias$', key)
        if match:
            dims = value.shape[0] // 3
            prefix = f'backbone.blocks.{match.group(1)}.attn.'
            out[prefix + 'q_bias'], out[prefix + 'v_bias'] = value[:dims], value[2 * dims:]
            mapped += [(key, prefix + 'q_bias'), (key, prefix + 'v_bias')]
            dropped.append((key + '[k]', 'k bias: adds a constant per query row, which softmax '
                                         'ignores (exact)'))
        elif key == 'pos_embed':
            want = target.get('backbone.pos_embed_spatial') if target is not None else None
            has_cls = value.shape[1] == want[1] + 1 if want is not None else 'cls_token' in state
            out['backbone.pos_embed_spatial'] = value[:, 1:] if has_cls else value
            mapped.append((key, 'backbone.pos_embed_spatial'))
            if has_cls:
                dropped.append((key + '[cls]', 'class-token position (the class token is not '
                                               'used: the head mean-pools the patch tokens)'))
        elif key == 'cls_token':
            dropped.append((key, 'class token not used: the head mean-pools the patch tokens'))
        elif key == 'patch_embed.proj.weight':
            out['backbone.' + key] = _patch_kernel(value, target, notes, key)
            mapped.append((key, 'backbone.' + key))
        elif key.startswith(('head.', 'fc_norm.')):
            dropped.append((key, 'image classifier / its norm, replaced by the fine-tuning head'))
        elif _videomae_layout(key):
            out['backbone.' + key] = value
            mapped.append((key, 'backbone.' + key))
        else:
            dropped.append((key, 'not part of a timm ViT encoder (e.g. the MAE decoder)'))
    want = target.get('backbone.pos_embed_temporal') if target is not None else None
    dims = out['backbone.patch_embed.proj.weight'].shape[0] \
        if 'backbone.patch_embed.proj.weight' in out else None
    if want is not None or dims is not None:
        shape = tuple(want) if want is not None else (1, 8, dims)  # default: 8 frames
        out['backbone.pos_embed_temporal'] = torch.zeros(shape)
        notes.append(f'backbone.pos_embed_temporal {shape}: not in an image model, written as '
                     'zeros (its initial value; learned in fine-tuning)')
    return out, mapped, dropped, notes


CONVERTERS: Dict[str, Callable[..., Result]] = {
    'mmaction2-vit': convert_mmaction2_vit,
    'umt': convert_umt,
    'timm-vit': convert_timm_vit,
}
#: target keys these kinds may leave to the model's initialisation
ALLOWED_MISSING = {
    'mmaction2-vit': ('backbone.norm.', 'cls_head.'),
    'umt': ('backbone.norm.', ),
    'timm-vit': ('backbone.norm.', ),
}
