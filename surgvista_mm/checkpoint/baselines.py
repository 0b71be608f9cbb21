"""Converters of the surgical-domain baselines of the paper's Fig. 4 -> timm image models.

The two-stage baselines run a timm image model wrapped as ``self.model`` (keys ``model.<timm
key>``, built with ``timm.create_model(arch, pretrained=False, num_classes=0)``). Each converter
is ``fn(state, target) -> (tensors, mapped, dropped, notes)`` like :mod:`.natural`: ``mapped``
lists ``(source key, target key)``, ``dropped`` ``(source key, reason)``, ``notes`` what changed
beyond a rename. ``target`` (shapes, may be None) decides position-table / bias-table resizing.

Published layouts (key names and shapes are facts of the releases; no code is taken from them):

* ``selfsupsurg`` -> ``resnet50``. SelfSupSurg (Ramesh et al.; CAMMA) releases VISSL checkpoints
  (``model_final_checkpoint_{dino,moco_v2,simclr,swav}_surg.torch``): the ResNet-50 trunk lies
  under ``classy_state_dict -> base_model -> model -> trunk`` with keys
  ``_feature_blocks.conv1.weight``, ``_feature_blocks.layer1.0.conv1.weight``, ...; the SSL heads
  under ``... -> model -> heads``. A torchvision / timm ResNet-50 state dict (``conv1.weight``,
  ``bn1.*``, ``layer1.0.conv1.weight``, ``fc.*``; under ``model`` / ``state_dict`` or bare) is
  accepted too, as are flattened keys (``...trunk._feature_blocks.conv1.weight``). The names
  below ``_feature_blocks.`` are torchvision's, which timm's ResNet shares.
* ``endovit`` -> ``vit_base_patch16_224``. EndoViT (Batić et al., MAE ViT-B/16 on Endo700k;
  released as ``pytorch_model.bin`` / ``endovit_*.pth``) stores MAE's layout under ``model``:
  ``cls_token``, ``pos_embed`` ``[1, 197, 768]`` (MAE's fixed sin-cos table, copied),
  ``patch_embed.proj.*``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``,
  ``norm``; pre-training files add ``mask_token`` and ``decoder_*`` (dropped), fine-tuned ones
  ``head`` (dropped).
* ``endossl-vit`` -> ``vit_large_patch16_224``. EndoSSL (Hirsch et al., MSN ViT-L/16), the layout
  of this project's teacher (:class:`~surgvista_mm.models.SurgVistaImageTeacher`): separate
  ``attn.q/k/v`` (fused here into timm's ``attn.qkv``, exact: timm splits ``qkv`` in that order),
  ``pos_embed`` ``[1, 196, 1024]`` for the patches only (the class token gets no position: a zero
  row is prepended, exact). MSN training files wrap it as ``target_encoder`` with ``module.``
  keys and a projection head ``fc.*`` (dropped).
* ``gsvit`` -> ``efficientvit_m5``. GSViT (Schmidgall et al., EfficientViT-M5 pre-trained by
  next-frame prediction on surgical video) releases ``GSViT.pkl``: a bare state dict whose
  encoder is ``evit.{0,1,2,3}.*`` (Microsoft's EfficientViT ``patch_embed``, ``blocks1``,
  ``blocks2``, ``blocks3`` in an ``nn.Sequential``) plus ``decoder.*`` (dropped). Microsoft's own
  key names (``patch_embed.N.c``, ``blocksS.J...``, ``head.l``) are accepted too and renamed to
  timm's ``efficientvit_msra`` (``patch_embed.convK.conv``, ``stages.S.downsample.{res1,
  patchmerge, res2}``, ``stages.S.blocks.J``); the ``attention_bias_idxs`` buffers are rebuilt by
  timm.

Resizing: a ViT position table whose grid differs from the target's (another ``img_size``) is
interpolated with timm's ``resample_abs_pos_embed`` (bicubic; class token kept), an EfficientViT
attention-bias table with timm's ``resize_rel_pos_bias_table_levit``; both are reported as notes.
A non-square source grid is an error.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch

from .natural import Result, Tensors
from .state_dict import unwrap_state_dict

Shapes = Mapping[str, torch.Size]

#: timm architecture each kind's published model is (``timm.create_model(arch, num_classes=0)``)
TIMM_ARCHS = {
    'selfsupsurg': 'resnet50',
    'endovit': 'vit_base_patch16_224',
    'endossl-vit': 'vit_large_patch16_224',
    'gsvit': 'efficientvit_m5',
}
#: prefix of the timm model's keys inside the two-stage image encoder (``self.model``)
PREFIX = 'model.'
#: BatchNorm counters a source may lack (unused with a momentum; kept as initialised)
ALLOWED_MISSING_SUFFIX = ('num_batches_tracked', )
_WRAPPER_PREFIXES = ('module.', 'model.', 'backbone.', 'encoder.')


def _strip_prefixes(key: str, prefixes: Tuple[str, ...] = _WRAPPER_PREFIXES) -> str:
    """Remove wrapper prefixes (``module.model.conv1.weight`` -> ``conv1.weight``)."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in prefixes:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def _flatten(obj: Mapping, prefix: str = '') -> Tensors:
    """Tensors of a nested dict, with dotted keys."""
    out: Tensors = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            out[prefix + str(key)] = value
        elif isinstance(value, Mapping):
            out.update(_flatten(value, f'{prefix}{key}.'))
    return out


