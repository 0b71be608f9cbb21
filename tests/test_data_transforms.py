"""Transforms: TubeMasking counts, TSNMultiScaleCrop rule (vs mmaction2), packing."""
import random

import numpy as np
import pytest
import torch
from mmaction.datasets.transforms import MultiScaleCrop

import surgvista_mm  # noqa: F401
from surgvista_mm.registry import TRANSFORMS

SCALES = (1, 0.875, 0.75, 0.66)


def test_mask_counts_224():
    t = TRANSFORMS.build(dict(type='TubeMasking'))  # 16x224x224, patch 16, tubelet 2, 0.85
    mask = t(dict(rng=np.random.default_rng(0)))['mask']
    assert mask.dtype == bool and mask.shape == (8 * 14 * 14,)
    per_slice = mask.reshape(8, 196)
    assert (per_slice.sum(1) == 166).all() and ((~per_slice).sum(1) == 30).all()
    assert (per_slice == per_slice[0]).all()  # a tube: the same pattern in every slice
    assert mask.sum() == 1328


def test_mask_tiny_and_checks():
    t = TRANSFORMS.build(dict(type='TubeMasking', input_size=(4, 32, 48), patch_size=16,
                              tubelet_size=2, mask_ratio=0.5))
    mask = t(dict(rng=np.random.default_rng(1)))['mask']
    assert mask.shape == (2 * 2 * 3,) and mask.reshape(2, 6).sum(1).tolist() == [3, 3]
    assert t(dict())['mask'].sum() == 6  # no rng: an unseeded generator
    with pytest.raises(ValueError, match='expected 4 of'):
        t(dict(imgs=[np.zeros((32, 32, 3), np.uint8)] * 4))
    with pytest.raises(ValueError, match='not divisible'):
        TRANSFORMS.build(dict(type='TubeMasking', input_size=(16, 224, 220)))
    with pytest.raises(ValueError, match='mask_ratio'):
        TRANSFORMS.build(dict(type='TubeMasking', mask_ratio=1.0))


def test_tsn_candidates_match_mmaction2():
    h, w = 240, 320
    ours = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', input_size=224, scales=SCALES))
    expected = set()
    for cw, ch in ours.candidate_sizes(h, w):
        for x, y in ours.candidate_offsets(h, w, cw, ch):
            expected.add((x, y, x + cw, y + ch))
    # sizes: 240*{1,.875,.75,.66} = 240, 210, 180, 158; |i-j| <= 1 -> 10 pairs; 210 -> no snap
    assert len(ours.candidate_sizes(h, w)) == 10
    assert len(expected) > 100  # offsets coincide when the crop spans the full height
    ref = MultiScaleCrop(224, scales=SCALES, max_wh_scale_gap=1, random_crop=False,
                         num_fixed_crops=13)
    img = np.zeros((h, w, 3), np.uint8)
    seen = set()
    random.seed(0)
    for _ in range(3000):
        out = ref(dict(imgs=[img], img_shape=(h, w)))
        seen.add(tuple(int(v) for v in out['crop_bbox']))
    assert seen == expected


def test_tsn_snap_and_offsets():
    t = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', input_size=224))
    sizes = t.candidate_sizes(256, 340)  # 256, 224, 192, 168: 224 stays, 226 would snap
    assert (224, 224) in sizes and (256, 224) in sizes and len(sizes) == 10
    assert t.candidate_sizes(226, 400)[0] == (224, 224)  # 226 snaps to 224
    offs = t.candidate_offsets(240, 320, 160, 160)  # steps 40 and 20
    assert offs[:5] == [(0, 0), (160, 0), (0, 80), (160, 80), (80, 40)]
    assert offs[5:] == [(0, 40), (160, 40), (80, 80), (80, 0), (40, 20), (120, 20), (40, 60),
                        (120, 60)]
    five = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', input_size=224, num_fixed_crops=5))
    assert len(five.candidate_offsets(240, 320, 160, 160)) == 5


