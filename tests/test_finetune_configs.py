"""Fine-tuning configs: models, pipelines, evaluators, splits, optimizer groups and schedules."""
from __future__ import annotations

import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

from surgvista_mm.registry import METRICS, TRANSFORMS
from surgvista_mm.utils import check_config, load_config
from tests.helpers.models import build_model_once
from tests.helpers.configs import options_for  # the custom templates' one required option

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FINETUNE = sorted(glob.glob(osp.join(ROOT, 'configs', 'finetune', '*.py')))
VITB = {osp.basename(p)[:-3]: p for p in FINETUNE if 'vitb' in osp.basename(p)}
# The pre-training encoder (86,227,200) includes its final `norm` (2 x 768); fine-tuning drops it
# and the head's `fc_norm` (2 x 768) takes its place, then the Linear layer (768 C + C).
VITB_ENCODER_PARAMS = 86_227_200
NORM_PARAMS = 2 * 768
#: task -> (classes, relaxation, transition rule, base LR, epochs, multi-label)
RECIPES = {
    'surgvista_vitb_cholec80_phase': (7, 'matlab', 'cholec80', 5e-4, 50, False),
    'surgvista_vitb_m2cai16_phase': (8, 'matlab', 'm2cai16', 1e-4, 50, False),
    'surgvista_vitb_autolaparo_phase': (7, 'none', 'generic', 5e-4, 50, False),
    'surgvista_vitb_cholect50_triplet': (100, None, None, 5e-4, 20, True),
    'surgvista_vitb_esd57_phase': (8, 'none', 'generic', 5e-4, 50, False),
    'surgvista_vitb_prostate21_triplet': (89, None, None, 5e-4, 20, True),
}


def _build_metric(ev, tmp_path):
    """Build an evaluator; a private dataset's triplet map / null-class files (which live with
    its data) are replaced by synthetic ones of the configured size."""
    ev = dict(ev)
    if ev.get('maps') and not osp.isfile(ev['maps']):
        n = ev['num_classes']
        rows = [f'{t},{t % 7},{t % 10},{(t // 7) % 10},{t % 70},{t % 70}' for t in range(n)]
        (tmp_path / 'maps.txt').write_text('\n'.join(rows) + '\n')
        (tmp_path / 'null.txt').write_text('# none\n')
        ev.update(maps=str(tmp_path / 'maps.txt'), null_classes=str(tmp_path / 'null.txt'))
    return METRICS.build(ev)


def _name(path: str) -> str:
    return osp.basename(path)[:-3]


def _build_model(cfg):
    return build_model_once(cfg.model)


def test_expected_configs_exist():
    assert set(RECIPES) | {'surgvista_demo_phase'} <= {_name(p) for p in FINETUNE}


