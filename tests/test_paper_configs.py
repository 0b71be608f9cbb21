"""The paper's experiments as configs: data-scaling settings A-E (and no-KD A-D), paper-protocol
fine-tuning variants, natural-domain baselines (models are built in test_configs.py and
test_finetune_configs.py; here: what each config says)."""
from __future__ import annotations

import glob
import os.path as osp

import pytest

from surgvista_mm.utils import load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = osp.join(ROOT, 'configs', 'pretrain')
FINETUNE = osp.join(ROOT, 'configs', 'finetune')
SETTINGS = 'abcde'
#: 1-fps frames the paper gives per pre-training source (its dataset list)
PAPER_FRAMES = dict(cholec80=86_344, m2cai16=67_578, heichole=55_139, pitvis=120_018,
                    psi_ava=72_318, autolaparo=40_211, bernbypass70=303_764,
                    strasbypass70=457_787, web=2_349_618)
CHOLECYSTECTOMY = ('cholec80', 'm2cai16', 'heichole')
#: cholecystectomy share of settings A-D stated in the paper (Fig. 5 text), in %
PAPER_SHARES = dict(a=100.0, b=100.0, c=47.3, d=17.4)


def _sources(name: str):
    return load_config(osp.join(PRETRAIN, f'{name}.py')).train_dataloader.dataset.sources


def _names(name: str):
    return [s['name'] for s in _sources(name)]


def test_settings_nest_and_end_at_the_full_recipe():
    previous = []
    for letter in SETTINGS:
        sources = [dict(s) for s in _sources(f'surgvista_vitb_setting_{letter}')]
        cfg = load_config(osp.join(PRETRAIN, f'surgvista_vitb_setting_{letter}.py'))
        assert cfg.setting == letter.upper()
        assert sorted(s['name'] for s in sources) == sorted(cfg.setting_sources)
        for source in previous:  # each setting contains the previous one's sources unchanged
            assert source in sources, (letter, source['name'])
        assert len(sources) > len(previous), letter
        previous = sources
    full = [dict(s) for s in _sources('surgvista_vitb')]
    assert sorted(previous, key=str) == sorted(full, key=str)  # E = the full pre-training set
    # benchmark test videos stay out in every setting (the include lists are the recipe's)
    cholec80 = [s for s in previous if s['name'] == 'cholec80'][0]
    assert cholec80['include'] == [f'video{i:02d}' for i in range(1, 41)]


def test_settings_reproduce_the_papers_procedure_shares():
    for letter, share in PAPER_SHARES.items():
        names = _names(f'surgvista_vitb_setting_{letter}')
        assert 'web' not in names  # A-D: the eight public datasets only
        total = sum(PAPER_FRAMES[n] for n in names)
        chole = sum(PAPER_FRAMES[n] for n in names if n in CHOLECYSTECTOMY)
        assert 100 * chole / total == pytest.approx(share, abs=0.05), letter
    assert 'autolaparo' not in _names('surgvista_vitb_setting_b')
    assert 'autolaparo' in _names('surgvista_vitb_setting_c')
    assert 'web' in _names('surgvista_vitb_setting_e')
    assert sum(PAPER_FRAMES[n] for n in _names('surgvista_vitb_setting_d')) == 1_203_159


@pytest.mark.parametrize('letter', 'abcd')
def test_no_kd_settings(letter):
    cfg = load_config(osp.join(PRETRAIN, f'surgvista_vitb_no_kd_setting_{letter}.py'))
    kd = load_config(osp.join(PRETRAIN, f'surgvista_vitb_setting_{letter}.py'))
    assert cfg.model.teacher is None and cfg.model.distill_decoder is None
    assert cfg.model.distill_head is None and kd.model.teacher is not None
    assert cfg.train_dataloader.dataset.sources == kd.train_dataloader.dataset.sources
    assert cfg.model.pixel_decoder == kd.model.pixel_decoder
    assert not osp.exists(osp.join(PRETRAIN, 'surgvista_vitb_no_kd_setting_e.py'))


PAPER = {
    # name: (train videos, test videos) of the paper's protocol
    'cholec80_phase': ([f'video{i:02d}' for i in range(1, 41)],
                       [f'video{i:02d}' for i in range(41, 81)
                        if i not in (73, 77, 78, 79, 80)]),
    'm2cai16_phase': ([f'workflow_video_{i:02d}' for i in range(1, 28)],
                      [f'test_workflow_video_{i:02d}' for i in range(1, 15)]),
    'cataract21_phase': ([f'case_{i:02d}' for i in range(1, 19)],
                         [f'case_{i:02d}' for i in range(19, 22)]),
}


