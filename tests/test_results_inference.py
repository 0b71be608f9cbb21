"""Inference outside the Runner: the init-checkpoint option on every fine-tuning config, bad
input (truncated video, a checkpoint that does not fit, no test pipeline), label-free datasets,
resumable feature extraction and the reconstruction figure."""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction

from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FINETUNE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')
PRETRAIN = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
DEMO_ARGS = ('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
             '--no-progress')


@pytest.fixture(scope='module')
def demo(make_demo) -> str:
    return make_demo(*DEMO_ARGS)


def _demo_cfg(demo: str) -> Config:
    cfg = Config.fromfile(FINETUNE)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = demo
    return cfg


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(ROOT, 'configs', 'finetune',
                                                           '*.py'))),
                         ids=lambda p: osp.basename(p))
def test_every_finetune_config_takes_the_init_checkpoint_option(path):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'model.backbone.init_cfg.checkpoint=x/ep.pth'])
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(args.cfg_options)
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.checkpoint == 'x/ep.pth'
    assert init.prefix == 'backbone.'


def test_checkpoint_that_does_not_fit_names_both_shapes(demo, tmp_path):
    from surgvista_mm.inference.model import build_model_from_config
    cfg = _demo_cfg(demo)
    model = build_model_from_config(cfg)
    state = model.state_dict()
    state['cls_head.head.weight'] = torch.zeros(5, 96)
    path = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, path)
    with pytest.raises(ValueError, match=r"cls_head.head.weight.*\(5, 96\).*\(7, 96\)") as err:
        build_model_from_config(cfg, path)
    assert 'bad.pth' in str(err.value)


def test_config_without_test_pipeline_and_bad_videos(demo, tmp_path):
    from surgvista_mm.inference.frames import open_frames
    from surgvista_mm.inference.model import test_pipeline_cfg
    cfg = _demo_cfg(demo)
    cfg.test_dataloader.dataset.pipeline = []
    cfg.val_dataloader = None
    cfg.test_pipeline = None
    with pytest.raises(ValueError, match='no test pipeline'):
        test_pipeline_cfg(cfg)
    good = osp.join(demo, 'videos', 'video03.mp4')
    truncated = str(tmp_path / 'truncated.mp4')
    with open(good, 'rb') as f:
        data = f.read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 3])
    garbage = str(tmp_path / 'garbage.mp4')
    with open(garbage, 'wb') as f:
        f.write(os.urandom(4096))
    for bad in (truncated, garbage):
        with pytest.raises((RuntimeError, ValueError)) as err:
            open_frames(bad)
        assert bad in str(err.value)
    tool = load_tool('inference/online_phase')
    assert tool.main([FINETUNE, 'missing.pth', garbage, '--out-dir', str(tmp_path)]) == 2
    source = open_frames(good)
    assert source.num_frames == 24 and source.fps == 10.0
    folder = open_frames(osp.join(demo, 'frames', 'video03'))
    assert folder.num_frames == 24 and folder.read(np.array([3]))[0].shape == (64, 80, 3)


def test_dataset_without_label_files(demo):
    from surgvista_mm.datasets import SurgicalPhaseDataset
    from surgvista_mm.datasets.transforms import PackSurgVistaClipInputs  # noqa: F401
    ds = SurgicalPhaseDataset(manifest='manifests/demo_videos.json', label_dir=None,
                              data_root=demo, clip_len=8, frame_interval=4,
                              pipeline=[dict(type='SurgicalFrameLoader'),
                                        dict(type='PackSurgVistaClipInputs')])
    assert len(ds) == 24
    item = ds[23]
    assert item['inputs'].shape == (1, 3, 8, 64, 80)
    assert 'gt_label' not in item['data_samples']
    assert item['data_samples'].metainfo['frame_index'] == 23