def unwrap_baseline(raw: object, kind: str, source: str) -> Tensors:
    """The tensors of a published baseline file, before renaming.

    * VISSL (``selfsupsurg``): the dict holding ``trunk`` (``classy_state_dict.base_model.model``,
      or ``model`` / the top level of an exported file) is flattened to ``trunk.<key>`` /
      ``heads.<key>`` (optimizer, loss and meta entries are not read);
    * MSN (``endossl``, ``endossl-vit``): ``target_encoder`` (the EMA encoder MSN evaluates) is
      preferred over ``encoder``;
    * otherwise :func:`~.state_dict.unwrap_state_dict` (``state_dict`` / ``model`` / ``module``).
    """
    if isinstance(raw, Mapping) and kind == 'selfsupsurg':
        node: Mapping = raw
        path: List[str] = []
        for name in ('classy_state_dict', 'base_model', 'model'):
            if isinstance(node.get(name), Mapping):
                node, path = node[name], path + [name]
        if isinstance(node.get('trunk'), Mapping):
            tensors = _flatten(node)
            if not any(k.startswith('trunk.') for k in tensors):
                raise TypeError(f'{source}: the VISSL trunk ({".".join(path + ["trunk"])}) '
                                'holds no tensors')
            return tensors
        if 'classy_state_dict' in raw:
            raise KeyError(f'{source}: VISSL checkpoint without a trunk under '
                           f'{".".join(path)} (keys there: {sorted(node)[:10]})')
    if isinstance(raw, Mapping) and kind in ('endossl', 'endossl-vit'):
        for name in ('target_encoder', 'encoder'):
            if isinstance(raw.get(name), Mapping):
                return unwrap_state_dict(raw[name], f'{source}[{name!r}]', wrappers=())
    return unwrap_state_dict(raw, source)


def _add(out: Tensors, mapped: List[Tuple[str, str]], src: str, dst: str,
         value: torch.Tensor) -> None:
    """Store ``value`` under ``dst``, refusing a second source for the same target key."""
    if dst in out:
        first = next(s for s, d in mapped if d == dst)
        raise ValueError(f'both {first!r} and {src!r} map to {dst!r}: the file holds two copies '
                         'of the model; keep one (e.g. unwrap it first)')
    out[dst] = value
    mapped.append((src, dst))


# --------------------------------------------------------------------------- SelfSupSurg
_RESNET = re.compile(r'^(conv1\.|bn1\.|layer[1-4]\.\d+\.)')