@pytest.mark.parametrize('path', FINETUNE, ids=_name)
def test_config_builds_model_pipelines_and_evaluators(path, tmp_path):
    cfg = load_config(path, options_for(path))
    check_config(cfg, path)
    assert cfg.default_scope == 'surgvista_mm' and cfg.runner_type == 'SurgVistaRunner'
    model = _build_model(cfg)  # no weight file is read at build time
    assert type(model).__name__ == 'Recognizer3D'
    assert not model.backbone.final_norm
    assert torch.count_nonzero(model.cls_head.head.weight) == 0  # zero-initialised head
    # the toy demo uses 0.2 so that it learns in a few short epochs (its config says so)
    assert model.cls_head.dropout.p == (0.2 if _name(path).startswith('surgvista_demo') else 0.5)
    assert model.backbone.blocks[-1].drop_path.drop_prob == pytest.approx(0.1)
    # pipelines: every step builds; after the loader they give [1, 3, T, S, S] uint8
    backbone = model.backbone
    size = backbone.img_size[0]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is None:  # clip tasks without a validation split keep the last epoch
            continue
        steps = cfg[key].dataset.pipeline
        assert steps[0]['type'] == 'SurgicalFrameLoader'
        transforms = [TRANSFORMS.build(t) for t in steps[1:]]
        rng = np.random.default_rng(0)
        results = dict(imgs=[rng.integers(0, 256, (size + 26, size + 58, 3), dtype=np.uint8)
                             for _ in range(backbone.num_frames)],
                       img_shape=(size + 26, size + 58), rng=rng, video_id='v',
                       frame_index=3, gt_label=1)
        for t in transforms:
            results = t(results)
        assert results['inputs'].shape == (1, 3, backbone.num_frames, size, size), key
        assert results['inputs'].dtype == torch.uint8
    for key in ('val_evaluator', 'test_evaluator'):
        if cfg.get(key) is not None:
            _build_metric(cfg[key], tmp_path)
    # the test set never serves model selection
    save_best = cfg.default_hooks.checkpoint.get('save_best')
    if cfg.get('val_dataloader') is None:
        assert save_best is None and cfg.get('val_cfg') is None
    else:
        assert save_best.split('/')[0] in ('phase', 'triplet', 'cvs')
    assert cfg.train_dataloader.sampler.type == 'SurgVistaEpochSampler'


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_vitb_recipe(name):
    cfg = load_config(VITB[name])
    classes, relaxation, rule, lr, epochs, multi_label = RECIPES[name]
    model = _build_model(cfg)
    backbone_params = sum(p.numel() for p in model.backbone.parameters())
    assert backbone_params == VITB_ENCODER_PARAMS - NORM_PARAMS
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert total == VITB_ENCODER_PARAMS + 768 * classes + classes
    assert model.backbone.num_tokens == 1568 and model.backbone.num_frames == 16
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    head = cfg.model.cls_head
    assert head.num_classes == classes and head.multi_label == multi_label
    blending = cfg.model.data_preprocessor.blending
    if multi_label:
        assert blending is None and head.label_smooth_eps == 0.0
        assert cfg.val_evaluator.type == 'SurgicalTripletMetric'
    else:
        assert head.label_smooth_eps == 0.1
        assert [(a.type, a.alpha, a.num_classes) for a in blending.augments] == [
            ('MixupBlending', 0.8, classes), ('CutmixBlending', 1.0, classes)]
        assert blending.probs == [0.5, 0.5]
        for key in ('val_evaluator', 'test_evaluator'):
            ev = cfg[key]
            assert (ev.type, ev.num_classes, ev.relaxation) == (
                'SurgicalPhaseMetric', classes, relaxation)
            if relaxation != 'none':
                assert (ev.transition_rule, ev.fps) == (rule, 1)
    ow = cfg.optim_wrapper
    assert (ow.type, ow.dtype, ow.clip_grad) == ('SurgVistaAmpOptimWrapper', 'bfloat16', None)
    assert ow.optimizer.lr == pytest.approx(lr * 2 * 32 / 64)
    assert ow.optimizer.betas == (0.9, 0.999) and ow.optimizer.weight_decay == 0.05
    assert ow.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.train_dataloader.batch_size == 32
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.end, cos.begin, cos.end) == ('LinearLR', 5, 5, epochs)
    assert warm.convert_to_iter_based and cos.convert_to_iter_based
    assert cos.eta_min_ratio * ow.optimizer.lr == pytest.approx(1e-6)
    assert cfg.train_cfg.max_epochs == epochs
    train = cfg.train_dataloader.dataset
    assert (train.clip_len, train.frame_interval) == (16, 4)