def test_tsn_crop_content_and_rng():
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([yy, xx, np.zeros_like(xx)], -1).astype(np.uint8)
    t = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', input_size=(24, 24), scales=(0.5,),
                              snap_px=0))
    res = t(dict(imgs=[img, img + 1], rng=np.random.default_rng(3)))
    x1, y1, x2, y2 = res['crop_bbox']
    assert (x2 - x1, y2 - y1) == (24, 24) and res['img_shape'] == (24, 24)
    assert np.array_equal(res['imgs'][0], img[y1:y2, x1:x2])  # no resize needed: exact
    assert np.array_equal(res['imgs'][1], img[y1:y2, x1:x2] + 1)  # same box on every frame
    # resized output and determinism from the generator
    t = TRANSFORMS.build(dict(type='TSNMultiScaleCrop', input_size=32))
    boxes = [tuple(t(dict(imgs=[img], rng=np.random.default_rng(s)))['crop_bbox'])
             for s in range(40)]
    again = [tuple(t(dict(imgs=[img], rng=np.random.default_rng(s)))['crop_bbox'])
             for s in range(40)]
    assert boxes == again and len(set(boxes)) > 10
    out = t(dict(imgs=[img]))  # no rng given: still works
    assert out['imgs'][0].shape == (32, 32, 3) and out['imgs'][0].dtype == np.uint8
    assert 'TSNMultiScaleCrop(input_size=(32, 32)' in repr(t)


def test_pack():
    imgs = [np.full((8, 10, 3), k, np.uint8) for k in range(4)]
    imgs[0][0, 0] = (1, 2, 3)
    mask = np.array([True, False, True])
    out = TRANSFORMS.build(dict(type='PackSurgVistaInputs'))(
        dict(imgs=imgs, mask=mask, gt_label=3, video_id=7, frame_index=np.int64(12),
             sample_idx=5, rng=None))
    x, s = out['inputs'], out['data_samples']
    assert x.shape == (3, 4, 8, 10) and x.dtype == torch.uint8
    assert x[:, 0, 0, 0].tolist() == [1, 2, 3] and x[0, 3, 1, 1] == 3
    assert s.mask.dtype == torch.bool and s.mask.tolist() == [True, False, True]
    assert s.gt_label.tolist() == [3]
    assert s.video_id == '7' and s.frame_index == 12 and type(s.frame_index) is int
    out = TRANSFORMS.build(dict(type='PackSurgVistaInputs'))(dict(imgs=imgs))
    assert 'mask' not in out['data_samples'] and 'gt_label' not in out['data_samples']
    with pytest.raises(KeyError, match='imgs'):
        TRANSFORMS.build(dict(type='PackSurgVistaInputs'))(dict(video_id='v'))


def test_pack_fast_and_general_paths_agree():
    """The cv2.split path (uint8, OpenCV-compatible strides) and the numpy path give the same
    C-contiguous [C, T, H, W] clip, for plain, cropped (row-strided), flipped (negative
    stride), 4-channel and float frames."""
    pack = TRANSFORMS.build(dict(type='PackSurgVistaInputs'))
    rng = np.random.default_rng(0)
    base = [rng.integers(0, 256, (12, 14, 3), dtype=np.uint8) for _ in range(5)]
    cases = {'plain': base, 'roi': [b[2:9, 3:12] for b in base],
             'flip': [b[:, ::-1] for b in base],
             'rgba': [np.dstack([b, b[..., :1]]) for b in base],
             'float': [b.astype(np.float32) + 0.25 for b in base]}
    for name, imgs in cases.items():
        ref = np.stack(imgs).transpose(3, 0, 1, 2)
        x = pack(dict(imgs=imgs))['inputs']
        assert x.dtype == torch.uint8 and x.is_contiguous(), name
        assert x.shape == ref.shape, name
        assert np.array_equal(x.numpy(), np.clip(ref, 0, 255).astype(np.uint8)), name
    with pytest.raises(ValueError, match=r"frames \[H, W, C\].*video 'v'"):
        pack(dict(imgs=[np.zeros((4, 4), np.uint8)], video_id='v'))


def test_reuse_with_mmaction_pipeline():
    """The crop also runs inside an mmaction2-style pipeline (no rng key) before FormatShape."""
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('surgvista_mm'):
        pipe = Compose([dict(type='TSNMultiScaleCrop', input_size=16),
                        dict(type='FormatShape', input_format='NCTHW'),
                        dict(type='PackActionInputs')])
    out = pipe(dict(imgs=[np.zeros((20, 30, 3), np.uint8)] * 4, num_clips=1, clip_len=4,
                    label=1))
    assert out['inputs'].shape == (1, 3, 4, 16, 16)
