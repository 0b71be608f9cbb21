"""Every config in configs/ builds: model through the registry, optimizer groups, schedulers."""
from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

from surgvista_mm.engine import SurgVistaOptimWrapperConstructor
from surgvista_mm.registry import MODELS
from surgvista_mm.utils import check_config, load_config
from tests.helpers.configs import options_for
from tests.helpers.models import build_model_once

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# configs/twostage/ (image encoders up to ViT-L, temporal models) are built by
# tests/test_twostage_configs.py; configs/suites/ holds benchmark suites, not runner configs
# (built in test_benchmark_suite.py)
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p and f'{osp.sep}twostage{osp.sep}' not in p
                 and f'{osp.sep}suites{osp.sep}' not in p)
VITB_ENCODER_PARAMS = 86_227_200


def _rel(path: str) -> str:
    return osp.relpath(path, ROOT)


def test_configs_found():
    names = {_rel(p) for p in CONFIGS}
    assert {'configs/pretrain/surgvista_vitb.py', 'configs/pretrain/surgvista_vitb_no_kd.py',
            'configs/pretrain/surgvista_vitb_fp16.py',
            'configs/pretrain/surgvista_demo.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_builds(path):
    cfg = load_config(path, options_for(path))  # the templates need their data_root
    check_config(cfg, path)
    assert cfg.default_scope == 'surgvista_mm'
    if cfg.model.backbone.get('embed_dims', 0) > 768:  # ViT-L students: shapes only (memory)
        from mmengine.registry import init_default_scope

        from surgvista_mm.registry import MODELS
        init_default_scope('surgvista_mm')
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
    else:
        model = build_model_once(cfg.model)  # no weight file is read at build time
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable > 0
    backbone = model.backbone
    if backbone.embed_dims == 768 and len(backbone.blocks) == 12:
        n = sum(p.numel() for p in backbone.parameters() if p.requires_grad)
        # fine-tuning drops the final norm (2 x 768): the head's fc_norm takes its place; a
        # per-frame (tubelet 1) patch kernel is half as large; image models add learned tables
        expected = VITB_ENCODER_PARAMS - (0 if backbone.final_norm else 2 * 768)
        expected -= 768 * 3 * 16 * 16 * (2 - backbone.tubelet_size)
        if backbone.pos_embed_type == 'learned_space_time':
            expected += 768 * (196 + backbone.token_grid[0])
        assert n == expected
    if getattr(model, 'teacher', None) is not None:
        # frozen and kept out of the model's parameters and state dict
        assert not any(k.startswith('teacher') for k in model.state_dict())
        assert all(not p.requires_grad for p in model.teacher.parameters())
    optim_cfg = dict(cfg.optim_wrapper)
    ctor = SurgVistaOptimWrapperConstructor(
        dict(optimizer=optim_cfg['optimizer']), optim_cfg.get('paramwise_cfg'))
    groups = ctor.param_groups(model)
    assert sum(len(g['params']) for g in groups) == sum(
        1 for p in model.parameters() if p.requires_grad)
    assert len(groups) < 40  # grouped, not one group per parameter
    no_decay = {n for g in groups if g['weight_decay'] == 0 for n in g['param_names']}
    for name, p in model.named_parameters():
        if p.requires_grad and (p.ndim <= 1 or 'mask_token' in name):
            assert name in no_decay, name
    assert cfg.train_cfg.max_epochs >= 1


def test_pretrain_recipe_values():
    cfg = load_config(osp.join(ROOT, 'configs', 'pretrain', 'surgvista_vitb.py'))
    ow = cfg.optim_wrapper
    assert ow.dtype == 'bfloat16' and ow.accumulative_counts == 4
    assert ow.optimizer.lr == pytest.approx(1.5e-4 * 2048 / 256)
    assert ow.optimizer.betas == (0.9, 0.95) and ow.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_cfg.max_epochs == 200
    warm, cos = cfg.param_scheduler
    assert (warm.end, cos.begin, cos.end) == (40, 40, 200)
    assert cos.eta_min_ratio * cfg.optim_wrapper.optimizer.lr == pytest.approx(1e-4 * 2048 / 256)
    assert cfg.default_hooks.checkpoint.interval == 10 and cfg.resume is True
    mask = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'TubeMasking'][0]
    assert mask['mask_ratio'] == 0.85
    m = cfg.model
    assert (m.pixel_decoder.depth, m.pixel_decoder.embed_dims) == (4, 384)
    assert (m.distill_decoder.depth, m.distill_decoder.embed_dims) == (2, 384)
    assert (m.pixel_head.loss_weight, m.distill_head.loss_weight) == (1.0, 0.05)
    # benchmark test videos never enter pre-training
    sources = {s['name']: s for s in cfg.train_dataloader.dataset.sources}
    assert sources['cholec80']['include'] == [f'video{i:02d}' for i in range(1, 41)]
    assert sources['autolaparo']['include'] == [f'{i:02d}' for i in range(1, 11)]
    fp16 = load_config(osp.join(ROOT, 'configs', 'pretrain', 'surgvista_vitb_fp16.py'))
    assert fp16.optim_wrapper.dtype == 'float16' and fp16.optim_wrapper.loss_scale == 'dynamic'
    no_kd = load_config(osp.join(ROOT, 'configs', 'pretrain', 'surgvista_vitb_no_kd.py'))
    assert no_kd.model.teacher is None and no_kd.model.distill_decoder is None