def convert_selfsupsurg(state: Mapping[str, torch.Tensor],
                        target: Optional[Shapes] = None) -> Result:
    """SelfSupSurg ResNet-50 (VISSL trunk or torchvision layout) -> ``model.*`` of timm's
    ``resnet50``."""
    del target  # names only: the ResNet layouts have identical shapes
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    for key, value in state.items():
        vissl = re.search(r'(?:^|\.)_feature_blocks\.(.+)$', key)
        if vissl:
            name = vissl.group(1)
        elif re.search(r'(?:^|\.)heads\.', key):
            dropped.append((key, 'VISSL SSL head (DINO / MoCo / SimCLR / SwAV projection, '
                                 'prototypes), not part of the trunk'))
            continue
        else:
            name = _strip_prefixes(key, _WRAPPER_PREFIXES + ('trunk.', ))
        if _RESNET.match(name):
            _add(out, mapped, key, PREFIX + name, value)
        elif name.startswith('fc.'):
            dropped.append((key, 'image classifier, replaced by the stage-1 head'))
        else:
            dropped.append((key, 'not part of a ResNet-50 trunk'))
    return out, mapped, dropped, []


# --------------------------------------------------------------------------- ViTs
_VIT_SAME = re.compile(r'^(patch_embed\.proj\.|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|'
                       r'mlp\.fc1|mlp\.fc2)\.|norm\.|fc_norm\.)')
_VIT_PRETRAIN_ONLY = re.compile(r'^(decoder|mask_token|prototypes|fc\.|encoder_to_decoder)')


def _square(tokens: int, what: str) -> int:
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f'{what}: {tokens} patch positions do not form a square grid; cannot '
                         'interpolate the position table')
    return side


def _vit_pos_embed(value: torch.Tensor, key: str, has_cls_token: bool,
                   target: Optional[Shapes], notes: List[str]) -> torch.Tensor:
    """Source ``pos_embed`` -> timm's ``[1, 1 + H*W, D]`` (class-token row first)."""
    if value.dim() != 3 or value.shape[0] != 1:
        raise ValueError(f'{key}: expected a position table [1, N, D], got {tuple(value.shape)}')
    tokens = value.shape[1]
    if math.isqrt(tokens) ** 2 == tokens and has_cls_token:
        # patches only (EndoSSL): the class token is added without position = a zero row
        value = torch.cat([value.new_zeros(1, 1, value.shape[2]), value], dim=1)
        notes.append(f'{key} {tuple(value.shape[1:])}: the source adds no position to the class '
                     'token; a zero row is prepended for timm (exact)')
    want = target.get(PREFIX + 'pos_embed') if target is not None else None
    if want is not None and tuple(want) != tuple(value.shape) and want[2] == value.shape[2]:
        from timm.layers import resample_abs_pos_embed
        old = _square(value.shape[1] - 1, key)
        new = _square(int(want[1]) - 1, 'target model pos_embed')
        value = resample_abs_pos_embed(value, new_size=[new, new], old_size=[old, old],
                                       num_prefix_tokens=1)
        notes.append(f'{key}: {old}x{old} grid interpolated to {new}x{new} (bicubic, '
                     'timm.layers.resample_abs_pos_embed; the class-token row kept): an '
                     'approximation, learned further in stage 1')
    return value


