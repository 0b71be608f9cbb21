"""Reuse from another MMAction2 project: plain type names in the 'mmaction' scope, no registry
warnings while a run is built."""
from __future__ import annotations

import os.path as osp

import mmaction.registry as mmaction_registry
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import surgvista_mm
from surgvista_mm import registry as ours

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PLAIN_MMACTION_CONFIG = """
custom_imports = dict(imports=['surgvista_mm'], allow_failed_imports=False)
default_scope = 'mmaction'
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SurgVistaViT', img_size=32, num_frames=4, embed_dims=48, depth=1,
                  num_heads=2, final_norm=False),
    cls_head=dict(type='SurgVistaClsHead', num_classes=3, in_channels=48),
    data_preprocessor=dict(type='SurgVistaDataPreprocessor', format_shape='NCTHW',
                           mean=[0., 0., 0.], std=[1., 1., 1.]))
pipeline = [dict(type='TubeMasking', input_size=(4, 32, 32), mask_ratio=0.75),
            dict(type='surgvista_mm.PackSurgVistaInputs')]
"""


def test_every_module_has_its_plain_and_scoped_name_in_mmaction_scope():
    names = 0
    for kind, registry in ours.EXPORTED.items():
        theirs = getattr(mmaction_registry, kind)
        for name, cls in registry.module_dict.items():
            assert cls.__module__.startswith('surgvista_mm.'), (kind, name)
            with DefaultScope.overwrite_default_scope('mmaction'):
                assert theirs.get(name) is cls, (kind, name)  # plain name
                assert theirs.get(f'surgvista_mm.{name}') is cls, (kind, name)  # scoped name
            with DefaultScope.overwrite_default_scope('surgvista_mm'):
                assert registry.get(name) is cls, (kind, name)
            names += 1
    # the kinds the issue lists all have modules (a registry left empty would pass vacuously)
    for kind in ('MODELS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'METRICS', 'HOOKS',
                 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS'):
        assert ours.EXPORTED[kind].module_dict, kind
    assert names >= 30


def test_export_is_idempotent_and_refuses_a_name_collision():
    assert ours.export_to_mmaction() == []  # already done by `import surgvista_mm`

    class Impostor(torch.nn.Module):
        pass

    # a name that mmaction2 uses for another class: exporting ours under it must fail
    ours.MODELS.register_module(name='I3DHead', module=Impostor)
    try:
        with pytest.raises(KeyError, match="'I3DHead'.*already registered in mmaction2"):
            ours.export_to_mmaction()
    finally:
        ours.MODELS.module_dict.pop('I3DHead')
    assert mmaction_registry.MODELS.get('I3DHead').__module__.startswith('mmaction.')


def test_plain_mmaction_config_builds_and_runs():
    cfg = Config.fromstring(PLAIN_MMACTION_CONFIG, file_format='.py')  # runs custom_imports
    init_default_scope(cfg.default_scope)
    try:
        model = mmaction_registry.MODELS.build(cfg.model)
        assert type(model.backbone) is surgvista_mm.models.SurgVistaViT
        assert type(model.data_preprocessor).__name__ == 'SurgVistaDataPreprocessor'
        feats = model(torch.randn(2, 1, 3, 4, 32, 32), mode='tensor')
        assert model.cls_head(feats).shape == (2, 3)
        masking = mmaction_registry.TRANSFORMS.build(cfg.pipeline[0])
        assert type(masking).__name__ == 'TubeMasking'
        hook = mmaction_registry.HOOKS.build(dict(type='SurgVistaNonFiniteLossHook'))
        assert type(hook).__name__ == 'SurgVistaNonFiniteLossHook'
    finally:
        init_default_scope('surgvista_mm')


def test_building_a_run_prints_no_registry_warning(make_demo, tmp_path, capfd):
    """A typical start (Runner from a fine-tuning config, its loops, optimizer, schedulers,
    visualizer, evaluator) prints no "Failed to search registry" warning."""
    from surgvista_mm.engine import SurgVistaRunner
    demo = make_demo('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--no-progress')
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = demo
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.work_dir = str(tmp_path)
    capfd.readouterr()
    runner = SurgVistaRunner.from_cfg(cfg)
    runner.build_train_loop(runner._train_loop)
    runner.build_val_loop(runner._val_loop)
    runner.build_test_loop(runner._test_loop)
    wrapper = runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.build_param_scheduler(runner.param_schedulers)
    runner.build_log_processor(dict(type='LogProcessor'))
    out, err = capfd.readouterr()
    assert wrapper.__class__.__name__.endswith('OptimWrapper')
    assert 'Failed to search registry' not in out + err
    assert 'Failed to import' not in out + err