def test_layer_decay_scales_of_vitb():
    cfg = load_config(VITB['surgvista_vitb_cholec80_phase'])
    model = _build_model(cfg)
    ow_cfg = dict(cfg.optim_wrapper, type='OptimWrapper')  # AMP needs a GPU
    ow_cfg.pop('dtype')
    wrapper = build_optim_wrapper(model, ow_cfg)
    base = cfg.optim_wrapper.optimizer.lr
    scale_of = {}
    for group in wrapper.optimizer.param_groups:
        assert group['lr'] == pytest.approx(base * group['lr_scale'])
        for name in group['param_names']:
            scale_of[name] = group['lr_scale']
    assert len(wrapper.optimizer.param_groups) <= 2 * 14
    assert scale_of['backbone.patch_embed.proj.weight'] == pytest.approx(0.75 ** 13)
    for k in range(12):
        assert scale_of[f'backbone.blocks.{k}.attn.qkv.weight'] == pytest.approx(
            0.75 ** (13 - (k + 1)))
    assert scale_of['cls_head.head.weight'] == 1.0 and scale_of['cls_head.fc_norm.weight'] == 1.0
    decay_of = {n: g['weight_decay'] for g in wrapper.optimizer.param_groups
                for n in g['param_names']}
    assert decay_of['backbone.blocks.0.attn.q_bias'] == 0.0
    assert decay_of['cls_head.head.bias'] == 0.0 and decay_of['cls_head.fc_norm.weight'] == 0.0
    assert decay_of['backbone.blocks.0.mlp.fc1.weight'] == 0.05


def test_splits_keep_test_videos_out_of_training_and_selection():
    cholec = load_config(VITB['surgvista_vitb_cholec80_phase'])
    train, val, test = (set(cholec[k].dataset.include) for k in
                        ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    assert train == {f'video{i:02d}' for i in range(1, 33)}
    assert val == {f'video{i:02d}' for i in range(33, 41)}
    assert len(test) == 35 and not test & {'video73', 'video77', 'video78', 'video79', 'video80'}
    assert not (train & val or train & test or val & test)
    m2cai = load_config(VITB['surgvista_vitb_m2cai16_phase'])
    train, val, test = (set(m2cai[k].dataset.include) for k in
                        ('train_dataloader', 'val_dataloader', 'test_dataloader'))
    assert len(train) + len(val) == 27 and len(test) == 14 and not train & val
    laparo = load_config(VITB['surgvista_vitb_autolaparo_phase'])
    assert [len(laparo[k].dataset.include) for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')] == [10, 4, 7]
    assert laparo.test_dataloader.dataset.include[0] == '15'
    t50 = load_config(VITB['surgvista_vitb_cholect50_triplet'])
    assert [t50[k].dataset.split for k in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')] == ['train', 'val', 'test']


def test_schedule_warms_up_and_ends_at_min_lr_times_scale():
    cfg = load_config(osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py'))
    model = _build_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    epoch_len = 200
    schedulers = []
    for sch in cfg.param_scheduler:
        sch = dict(sch)
        sch.pop('convert_to_iter_based')
        cls = PARAM_SCHEDULERS.get(sch.pop('type'))
        schedulers.append(cls.build_iter_from_epoch(wrapper.optimizer, epoch_length=epoch_len,
                                                    **sch))
    groups = wrapper.optimizer.param_groups
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * epoch_len):
        lrs.append([g['lr'] for g in groups])
        wrapper.optimizer.step()
        for s in schedulers:
            s.step()
    lrs = np.array(lrs)
    base = np.array([cfg.base_lr * g['lr_scale'] for g in groups])
    assert np.all(lrs[0] < 1e-5 * base)  # warm-up from (almost) 0
    np.testing.assert_allclose(lrs[epoch_len], base, rtol=1e-6)  # end of warm-up
    assert np.all(np.diff(lrs[epoch_len:], axis=0) <= 1e-12)  # cosine decay
    final = cfg.min_lr * np.array([g['lr_scale'] for g in groups])
    # mmengine's cosine approaches eta_min at its end (the last iteration is one step short,
    # as in the reference schedule): per group, min_lr x lr_scale, not one min_lr for all
    assert np.all(lrs[-1] > final)
    np.testing.assert_allclose(lrs[-1], final, rtol=0.02)
