"""Fine-tuning augmentations: one draw per clip (video-consistent), reproducible from ``rng``."""
from __future__ import annotations

import random

import mmcv
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import surgvista_mm  # noqa: F401
from surgvista_mm.registry import MODELS, TRANSFORMS

T, H, W = 6, 48, 60


def frames(seed: int = 0, same: bool = False, t: int = T, h: int = H, w: int = W):
    """A clip of smooth-ish random uint8 frames (identical frames with ``same``)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    out = []
    for i in range(t):
        img = base if same else np.roll(base, i, axis=1)
        out.append(mmcv.imresize(img, (w, h), interpolation='bilinear'))
    return out


def run(cfg: dict, imgs, seed=None, **extra):
    results = dict(imgs=imgs, img_shape=imgs[0].shape[:2], video_id='v', **extra)
    if seed is not None:
        results['rng'] = np.random.default_rng(seed)
    return TRANSFORMS.build(cfg)(results)


def all_equal(imgs) -> bool:
    return all(np.array_equal(imgs[0], img) for img in imgs[1:])


AUGMENTS = [
    dict(type='VideoRandAugment', config_str='rand-m7-n4-mstd0.5', interpolation='bicubic'),
    dict(type='VideoRandomResizedCrop', size=32, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3)),
    dict(type='VideoFlip', flip_ratio=0.5),
    dict(type='VideoRandomErasing', p=1.0, mode='pixel'),
]


@pytest.mark.parametrize('cfg', AUGMENTS, ids=lambda c: c['type'])
def test_same_op_on_every_frame(cfg):
    changed = 0
    for seed in range(12):
        clip = frames(seed, same=True)
        out = run(cfg, [f.copy() for f in clip], seed)['imgs']
        assert len(out) == T and all(o.dtype == np.uint8 for o in out)
        assert all_equal(out), f'seed {seed}: frames were augmented differently'
        changed += out[0].shape != clip[0].shape or not np.array_equal(out[0], clip[0])
    assert changed >= 3  # the transform does something


@pytest.mark.parametrize('cfg', AUGMENTS, ids=lambda c: c['type'])
def test_reproducible_from_rng_and_leaves_globals_alone(cfg):
    clip = frames(1)
    before = [f.copy() for f in clip]
    py_state, np_state = random.getstate(), np.random.get_state()
    a = run(cfg, clip, seed=7)['imgs']
    b = run(cfg, clip, seed=7)['imgs']
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(np.array_equal(x, y) for x, y in zip(clip, before))  # input not written to
    assert random.getstate() == py_state
    assert all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(np.random.get_state(), np_state))
    outs = [run(cfg, clip, seed=s)['imgs'] for s in range(8)]
    assert any(not all(np.array_equal(x, y) for x, y in zip(outs[0], o)) for o in outs[1:])
    assert len(run(cfg, clip)['imgs']) == T  # no rng: a fresh generator


def test_rand_augment_plan_matches_config():
    aug = TRANSFORMS.build(AUGMENTS[0])
    assert aug.num_layers == 4 and len(aug.ops) == 15
    assert all(op.magnitude == 7 and op.magnitude_std == 0.5 for op in aug.ops)
    assert all(op.kwargs['resample'] == 3 for op in aug.ops)  # PIL bicubic
    ops = [run(AUGMENTS[0], frames(0), seed=s)['rand_augment'] for s in range(50)]
    assert max(len(o) for o in ops) <= 4 and any(len(o) >= 2 for o in ops)
    mags = [m for o in ops for _, m in o]
    assert 6.0 < np.mean(mags) < 8.0 and np.std(mags) > 0.2  # m7, mstd 0.5
    with pytest.raises(ValueError):
        TRANSFORMS.build(dict(type='VideoRandAugment', config_str='rand-m7-q3'))
    with pytest.raises(ValueError):
        TRANSFORMS.build(dict(type='VideoRandAugment', interpolation='lanczos'))


@pytest.mark.parametrize('increasing', [False, True], ids=['default', 'inc1'])
def test_rand_augment_every_op_runs_at_every_magnitude(increasing):
    """Magnitudes 0..10: every op (posterize included, whose timm level may keep 0 bits,
    which PIL refuses) runs, and the frames stay uint8 of the input shape."""
    clip = frames(3, t=2, h=16, w=20)
    names = set()
    for m in range(11):
        cfg = dict(type='VideoRandAugment',
                   config_str=f'rand-m{m}-n1-p1.0{"-inc1" if increasing else ""}')
        aug = TRANSFORMS.build(cfg)
        for op in list(aug.ops):
            aug.ops, aug.choice_weights = [op], None
            results = aug(dict(imgs=[f.copy() for f in clip], img_shape=(16, 20), video_id='v',
                               rng=np.random.default_rng(m)))
            assert results['rand_augment'] == [(op.name, float(m))]
            for out in results['imgs']:
                assert out.dtype == np.uint8 and out.shape == (16, 20, 3), (m, op.name)
            names.add(op.name)
    assert len(names) == 15 and any(n.startswith('Posterize') for n in names)
    # magnitude noise around a low magnitude reaches the levels that kept 0 bits
    aug = TRANSFORMS.build(dict(type='VideoRandAugment', config_str='rand-m2-n4-mstd0.5'))
    for seed in range(40):
        assert len(aug(dict(imgs=[clip[0].copy()], img_shape=(16, 20), video_id='v',
                            rng=np.random.default_rng(seed)))['imgs']) == 1


def test_random_resized_crop_box_is_shared():
    clip = frames(2)  # frames differ: each is cropped with the same box
    res = run(AUGMENTS[1], clip, seed=3)
    x1, y1, x2, y2 = res['crop_bbox']
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    area = (x2 - x1) * (y2 - y1) / (H * W)
    assert 0.6 <= area <= 1.0
    for src, out in zip(clip, res['imgs']):
        expected = mmcv.imresize(src[y1:y2, x1:x2], (32, 32), interpolation='bilinear')
        np.testing.assert_array_equal(out, expected)
    assert res['img_shape'] == (32, 32)
    areas = []
    for s in range(200):
        b = run(AUGMENTS[1], clip, seed=s)['crop_bbox']
        w, h = b[2] - b[0], b[3] - b[1]
        areas.append(w * h / (H * W))
        assert 3 / 4 - 0.1 <= w / h <= 4 / 3 + 0.1
    assert 0.68 <= min(areas) and max(areas) <= 1.0


def test_flip_all_or_none():
    clip = frames(3)
    flips = []
    for s in range(40):
        res = run(AUGMENTS[2], clip, seed=s)
        flips.append(res['flip'])
        expected = [f[:, ::-1] for f in clip] if res['flip'] else clip
        assert all(np.array_equal(a, b) for a, b in zip(res['imgs'], expected))
    assert 10 < sum(flips) < 30


def test_erasing_same_box_and_noise_on_every_frame():
    clip = frames(4)  # different frames, same erased patch
    res = run(AUGMENTS[3], clip, seed=5)
    x1, y1, x2, y2 = res['erase_bbox']
    patches = [f[y1:y2, x1:x2] for f in res['imgs']]
    assert all_equal(patches)
    for src, out in zip(clip, res['imgs']):
        keep = np.ones((H, W), bool)
        keep[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(out[keep], src[keep])
    assert patches[0].std() > 20  # per-pixel noise around the ImageNet mean
    never = run(dict(AUGMENTS[3], p=0.0), clip, seed=5)
    assert never['erase_bbox'] is None and all(a is b for a, b in zip(never['imgs'], clip))
    hits = sum(run(dict(AUGMENTS[3], p=0.25), clip, seed=s)['erase_bbox'] is not None
               for s in range(200))
    assert 30 < hits < 75
    with pytest.raises(ValueError):
        TRANSFORMS.build(dict(type='VideoRandomErasing', mode='zeros'))


def test_clear_errors():
    with pytest.raises(KeyError, match='imgs'):
        TRANSFORMS.build(AUGMENTS[2])(dict(video_id='v'))
    bad = frames(0)
    bad[1] = bad[1][:-2]
    with pytest.raises(ValueError, match='different shapes'):
        run(AUGMENTS[1], bad, seed=0)
    with pytest.raises(ValueError, match='scale'):
        TRANSFORMS.build(dict(type='VideoRandomResizedCrop', scale=(0.0, 1.0)))
    with pytest.raises(TypeError):
        TRANSFORMS.build(dict(type='VideoFlip', flip_prob=0.5))  # no silent kwargs


def test_pack_clip_inputs_for_recognizer3d():
    res = dict(imgs=frames(0, h=32, w=32), gt_label=3, video_id='video07', frame_index=12,
               sample_idx=5)
    packed = TRANSFORMS.build(dict(type='PackSurgVistaClipInputs'))(res)
    assert packed['inputs'].shape == (1, 3, T, 32, 32) and packed['inputs'].dtype == torch.uint8
    sample = packed['data_samples']
    assert sample.video_id == 'video07' and sample.frame_index == 12
    assert sample.gt_label.tolist() == [3]


def test_mmaction_cutmix_box_is_shared_by_all_frames():
    """CutmixBlending cuts one (h, w) box for the whole [B, 1, C, T, H, W] batch."""
    init_default_scope('surgvista_mm')
    cutmix = MODELS.build(dict(type='CutmixBlending', alpha=1.0, num_classes=4))
    torch.manual_seed(0)
    for _ in range(10):
        imgs = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1, 1, 1).expand(
            4, 1, 3, 5, 16, 16).clone()
        samples = [ActionDataSample().set_gt_label(i) for i in range(4)]
        mixed, samples = cutmix(imgs.clone(), samples)
        for b in range(4):
            changed = mixed[b, 0] != b  # [C, T, H, W]
            assert (changed == changed[:1, :1]).all()  # same pixels in every channel and frame
            frac = changed[0, 0].float().mean()
            soft = samples[b].gt_label
            assert torch.isclose(soft.sum(), torch.tensor(1.0))
            if frac == 0:
                assert soft[b] == 1