def _convert_vit(state: Mapping[str, torch.Tensor], target: Optional[Shapes],
                 origin: str) -> Result:
    """MAE / MSN / timm ViT encoder -> ``model.*`` of a timm ``VisionTransformer``."""
    state = {_strip_prefixes(k, ('module.', 'backbone.', 'encoder.')): v
             for k, v in state.items()}
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    notes: List[str] = []
    split_qkv: Dict[str, Dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        qkv = re.match(r'^(blocks\.\d+\.attn\.)([qkv])\.(weight|bias)$', key)
        if key == 'pos_embed':
            value = _vit_pos_embed(value, key, 'cls_token' in state, target, notes)
            _add(out, mapped, key, PREFIX + key, value)
        elif key == 'cls_token' or _VIT_SAME.match(key):
            _add(out, mapped, key, PREFIX + key, value)
        elif qkv:
            split_qkv.setdefault(qkv.group(1) + 'qkv.' + qkv.group(3), {})[qkv.group(2)] = value
        elif key.startswith('head.') or key.startswith('head_dist.'):
            dropped.append((key, 'image classifier, replaced by the stage-1 head'))
        elif _VIT_PRETRAIN_ONLY.match(key):
            dropped.append((key, f'{origin} pre-training part (decoder / mask token / '
                                 'projection head / prototypes), not part of the encoder'))
        else:
            dropped.append((key, 'not part of a timm ViT encoder'))
    for name, parts in sorted(split_qkv.items()):
        if set(parts) != {'q', 'k', 'v'}:
            raise KeyError(f'{name}: the source has attn.{"/".join(sorted(parts))} but not all '
                           'of attn.q, attn.k, attn.v')
        stem = name.replace('qkv.', '')
        _add(out, mapped, f'{stem}{{q,k,v}}.{name.rsplit(".", 1)[1]}', PREFIX + name,
             torch.cat([parts['q'], parts['k'], parts['v']], dim=0))
    if split_qkv:
        fused = len({name.split('.attn.')[0] for name in split_qkv})
        notes.append(f'attn.q / attn.k / attn.v of {fused} blocks concatenated into '
                     "timm's attn.qkv (exact: timm splits qkv in q, k, v order)")
    if (target is not None and PREFIX + 'fc_norm.weight' in out
            and PREFIX + 'fc_norm.weight' not in target and PREFIX + 'norm.weight' not in out):
        raise ValueError(
            "the source is a global-pool fine-tuned ViT (fc_norm after mean pooling, no final "
            "norm), but the target model pools the class token after 'norm' (timm's default "
            "global_pool='token'); build the encoder with global_pool='avg' and pass its config "
            '(--config) so that fc_norm has a place')
    return out, mapped, dropped, notes


def convert_endovit(state: Mapping[str, torch.Tensor],
                    target: Optional[Shapes] = None) -> Result:
    """EndoViT (MAE ViT-B/16) -> ``model.*`` of timm's ``vit_base_patch16_224``."""
    return _convert_vit(state, target, 'MAE')


def convert_endossl_vit(state: Mapping[str, torch.Tensor],
                        target: Optional[Shapes] = None) -> Result:
    """EndoSSL (MSN ViT-L/16, the teacher's layout) -> ``model.*`` of timm's
    ``vit_large_patch16_224``."""
    out, mapped, dropped, notes = _convert_vit(state, target, 'MSN')
    notes.append("EndoSSL's blocks use LayerNorm eps 1e-5, timm's ViT 1e-6: features differ "
                 'slightly from the published model (1e-6 relative on the random weights of '
                 'tests/test_convert_baselines.py; more where a token has a tiny variance)')
    return out, mapped, dropped, notes


# --------------------------------------------------------------------------- GSViT
def _msra_to_timm(name: str) -> Optional[str]:
    """Microsoft EfficientViT key -> timm ``efficientvit_msra`` key (None: not the encoder).

    ``patch_embed`` is ``Sequential(Conv2d_BN, ReLU) x 3 + Conv2d_BN``: children 0, 2, 4, 6 are
    timm's ``conv1..conv4``. ``blocks1`` holds stage 0's blocks; ``blocks2`` / ``blocks3`` start
    with the stage's down-sampling (``Sequential(dw Residual, FFN Residual)``, ``PatchMerging``,
    ``Sequential(...)``: timm's ``downsample.res1``, ``.patchmerge``, ``.res2``), then its
    blocks. Inside, ``Conv2d_BN.c`` is timm's ``ConvNorm.conv`` and ``BN_Linear.l`` its
    ``NormLinear.linear``; every other name is shared.
    """
    match = re.match(r'^patch_embed\.(\d+)\.(.+)$', name)
    if match:
        index = int(match.group(1))
        if index % 2 or index > 6:
            return None
        new = f'patch_embed.conv{index // 2 + 1}.{match.group(2)}'
    else:
        match = re.match(r'^blocks([123])\.(\d+)\.(.+)$', name)
        if not match:
            if name.startswith(('patch_embed.conv', 'stages.')):
                return name  # already timm's layout
            return None
        stage, index, rest = int(match.group(1)) - 1, int(match.group(2)), match.group(3)
        if stage == 0:
            new = f'stages.0.blocks.{index}.{rest}'
        elif index < 3:
            new = f'stages.{stage}.downsample.{("res1", "patchmerge", "res2")[index]}.{rest}'
        else:
            new = f'stages.{stage}.blocks.{index - 3}.{rest}'
    parts = new.split('.')
    return '.'.join({'c': 'conv', 'l': 'linear'}.get(p, p) for p in parts)


def convert_gsvit(state: Mapping[str, torch.Tensor],
                  target: Optional[Shapes] = None) -> Result:
    """GSViT (``evit.*``) or Microsoft EfficientViT-M5 -> ``model.*`` of timm's
    ``efficientvit_m5``."""
    out: Tensors = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    notes: List[str] = []
    resized = 0
    for key, value in state.items():
        name = _strip_prefixes(key, ('module.', 'model.', 'backbone.'))
        evit = re.match(r'^evit\.(\d+)\.(.+)$', name)
        if evit:
            index = int(evit.group(1))
            if index > 3:
                dropped.append((key, 'not part of the EfficientViT encoder (evit.0-3)'))
                continue
            name = ('patch_embed.' if index == 0 else f'blocks{index}.') + evit.group(2)
        if name.endswith('attention_bias_idxs'):
            dropped.append((key, 'index buffer, rebuilt by timm for its window size'))
            continue
        if name.startswith('decoder.'):
            dropped.append((key, 'GSViT next-frame-prediction decoder, not part of the encoder'))
            continue
        if name.startswith(('head.', 'head_dist.')):
            dropped.append((key, 'image classifier, replaced by the stage-1 head'))
            continue
        new = _msra_to_timm(name)
        if new is None:
            dropped.append((key, 'not part of the EfficientViT encoder'))
            continue
        want = target.get(PREFIX + new) if target is not None else None
        if (new.endswith('attention_biases') and want is not None and value.dim() == 2
                and tuple(want) != tuple(value.shape) and want[0] == value.shape[0]):
            from timm.layers import resize_rel_pos_bias_table_levit
            value = resize_rel_pos_bias_table_levit(value.T, tuple(want)[::-1]).T.contiguous()
            resized += 1
        _add(out, mapped, key, PREFIX + new, value)
    if resized:
        notes.append(f'{resized} attention-bias tables resized to the target window '
                     '(timm.layers.resize_rel_pos_bias_table_levit): an approximation')
    notes.append('GSViT was pre-trained on BGR frames scaled to [0, 1] without mean / std '
                 'normalisation (OpenCV frames / 255); feed it the same or let stage 1 adapt')
    return out, mapped, dropped, notes


CONVERTERS: Dict[str, Callable[..., Result]] = {
    'selfsupsurg': convert_selfsupsurg,
    'endovit': convert_endovit,
    'endossl-vit': convert_endossl_vit,
    'gsvit': convert_gsvit,
}


def timm_target(arch: str) -> Dict[str, torch.Size]:
    """Shapes of ``timm.create_model(arch, pretrained=False, num_classes=0)`` with the
    ``model.`` prefix, built on the meta device (no memory, no download)."""
    import timm
    with torch.device('meta'):
        model = timm.create_model(arch, pretrained=False, num_classes=0)
    return {PREFIX + k: v.shape for k, v in model.state_dict().items()}
