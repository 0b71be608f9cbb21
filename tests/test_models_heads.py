"""SurgVistaClsHead (inside mmaction2's Recognizer3D) and the pre-training heads."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from torch.testing import assert_close

import surgvista_mm  # noqa: F401
from surgvista_mm.registry import MODELS


def build(cfg):
    init_default_scope('surgvista_mm')
    return MODELS.build(cfg)


def recognizer(**head):
    return build(dict(
        type='Recognizer3D',
        backbone=dict(type='SurgVistaViT', img_size=32, patch_size=16, num_frames=4,
                      tubelet_size=2, embed_dims=32, depth=1, num_heads=2, final_norm=False),
        cls_head=dict(dict(type='SurgVistaClsHead', num_classes=5, in_channels=32), **head),
        data_preprocessor=dict(type='SurgVistaDataPreprocessor')))


def samples(labels):
    return [ActionDataSample().set_gt_label(label) for label in labels]


def uint8_batch(n, clips=1):
    return [torch.randint(0, 256, (clips, 3, 4, 32, 32), dtype=torch.uint8) for _ in range(n)]


def test_zero_init_head_and_recognizer_loss():
    model = recognizer()
    assert torch.count_nonzero(model.cls_head.head.weight) == 0
    data = model.data_preprocessor(dict(inputs=uint8_batch(2), data_samples=samples([1, 3])),
                                   training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls'}
    assert_close(losses['loss_cls'], torch.log(torch.tensor(5.0)))  # uniform logits


def test_label_smoothing_and_soft_labels():
    head = build(dict(type='SurgVistaClsHead', num_classes=4, in_channels=8,
                      label_smooth_eps=0.1, dropout_ratio=0.0, init_scale=1.0))
    feats = torch.randn(3, 5, 8)
    logits = head(feats)
    hard = head.loss(feats, samples([0, 2, 3]))['loss_cls']
    assert_close(hard, F.cross_entropy(logits, torch.tensor([0, 2, 3]), label_smoothing=0.1))
    soft = F.one_hot(torch.tensor([0, 2, 3]), 4).float()
    assert_close(head.loss(feats, samples(list(soft)))['loss_cls'], hard)


def test_mixup_blending_through_preprocessor():
    model = build(dict(
        type='Recognizer3D',
        backbone=dict(type='SurgVistaViT', img_size=32, patch_size=16, num_frames=4,
                      tubelet_size=2, embed_dims=32, depth=1, num_heads=2, final_norm=False),
        cls_head=dict(type='SurgVistaClsHead', num_classes=5, in_channels=32,
                      label_smooth_eps=0.1),
        data_preprocessor=dict(type='SurgVistaDataPreprocessor',
                               blending=dict(type='RandomBatchAugment', augments=[
                                   dict(type='MixupBlending', alpha=0.8, num_classes=5),
                                   dict(type='CutmixBlending', alpha=1.0, num_classes=5)]))))
    data = model.data_preprocessor(dict(inputs=uint8_batch(3), data_samples=samples([0, 1, 4])),
                                   training=True)
    assert data['data_samples'][0].gt_label.shape == (5,)
    assert torch.isfinite(model(**data, mode='loss')['loss_cls'])


def test_multi_label_bce_and_predict():
    head = build(dict(type='SurgVistaClsHead', num_classes=4, in_channels=8, multi_label=True,
                      dropout_ratio=0.0, init_scale=1.0))
    feats = torch.randn(2, 5, 8)
    targets = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1]])
    loss = head.loss(feats, samples(list(targets)))['loss_cls']
    assert_close(loss, F.binary_cross_entropy_with_logits(head(feats), targets.float()))
    out = head.predict(feats, samples(list(targets)))
    assert_close(out[0].pred_score, torch.sigmoid(head(feats))[0])
    with pytest.raises(ValueError, match='label_smooth'):
        build(dict(type='SurgVistaClsHead', num_classes=4, multi_label=True,
                   label_smooth_eps=0.1))


def test_predict_averages_clips():
    model = recognizer(init_scale=1.0).eval()
    data = model.data_preprocessor(dict(inputs=uint8_batch(2, clips=3),
                                        data_samples=samples([0, 1])), training=False)
    out = model(**data, mode='predict')
    assert out[0].pred_score.shape == (5,)
    assert_close(out[0].pred_score.sum(), torch.tensor(1.0))
    with torch.no_grad():
        feats = model.backbone(data['inputs'].flatten(0, 1))
        probs = model.cls_head(feats).softmax(-1).view(2, 3, 5).mean(1)
    assert_close(out[1].pred_score, probs[1])
    assert out[1].pred_label.item() == probs[1].argmax().item()


def test_pixel_target_normalised_per_patch_and_channel():
    head = build(dict(type='SurgVistaPixelHead', patch_size=4, tubelet_size=2))
    clip = torch.rand(2, 3, 4, 8, 8)
    target = head.construct_target(clip)
    assert target.shape == (2, 8, 2 * 4 * 4 * 3)
    per_channel = target.view(2, 8, 32, 3)
    assert_close(per_channel.mean(2), torch.zeros(2, 8, 3), rtol=0, atol=1e-5)
    assert_close(per_channel.std(2), torch.ones(2, 8, 3), rtol=0, atol=1e-4)
    # value order inside a token: (t, h, w, c); token order: t-major
    raw = clip[0, :, 0:2, 0:4, 0:4].permute(1, 2, 3, 0).reshape(32, 3)
    expected = (raw - raw.mean(0)) / (raw.std(0) + 1e-6)
    assert_close(per_channel[0, 0], expected, rtol=1e-5, atol=1e-5)
    raw = clip[1, :, 2:4, 4:8, 0:4].permute(1, 2, 3, 0).reshape(32, 3)  # t'=1, h'=1, w'=0
    assert_close(per_channel[1, 6], (raw - raw.mean(0)) / (raw.std(0) + 1e-6),
                 rtol=1e-5, atol=1e-5)


def test_distill_head_norm_target():
    head = build(dict(type='SurgVistaDistillHead', norm_target=True, loss_weight=0.5))
    feats = torch.randn(1, 4, 6) * 3 + 2
    mask = torch.tensor([[True, False, True, False]])
    pred = torch.zeros(1, 2, 6)
    out = head.loss(pred, feats, mask)
    target = F.layer_norm(feats[:, [0, 2]], (6,), eps=1e-6)
    assert_close(out['distill_smoothl1'], F.smooth_l1_loss(pred, target))
    assert_close(out['loss_distill'], 0.5 * out['distill_smoothl1'])
