"""Target shapes the converter checks against: the spec's default models, or a config's model.

Models are built on the ``meta`` device (no memory, no initialisation cost).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
from torch import nn

from .baselines import TIMM_ARCHS, timm_target
from .convert import KINDS

#: published layout of each natural-domain kind, as SurgVistaViT arguments (ViT-B/16, 224)
NATURAL_BACKBONES = {
    # mmaction2's VisionTransformer with use_mean_pooling=True (its default)
    'mmaction2-vit': dict(pos_embed_type='sincos1d_videomae', out_type='pooled'),
    # UMT stage 1: tubelet 1 x 8 frames inflated to tubelet 2 x 16 frames (same token grid)
    'umt': dict(pos_embed_type='sincos1d_videomae'),
    # timm ViT-B/16 image models: 8 frames, 2-D patch embedding per frame
    'timm-vit': dict(num_frames=8, tubelet_size=1, pos_embed_type='learned_space_time'),
}


def _shapes(module: nn.Module, prefix: str = '') -> Dict[str, torch.Size]:
    return {prefix + k: v.shape for k, v in module.state_dict().items()}


def _build(cfg: Mapping) -> nn.Module:
    from mmengine.registry import init_default_scope
    from surgvista_mm.registry import MODELS
    init_default_scope('surgvista_mm')
    with torch.device('meta'):
        return MODELS.build(dict(cfg))


def default_target(kind: str, state: Optional[Mapping[str, torch.Tensor]] = None
                   ) -> Dict[str, torch.Size]:
    """Shapes of the published architecture for ``kind`` (ViT-B/16, 16x224, tubelet 2;
    EndoSSL ViT-L/16; the natural-domain kinds per :data:`NATURAL_BACKBONES`; the surgical-domain
    baselines as ``model.<key>`` of their timm model, :data:`~.baselines.TIMM_ARCHS`). Widths that
    depend on the task (number of classes, teacher width of the distillation head) are read
    from ``state`` when present."""
    if kind not in KINDS:
        raise ValueError(f'unknown kind {kind!r}; choose from {KINDS}')
    state = state or {}
    if kind in TIMM_ARCHS:
        return timm_target(TIMM_ARCHS[kind])
    backbone = dict(type='SurgVistaViT')
    if kind == 'surgvista-pretrain':
        distill_out = state['decoder_img.head.weight'].shape[0] \
            if 'decoder_img.head.weight' in state else 1024
        shapes = _shapes(_build(backbone), 'backbone.')
        shapes.update(_shapes(_build(dict(type='SurgVistaDecoder', depth=4, out_dims=1536)),
                              'pixel_decoder.'))
        shapes.update(_shapes(_build(dict(type='SurgVistaDecoder', depth=2,
                                          out_dims=distill_out)), 'distill_decoder.'))
        return shapes
    if kind == 'surgvista-finetune':
        num_classes = state['head.weight'].shape[0] if 'head.weight' in state else 7
        shapes = _shapes(_build(dict(backbone, final_norm=False)), 'backbone.')
        shapes.update(_shapes(_build(dict(type='SurgVistaClsHead', num_classes=num_classes)),
                              'cls_head.'))
        return shapes
    if kind in ('videomae', 'mvd', 'surgvista-mm'):
        return _shapes(_build(backbone), 'backbone.')
    if kind in NATURAL_BACKBONES:
        shapes = _shapes(_build(dict(backbone, **NATURAL_BACKBONES[kind])), 'backbone.')
        # a recognizer's head (mmaction2-vit) is copied unchanged: its shapes are the file's
        shapes.update({k: v.shape for k, v in state.items() if k.startswith('cls_head.')})
        return shapes
    return _shapes(_build(dict(type='SurgVistaImageTeacher')))


def target_from_config(config: str, kind: str) -> Dict[str, torch.Size]:
    """Shapes of the model of an mmengine config file: the whole ``model`` for the SurgVISTA
    kinds and ``mmaction2-vit``, ``model.backbone`` (prefixed ``backbone.``) for VideoMAE, MVD,
    UMT, timm ViTs and this project's own checkpoints, ``model.teacher`` for EndoSSL,
    ``model.backbone`` without prefix for the surgical-domain baselines (the two-stage image
    encoder whose ``init_cfg`` reads the file: its keys are ``model.<timm key>``)."""
    from mmengine.config import Config
    import surgvista_mm  # noqa: F401  (registers the modules)
    model_cfg = Config.fromfile(config).model
    if kind in ('surgvista-pretrain', 'surgvista-finetune'):
        return _shapes(_build(model_cfg))
    if kind == 'mmaction2-vit':
        return _shapes(_build(model_cfg))
    if kind in ('videomae', 'mvd', 'surgvista-mm', 'umt', 'timm-vit'):
        return _shapes(_build(model_cfg['backbone']), 'backbone.')
    if kind in TIMM_ARCHS:
        return _shapes(_build(model_cfg['backbone']))
    if kind == 'endossl':
        if model_cfg.get('teacher') is None:
            raise KeyError(f'{config}: model.teacher is not set')
        return _shapes(_build(model_cfg['teacher']))
    raise ValueError(f'unknown kind {kind!r}; choose from {KINDS}')