def test_no_kd_model_trains_pixels_only():
    cfg = load_config(osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py'))
    cfg.model.update(distill_decoder=None, distill_head=None, teacher=None)
    init_default_scope('surgvista_mm')
    model = MODELS.build(cfg.model)
    x = torch.randn(2, 3, 8, 64, 64)
    from mmaction.structures import ActionDataSample

    from surgvista_mm.models.utils.masking import tube_mask_torch
    masks = tube_mask_torch(2, (4, 4, 4), 0.75)
    samples = [ActionDataSample() for _ in range(2)]
    for s, m in zip(samples, masks):
        s.set_field(m, 'mask')
    losses = model(x, samples, mode='loss')
    assert set(k for k in losses if k.startswith('loss')) == {'loss_pixel'}


def test_modules_reusable_from_an_mmaction2_project():
    """Another MMAction2 project (default scope 'mmaction') reaches our modules by scoped name."""
    from mmaction.registry import MODELS as MMACTION_MODELS
    from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmaction'):
        _build_from_mmaction(MMACTION_MODELS, MMACTION_TRANSFORMS)


def _build_from_mmaction(MMACTION_MODELS, MMACTION_TRANSFORMS) -> None:  # noqa: N803
    model = MMACTION_MODELS.build(dict(
        type='Recognizer3D',
        backbone=dict(type='surgvista_mm.SurgVistaViT', img_size=32, num_frames=4,
                      embed_dims=48, depth=1, num_heads=2, final_norm=False),
        cls_head=dict(type='surgvista_mm.SurgVistaClsHead', num_classes=3, in_channels=48),
        data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW')))
    assert type(model.backbone).__name__ == 'SurgVistaViT'
    feats = model(torch.randn(2, 1, 3, 4, 32, 32), mode='tensor')
    assert feats.shape == (2, 2 * 2 * 2, 48)  # tokens of the backbone, pooled by the head later
    masking = MMACTION_TRANSFORMS.build(dict(type='surgvista_mm.TubeMasking',
                                             input_size=(4, 32, 32), mask_ratio=0.75))
    import numpy as np
    frames = [np.zeros((32, 32, 3), np.uint8)] * 4
    assert int(masking(dict(imgs=frames))['mask'].sum()) == 2 * 3  # 3 of 4 positions x 2 slices
    with pytest.raises(ValueError, match='0 frames'):
        masking(dict(imgs=[]))
