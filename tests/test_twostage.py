"""The two-stage paradigm (docs/twostage.md): the causal MS-TCN and its loss, feature banks
(round trip, resume, stale-bank refusal), the sequence dataset, and the whole chain through the
command lines the benchmark runner issues (frame model -> bank -> MS-TCN -> test --out-dir ->
eval_phase re-scores the files)."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement

from surgvista_mm.datasets import FeatureSequenceDataset
from surgvista_mm.inference.feature_bank import StaleBankError, extract_bank, file_sha256
from surgvista_mm.models.temporal import CausalMSTCN, truncated_mse
from tests.helpers.tools import load_tool
from tests.helpers.devices import CPU_ONLY_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FRAME_CFG = osp.join(ROOT, 'configs', 'twostage', 'demo_frame.py')
TCN_CFG = osp.join(ROOT, 'configs', 'twostage', 'demo_tcn.py')
DEMO_ARGS = ('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
             '--no-progress')  # as tests/test_chain.py: the session shares the folder
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _sample(labels, video_id='v1') -> BaseDataElement:
    sample = BaseDataElement(metainfo=dict(video_id=video_id))
    sample.gt_labels = torch.as_tensor(labels, dtype=torch.int64)
    sample.frame_indices = torch.arange(len(labels))
    return sample


# ------------------------------------------------------------------------------- MS-TCN
def test_mstcn_is_causal():
    torch.manual_seed(0)
    model = CausalMSTCN(in_channels=8, num_classes=4, num_stages=3, num_layers=5,
                        num_f_maps=16).eval()
    x = torch.randn(60, 8)
    ref = model(x)
    assert ref.shape == (3, 1, 4, 60)
    t = 37
    changed = x.clone()
    changed[t + 1:] = torch.randn(60 - t - 1, 8) * 5
    out = model(changed)
    # frames up to t are unchanged (every stage), frames after t are not
    assert torch.equal(out[..., :t + 1], ref[..., :t + 1])
    assert not torch.allclose(out[..., t + 1:], ref[..., t + 1:])
    # and a change at t reaches t (the receptive field includes the current frame)
    changed_t = x.clone()
    changed_t[t] += 1
    assert not torch.allclose(model(changed_t)[..., t], ref[..., t])
    assert model.receptive_field == 1 + 2 * (2 ** 5 - 1)


def test_truncated_mse_matches_the_paper_formula():
    logits = torch.tensor([[[0.0, 2.0, 2.0, -9.0], [1.0, 0.0, 0.5, 9.0]]])  # [B=1, C=2, T=4]
    logp = np.log(np.exp(logits[0].numpy()) / np.exp(logits[0].numpy()).sum(0))
    delta = np.minimum(np.abs(logp[:, 1:] - logp[:, :-1]), 4.0)
    expected = (delta ** 2).sum() / (2 * 3)
    assert truncated_mse(logits, tau=4.0).item() == pytest.approx(expected, rel=1e-5)
    assert delta.max() == 4.0  # the last step (18 nats for class 0) is truncated
    assert truncated_mse(logits[..., :1], tau=4.0).item() == 0.0


def test_mstcn_loss_and_predict():
    torch.manual_seed(0)
    model = CausalMSTCN(in_channels=6, num_classes=3, num_stages=2, num_layers=3,
                        num_f_maps=8, dropout=0.0, smooth_weight=0.15, smooth_tau=4.0)
    feats = torch.randn(10, 6)
    labels = [-1, -1, 0, 0, 1, 1, 1, 2, 2, 2]  # two unlabelled frames (context only)
    losses = model(inputs=[feats], data_samples=[_sample(labels)], mode='loss')
    logits = model(feats)  # [S, 1, C, T]
    target = torch.tensor(labels)
    ce = sum(F.cross_entropy(s[0].t()[2:], target[2:]) for s in logits)
    smooth = sum(truncated_mse(s, 4.0) for s in logits)
    assert losses['loss_cls'].item() == pytest.approx(ce.item(), rel=1e-5)
    assert losses['loss_smooth'].item() == pytest.approx(0.15 * smooth.item(), rel=1e-5)
    model.eval()
    out = model(inputs=[feats], data_samples=[_sample(labels, 'vid7')], mode='predict')
    assert [s.frame_index for s in out] == list(range(2, 10))  # labelled frames only
    assert {s.video_id for s in out} == {'vid7'}
    probs = F.softmax(model(feats)[-1, 0], dim=0).t()
    assert torch.allclose(torch.stack([s.pred_score for s in out]), probs[2:], atol=1e-6)
    assert [int(s.gt_label) for s in out] == labels[2:]


# ------------------------------------------------------------------------------- banks
def _frame_cfg(demo: str) -> Config:
    cfg = Config.fromfile(FRAME_CFG)
    for key in LOADERS:
        cfg[key].dataset.data_root = demo
    return cfg


def _random_checkpoint(cfg: Config, path: str, seed: int) -> torch.nn.Module:
    from surgvista_mm.registry import MODELS
    init_default_scope('surgvista_mm')
    torch.manual_seed(seed)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg')
    model = MODELS.build(model_cfg).eval()
    torch.save({'state_dict': model.state_dict()}, path)
    return model


def test_feature_bank_round_trip_resume_and_stale_refusal(make_demo, tmp_path):
    demo = make_demo(*DEMO_ARGS)
    cfg = _frame_cfg(demo)
    ckpt = str(tmp_path / 'frame.pth')
    model = _random_checkpoint(cfg, ckpt, seed=0)
    bank = str(tmp_path / 'bank')
    done = extract_bank(cfg, ckpt, bank, batch_size=7, progress=False)
    meta = done['bank']
    assert meta['checkpoint_sha256'] == file_sha256(ckpt)
    assert meta['feature_dim'] == 96 and meta['config'] == FRAME_CFG
    assert meta['splits'] == {'train': ['video01'], 'val': ['video02'], 'test': ['video03']}
    assert sorted(done['written']) == ['video01', 'video02', 'video03']

    # round trip: the bank equals the model's features of the frames the dataset serves
    from surgvista_mm.registry import DATASETS
    ds_cfg = cfg.test_dataloader.dataset.copy()
    dataset = DATASETS.build(ds_cfg)
    items = [dataset[i] for i in range(len(dataset))]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                            data_samples=[it['data_samples'] for it in items]))
        expected = model.backbone(data['inputs'].flatten(0, 1)).numpy()
    with np.load(osp.join(bank, 'video03.npz')) as stored:
        assert stored['features'].shape == (24, 96)
        np.testing.assert_allclose(stored['features'], expected, rtol=1e-5, atol=1e-5)
        assert stored['frame_indices'].tolist() == list(range(24))
        labels = stored['labels']
    assert labels.tolist() == [int(it['data_samples'].gt_label) for it in items]

    # resumable: finished videos are skipped, a lost one is redone
    os.remove(osp.join(bank, 'video02.npz'))
    again = extract_bank(cfg, ckpt, bank, progress=False)
    assert again['written'] == ['video02'] and sorted(again['skipped']) == ['video01',
                                                                            'video03']
    # another checkpoint: refused, naming both hashes; nothing in the bank changes
    other = str(tmp_path / 'other.pth')
    _random_checkpoint(cfg, other, seed=1)
    before = {p: os.path.getmtime(p) for p in glob.glob(osp.join(bank, '*'))}
    with pytest.raises(StaleBankError) as err:
        extract_bank(cfg, other, bank, progress=False)
    assert file_sha256(ckpt) in str(err.value) and file_sha256(other) in str(err.value)
    assert {p: os.path.getmtime(p) for p in glob.glob(osp.join(bank, '*'))} == before

    # the sequence dataset reads it back; a bank of another width or classes is refused
    seq = FeatureSequenceDataset(bank, 'test', feature_dim=96)
    item = seq[0]
    assert item['inputs'].shape == (24, 96) and item['data_samples'].video_id == 'video03'
    assert seq.metainfo['classes'][0] == 'Preparation'
    with pytest.raises(ValueError, match='width 96'):
        FeatureSequenceDataset(bank, 'test', feature_dim=768)
    with pytest.raises(ValueError, match='classes'):
        FeatureSequenceDataset(bank, 'test', classes=('a', 'b'))


def test_sequence_dataset_refuses_missing_or_incomplete_bank(tmp_path):
    with pytest.raises(FileNotFoundError, match='extract_bank.py'):
        FeatureSequenceDataset(str(tmp_path / 'nowhere'), 'train')
    from surgvista_mm.inference.feature_bank import BANK_FORMAT
    (tmp_path / 'bank.json').write_text(json.dumps(dict(
        format=BANK_FORMAT, checkpoint='x.pth', checkpoint_sha256='0' * 64, feature_dim=4,
        classes=['a', 'b'], splits=dict(train=['v1', 'v2']),
        videos=dict(v1=dict(file='v1.npz', num_frames=3)))))
    np.savez(tmp_path / 'v1.npz', features=np.zeros((3, 4), np.float32),
             labels=np.zeros(3, np.int64), frame_indices=np.arange(3))
    with pytest.raises(ValueError, match=r'incomplete.*v2'):
        FeatureSequenceDataset(str(tmp_path), 'train')
    with pytest.raises(KeyError, match="no split 'val'"):
        FeatureSequenceDataset(str(tmp_path), 'val')


# ------------------------------------------------------------------------------- the chain
def _run_tool(monkeypatch, name: str, args):
    monkeypatch.setattr(sys, 'argv', [name] + [str(a) for a in args])
    return load_tool(name).main()


def test_two_stage_chain_through_the_command_lines(make_demo, tmp_path, monkeypatch):
    demo = make_demo(*DEMO_ARGS)
    run = tmp_path / 'run'
    quick = ['default_hooks.logger.interval=1']
    loaders = [f'{k}.{o}' for k in LOADERS for o in ('num_workers=0',
                                                     'persistent_workers=False')]
    frame_opts = [f'{k}.dataset.data_root={demo}' for k in LOADERS] + loaders + quick + [
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8']
    # 1. stage 1: tools/train.py FRAME_CFG --work-dir RUN/frame --seed S --cfg-options ...
    _run_tool(monkeypatch, 'train', [FRAME_CFG, '--work-dir', run / 'frame', '--seed', 3,
                                     '--cfg-options', *frame_opts])
    best = glob.glob(str(run / 'frame' / 'best_*.pth'))
    assert len(best) == 1
    # auto_scale_lr: the LR 2e-3 is written for 1 process x 32 frames; this launch has 8
    last = (run / 'frame' / 'last_checkpoint').read_text().strip()
    groups = torch.load(last, weights_only=True)['optimizer']['param_groups']
    assert [g['initial_lr'] for g in groups] == pytest.approx([2e-3 * 8 / 32] * len(groups))
    # 2. the bank of the best checkpoint
    assert load_tool('twostage/extract_bank').main(
        [FRAME_CFG, best[0], '--out', str(run / 'bank'), '--no-progress', '--cfg-options',
         *[f'{k}.dataset.data_root={demo}' for k in LOADERS]]) == 0
    meta = json.loads((run / 'bank' / 'bank.json').read_text())
    assert meta['checkpoint_sha256'] == file_sha256(best[0])
    assert {v: r['num_frames'] for v, r in meta['videos'].items()} == {
        'video01': 24, 'video02': 24, 'video03': 24}
    # 3. stage 2: tools/train.py TCN_CFG with the three bank_dir options
    bank_opts = [f'{k}.dataset.bank_dir={run / "bank"}' for k in LOADERS]
    _run_tool(monkeypatch, 'train', [TCN_CFG, '--work-dir', run / 'tcn', '--seed', 3,
                                     '--cfg-options', *bank_opts, *loaders, *quick,
                                     'train_cfg.max_epochs=3', 'train_cfg.val_begin=2'])
    best_tcn = glob.glob(str(run / 'tcn' / 'best_*.pth'))
    assert len(best_tcn) == 1 and 'video_accuracy' in best_tcn[0]
    # one process, one video a step: the reference set-up, the LR as written (factor 1)
    last = (run / 'tcn' / 'last_checkpoint').read_text().strip()
    groups = torch.load(last, weights_only=True)['optimizer']['param_groups']
    assert {g['lr'] for g in groups} == {1e-3}
    assert not glob.glob(str(run / 'tcn' / 'best_*epoch_1.pth'))  # no selection before val_begin
    # 4. tools/test.py TCN_CFG best --out-dir RUN/results (+ the bank options)
    _run_tool(monkeypatch, 'test', [TCN_CFG, best_tcn[0], '--work-dir', run / 'test',
                                    '--out-dir', run / 'results', '--cfg-options',
                                    *bank_opts, *loaders, *quick])
    results = run / 'results'
    report = json.loads((results / 'metrics.json').read_text())
    assert report['num_samples'] == 24 and report['videos'] == ['video03']
    scores = np.load(results / 'scores.npz')
    assert scores['scores'].shape == (24, 7)
    assert scores['frame_indices'].tolist() == list(range(24))
    np.testing.assert_allclose(scores['scores'].sum(1), 1.0, rtol=1e-5)
    assert sorted(os.listdir(results / 'pred')) == ['video03-phase.txt']
    assert (results / 'plots' / 'phase_ribbons.png').is_file()
    # 4a. the same under bf16 autocast (tools/test.py --amp bf16; the per-frame loop keeps its type)
    _run_tool(monkeypatch, 'test', [TCN_CFG, best_tcn[0], '--amp', 'bf16', '--work-dir',
                                    run / 'test_bf16', '--out-dir', run / 'results_bf16',
                                    '--cfg-options', *bank_opts, *loaders, *quick])
    report_bf16 = json.loads((run / 'results_bf16' / 'metrics.json').read_text())
    assert report_bf16['num_samples'] == 24 and report_bf16['videos'] == ['video03']
    scores_bf16 = np.load(run / 'results_bf16' / 'scores.npz')['scores']
    assert 0 < np.abs(scores_bf16 - scores['scores']).max() < 0.05  # bf16 ran, close to float32
    # 4b. two gloo ranks (the sampler pads: both ranks predict video03) write the same files
    out2 = run / 'results_2ranks'
    env = dict(os.environ, **CPU_ONLY_ENV, PYTHONPATH=ROOT, PYTHON=sys.executable,
               OMP_NUM_THREADS='1', PORT=str(28700 + os.getpid() % 1000))
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), TCN_CFG,
                           best_tcn[0], '2', '--work-dir', str(run / 'test2'), '--out-dir',
                           str(out2), '--cfg-options', *bank_opts, *loaders],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'world size: 2' in proc.stdout + proc.stderr
    report2 = json.loads((out2 / 'metrics.json').read_text())
    assert report2['num_samples'] == 24 and report2['metrics'] == report['metrics']
    scores2 = np.load(out2 / 'scores.npz')
    np.testing.assert_allclose(scores2['scores'], scores['scores'], atol=1e-6)
    # 5. eval_phase.py re-scores the written files to the same numbers
    out = tmp_path / 'eval.json'
    assert load_tool('analysis/eval_phase').main(
        ['--gt-dir', str(results / 'gt'), '--pred-dir', str(results / 'pred'), '--protocol',
         'cholec80-matlab', '--fps', '1', '--classes', 'cholec80', '--out', str(out)]) == 0
    rescored = json.loads(out.read_text())
    m = report['metrics']
    assert rescored['jaccard'] == pytest.approx(m['phase/cholec80-matlab/jaccard'], abs=1e-6)
    assert rescored['image_accuracy'] == pytest.approx(m['phase/unrelaxed/image_accuracy'],
                                                       abs=1e-6)


def test_bank_of_a_surgvista_clip_config(make_demo, tmp_path):
    """With a SurgVISTA fine-tuning config, frame t's feature is the pooled fc_norm feature of the
    causal clip ending at t, equal to what the model computes on the dataset's clip."""
    demo = make_demo(*DEMO_ARGS)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py'))
    for key in LOADERS:
        cfg[key].dataset.data_root = demo
    ckpt = str(tmp_path / 'clip.pth')
    model = _random_checkpoint(cfg, ckpt, seed=0)
    bank = str(tmp_path / 'bank')
    meta = extract_bank(cfg, ckpt, bank, batch_size=16, progress=False)['bank']
    assert (meta['clip_len'], meta['frame_interval'], meta['feature_dim']) == (8, 2, 96)
    from surgvista_mm.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset.copy())
    picks = [0, 5, 23]  # clamped at the start, inside, the last second
    items = [dataset[i] for i in picks]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                            data_samples=[it['data_samples'] for it in items]))
        expected = model.cls_head.pool(model.backbone(data['inputs'].flatten(0, 1))).numpy()
    with np.load(osp.join(bank, 'video03.npz')) as stored:
        np.testing.assert_allclose(stored['features'][picks], expected, rtol=1e-4, atol=1e-5)