def test_extract_features_resumable_and_equal_to_the_dataset_clip(demo, tmp_path):
    from mmengine.dataset import pseudo_collate

    from surgvista_mm.datasets import SurgicalPhaseDataset
    from surgvista_mm.inference.model import build_model_from_config
    cfg = _demo_cfg(demo)
    model = build_model_from_config(cfg)
    ckpt = str(tmp_path / 'ft.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp_path / 'features')
    tool = load_tool('analysis/extract_features')
    args = [FINETUNE, ckpt, '--manifest', osp.join(demo, 'manifests', 'demo_frames.json'),
            '--include', 'video03', '--out-dir', out, '--batch', '6', '--no-progress']
    assert tool.main(args) == 0
    with np.load(osp.join(out, 'video03.npz')) as z:
        feats, frames = z['features'], z['frame_indices']
    assert feats.shape == (24, 96) and frames.tolist() == list(range(24))
    # the same clip through the dataset gives the same feature
    ds_cfg = dict(cfg.test_dataloader.dataset)
    ds_cfg.pop('type')
    ds = SurgicalPhaseDataset(**ds_cfg)
    from surgvista_mm.inference.features import clip_features
    with torch.no_grad():
        ref = clip_features(model, pseudo_collate([ds[17]]))[0].numpy()
    np.testing.assert_allclose(feats[17], ref, atol=1e-5)
    mtime = os.path.getmtime(osp.join(out, 'video03.npz'))
    assert tool.main(args) == 0  # resumed: nothing to do
    assert os.path.getmtime(osp.join(out, 'video03.npz')) == mtime
    assert not [n for n in os.listdir(out) if n.endswith('.tmp')]


def test_visualize_reconstruction_two_checkpoints(demo, tmp_path):
    from surgvista_mm.inference.model import build_model_from_config
    cfg = Config.fromfile(PRETRAIN)
    cfg.model.teacher.checkpoint = osp.join(demo, 'teacher', 'demo_teacher_vit.pth')
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model_from_config(cfg)
        paths.append(str(tmp_path / f'pre{seed}.pth'))
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, paths[-1])
    cfg_path = str(tmp_path / 'pre.py')
    cfg.dump(cfg_path)
    out = str(tmp_path / 'rec.png')
    tool = load_tool('analysis/visualize_reconstruction')
    assert tool.main([cfg_path, '--checkpoint', paths[0], '--checkpoint', paths[1],
                      '--label', 'a', '--label', 'b', '--manifest',
                      osp.join(demo, 'manifests', 'demo_frames.json'), '--video-id', 'video02',
                      '--frame', '12', '--out', out]) == 0
    assert osp.getsize(out) > 10000

    from surgvista_mm.inference import reconstruction as R
    model = build_model_from_config(cfg, paths[0])
    clip = np.random.default_rng(0).integers(0, 255, (8, 64, 64, 3)).astype(np.uint8)
    mask = R.fixed_mask(model.backbone.token_grid, 0.5)
    rec = R.reconstruct(model, clip, mask, 'x')
    visible = ~mask.reshape(model.backbone.token_grid)
    # visible tubes show the original clip; masked ones the prediction
    t0, h0, w0 = np.argwhere(visible)[0]
    np.testing.assert_array_equal(rec.frames[2 * t0, 16 * h0:16 * h0 + 16, 16 * w0:16 * w0 + 16],
                                  clip[2 * t0, 16 * h0:16 * h0 + 16, 16 * w0:16 * w0 + 16])
    assert np.isnan(rec.patch_mse[visible]).all() and np.isfinite(rec.patch_mse[~visible]).all()
    shutil.rmtree(str(tmp_path), ignore_errors=True)


def test_extract_features_from_a_pretraining_checkpoint(demo, tmp_path, capsys):
    """A pre-training checkpoint loads into the fine-tuning config's encoder (as fine-tuning
    starts from it); --cfg-options are checked and applied."""
    from surgvista_mm.inference.model import build_feature_model, build_model_from_config
    from surgvista_mm.utils import load_config
    pre_cfg = Config.fromfile(PRETRAIN)
    pre_cfg.model.update(teacher=None, distill_decoder=None, distill_head=None)
    torch.manual_seed(3)
    pre = build_model_from_config(pre_cfg)
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': pre.state_dict(), 'meta': {'epoch': 1}}, ckpt)
    model, kind = build_feature_model(load_config(FINETUNE), ckpt)
    assert kind == 'encoder'
    assert torch.equal(model.backbone.blocks[1].attn.qkv.weight, pre.backbone.blocks[1].attn.qkv.weight)
    assert torch.equal(model.cls_head.fc_norm.weight, torch.ones(96))
    tool = load_tool('analysis/extract_features')
    out = str(tmp_path / 'features')
    args = [FINETUNE, ckpt, '--manifest', osp.join(demo, 'manifests', 'demo_frames.json'),
            '--include', 'video03', '--out-dir', out, '--no-progress']
    assert tool.main(args + ['--cfg-options', 'test_dataloader.dataset.frame_interval=1']) == 0
    assert 'no classification head: the encoder as fine-tuning starts from it' in \
        capsys.readouterr().out
    with np.load(osp.join(out, 'video03.npz')) as z:
        assert z['features'].shape == (24, 96) and np.isfinite(z['features']).all()
    assert tool.main(args + ['--cfg-options', 'max_epochs=3']) == 2
    assert 'set train_cfg.max_epochs' in capsys.readouterr().err