def _no_selection(cfg) -> None:  # noqa: ANN001
    """Never test-selected: no validation loop, no best checkpoint, the last one is kept."""
    assert cfg.get('val_dataloader') is None and cfg.get('val_cfg') is None
    assert cfg.get('val_evaluator') is None
    hook = cfg.default_hooks.checkpoint
    assert hook.get('save_best') is None and hook.save_last


@pytest.mark.parametrize('name', sorted(PAPER))
def test_paper_protocol_phase_configs(name):
    cfg = load_config(osp.join(FINETUNE, f'surgvista_vitb_{name}_paper.py'))
    ours = load_config(osp.join(FINETUNE, f'surgvista_vitb_{name}.py'))
    train, test = PAPER[name]
    assert list(cfg.train_dataloader.dataset.include) == train
    assert list(cfg.test_dataloader.dataset.include) == test
    assert not set(train) & set(test)
    _no_selection(cfg)
    # the recipe is the validation-split config's
    assert cfg.model == ours.model and cfg.optim_wrapper == ours.optim_wrapper
    assert cfg.param_scheduler == ours.param_scheduler and cfg.train_cfg == ours.train_cfg
    assert cfg.test_evaluator == ours.test_evaluator


def test_paper_protocol_cholec80_cvs():
    cfg = load_config(osp.join(FINETUNE, 'surgvista_vitb_cholec80_cvs_paper.py'))
    assert cfg.train_dataloader.dataset.split == 'train'  # videos 1-40
    test = cfg.test_dataloader.dataset
    assert test.split == 'test' and test.get('videos') is None  # all of 41-80
    _no_selection(cfg)


BASELINES = {
    # row of paper Fig. 2-3: (converter kind, frames, tubelet, position table)
    'imagenet_sup': ('timm-vit', 8, 1, 'learned_space_time'),
    'dino': ('timm-vit', 8, 1, 'learned_space_time'),
    'mae': ('timm-vit', 8, 1, 'learned_space_time'),
    'videomae_k400': ('videomae', 16, 2, 'sincos1d_videomae'),
    'videomae_ssv2': ('videomae', 16, 2, 'sincos1d_videomae'),
    'videomae_hybrid': ('videomae', 16, 2, 'sincos1d_videomae'),
    'mvd_k400': ('mvd', 16, 2, 'sincos1d_videomae'),
    'umt_k710': ('umt', 16, 2, 'sincos1d_videomae'),
}


def test_every_baseline_row_has_a_config():
    found = {osp.basename(p)[len('baseline_'):-len('_vitb_cholec80_phase_paper.py')]
             for p in glob.glob(osp.join(FINETUNE, 'baseline_*.py'))}
    assert found == set(BASELINES)


@pytest.mark.parametrize('row', sorted(BASELINES))
def test_baseline_configs_share_the_recipe(row):
    kind, frames, tubelet, pos = BASELINES[row]
    path = osp.join(FINETUNE, f'baseline_{row}_vitb_cholec80_phase_paper.py')
    cfg = load_config(path)
    ref = load_config(osp.join(FINETUNE, 'surgvista_vitb_cholec80_phase_paper.py'))
    backbone = cfg.model.backbone
    assert (backbone.num_frames, backbone.tubelet_size, backbone.pos_embed_type) == \
        (frames, tubelet, pos)
    assert backbone.init_cfg.checkpoint == f'checkpoints/natural/{row}_vitb.pth'
    assert f'--kind {kind}' in open(path).read()  # the conversion command is in the header
    # everything but the encoder's layout and initialisation is SurgVISTA's recipe
    for key in ('cls_head', 'data_preprocessor'):
        assert cfg.model[key] == ref.model[key]
    strip = ('num_frames', 'tubelet_size', 'pos_embed_type', 'init_cfg')
    assert {k: v for k, v in backbone.items() if k not in strip} == \
        {k: v for k, v in ref.model.backbone.items() if k not in strip}
    assert cfg.optim_wrapper == ref.optim_wrapper and cfg.param_scheduler == ref.param_scheduler
    assert cfg.train_dataloader.dataset.clip_len == frames
    assert cfg.test_dataloader.dataset.clip_len == frames
    assert cfg.train_dataloader.dataset.frame_interval == 4
    _no_selection(cfg)