def test_timm_image_encoder_loads_both_weight_layouts(tmp_path):
    """A converted baseline file (keys ``model.<timm key>``) and a stage-1 training checkpoint
    (``backbone.model.*`` besides the head) load strictly; a wrong key is refused, naming it."""
    from surgvista_mm.models.backbones import TimmImageEncoder
    torch.manual_seed(0)
    source = TimmImageEncoder('test_resnet')
    x = torch.randn(2, 3, 32, 32)
    expected = source.eval()(x)
    assert expected.shape == (2, source.out_channels) == (2, 96)
    assert torch.equal(source(x[:, :, None]), expected)  # a one-frame clip is the image
    converted = str(tmp_path / 'converted.pth')
    torch.save({'state_dict': source.state_dict(), 'meta': {'kind': 'test'}}, converted)
    stage1 = str(tmp_path / 'stage1.pth')
    torch.save({'state_dict': {**{f'backbone.{k}': v for k, v in source.state_dict().items()},
                               'cls_head.head.weight': torch.zeros(7, 96)}}, stage1)
    for path in (converted, stage1):
        target = TimmImageEncoder('test_resnet', init_cfg=dict(type='Pretrained',
                                                               checkpoint=path))
        target.init_weights()
        assert torch.equal(target.eval()(x), expected)
    bad = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': {'model.nope': torch.zeros(1), **source.state_dict()}}, bad)
    with pytest.raises(KeyError, match='model.nope'):
        TimmImageEncoder('test_resnet', init_cfg=dict(type='Pretrained',
                                                      checkpoint=bad)).init_weights()
    with pytest.raises(ValueError, match='single frames'):
        source(torch.randn(1, 3, 2, 32, 32))
