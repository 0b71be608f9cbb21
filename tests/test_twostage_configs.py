"""Every configs/twostage/*.py builds (the image encoders on the meta device: a ViT-L costs no
memory there), with the paper's per-dataset TCN settings, selection on validation only, the
evaluators of the end-to-end configs, and matching widths between the stages."""
from __future__ import annotations

import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

from surgvista_mm.engine import SurgVistaOptimWrapperConstructor
from surgvista_mm.registry import MODELS
from surgvista_mm.utils import check_config, load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'twostage', '*.py')))
#: model -> (timm arch, feature width, encoder parameters at 224 x 224, weights file)
BACKBONES = {
    'selfsupsurg_r50': ('resnet50', 2048, 23_508_032),
    'endovit_vitb': ('vit_base_patch16_224', 768, 85_798_656),
    'endossl_vitl': ('vit_large_patch16_224', 1024, 303_301_632),
    'gsvit_m5': ('efficientvit_m5', 384, 12_088_004),
    'imagenet_vitb': ('vit_base_patch16_224', 768, 85_798_656),
}
FEATURE_WIDTH = dict({m: v[1] for m, v in BACKBONES.items()}, surgvista_vitb=768)
#: dataset -> (classes, LR, layers, feature maps), the published TCN settings (docs/twostage.md)
TCN = {'cholec80': (7, 7e-5, 8, 32), 'm2cai16': (8, 1e-4, 8, 32), 'autolaparo': (7, 1e-4, 8, 32),
       'cataracts': (19, 1e-4, 9, 64), 'cataract101': (10, 5e-4, 9, 64),
       'cataract21': (11, 5e-4, 9, 64)}


def _rel(path: str) -> str:
    return osp.relpath(path, ROOT)


def _split(path: str):
    name = osp.basename(path)[:-3]
    for model in FEATURE_WIDTH:
        if name.startswith(model + '_'):
            dataset, stage = name[len(model) + 1:].rsplit('_', 1)
            return model, dataset, stage
    return None, None, name


def test_all_fig4_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    expected = {f'{m}_{d}_{s}.py' for m in BACKBONES for d in TCN for s in ('frame', 'tcn')}
    expected |= {f'surgvista_vitb_{d}_tcn.py' for d in TCN}
    expected |= {'demo_frame.py', 'demo_tcn.py'}
    assert names == expected


def _build(model_cfg, meta: bool) -> torch.nn.Module:
    init_default_scope('surgvista_mm')
    if meta:
        with torch.device('meta'):
            return MODELS.build(model_cfg)
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_twostage_config_builds(path):
    cfg = load_config(path)
    check_config(cfg, path)
    assert cfg.default_scope == 'surgvista_mm'
    model_name, dataset, stage = _split(path)
    model = _build(cfg.model, meta=model_name is not None and stage == 'frame')
    ctor = SurgVistaOptimWrapperConstructor(dict(optimizer=dict(cfg.optim_wrapper.optimizer)),
                                            cfg.optim_wrapper.get('paramwise_cfg'))
    groups = ctor.param_groups(model)
    assert sum(len(g['params']) for g in groups) == sum(1 for p in model.parameters())
    hook = cfg.default_hooks.checkpoint
    assert hook.rule == 'greater'
    # the LR is written for the reference set-up and scaled with the launch's total batch:
    # one process at the config's batch keeps it (factor 1: the demo's numbers are unchanged)
    accumulation = cfg.optim_wrapper.get('accumulative_counts', 1)
    assert cfg.auto_scale_lr.enable is True
    assert cfg.gpus == 1 and cfg.auto_scale_lr.base_batch_size == cfg.total_batch == \
        cfg.train_dataloader.batch_size * accumulation
    if stage in ('frame', 'demo_frame'):
        assert hook.save_best == 'phase/unrelaxed/image_accuracy'
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            ds = cfg[key].dataset
            assert (ds.type, ds.clip_len, ds.frame_interval) == ('SurgicalPhaseDataset', 1, 1)
        assert model.backbone.out_channels == model.cls_head.head.in_features
        if model_name is not None:
            arch, width, params = BACKBONES[model_name]
            assert (model.backbone.arch, model.backbone.out_channels) == (arch, width)
            assert sum(p.numel() for p in model.backbone.parameters()) == params
            assert model.cls_head.num_classes == TCN[dataset][0]
            assert cfg.model.backbone.init_cfg.checkpoint == f'checkpoints/{model_name}.pth'
            # the same videos and evaluators as the end-to-end config of the dataset
            e2e = load_config(osp.join(ROOT, 'configs', '_base_', 'datasets',
                                       f'finetune_{dataset}_phase.py'))
            for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
                assert cfg[key].dataset.include == e2e[key].dataset.include
            assert cfg.test_evaluator == e2e.test_evaluator
    else:
        assert type(model).__name__ == 'CausalMSTCN' and len(model.stages) == 2
        assert hook.save_best == 'phase/unrelaxed/video_accuracy'
        assert cfg.train_cfg.val_begin == 12  # selection from epoch 12 on
        assert cfg.val_cfg.type == 'SequenceValLoop' and cfg.test_cfg.type == 'SequenceTestLoop'
        splits = [cfg[k].dataset.split for k in ('train_dataloader', 'val_dataloader',
                                                 'test_dataloader')]
        assert splits == ['train', 'val', 'test']
        assert cfg.train_dataloader.batch_size == 1 and cfg.total_batch == 1  # one video
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            assert cfg[key].dataset.feature_dim == model.in_channels
            assert cfg[key].dataset.classes is not None
        if model_name is not None:
            num_classes, lr, layers, maps = TCN[dataset]
            assert model.in_channels == FEATURE_WIDTH[model_name]
            assert (model.num_classes, len(model.stages[0].layers),
                    model.stages[0].conv_in.out_channels) == (num_classes, layers, maps)
            assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr)
            assert cfg.train_cfg.max_epochs >= 50
            assert cfg.train_dataloader.dataset.bank_dir == \
                f'work_dirs/twostage/{model_name}_{dataset}/bank'
            e2e = load_config(osp.join(ROOT, 'configs', '_base_', 'datasets',
                                       f'finetune_{dataset}_phase.py'))
            assert tuple(cfg.train_dataloader.dataset.classes) == tuple(e2e.classes)
            assert cfg.val_evaluator == e2e.val_evaluator
            assert cfg.test_evaluator == e2e.test_evaluator
