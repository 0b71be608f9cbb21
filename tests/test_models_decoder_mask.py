"""VideoMAE V2-style decoder masking (``SurgVistaPretrainer.decoder_keep_ratio``), a switch that
changes the objective; off by default."""
import pytest
import torch
import torch.nn.functional as F

from surgvista_mm.models.utils.tokens import select_masked
from tests.test_models_pretrainer import batch, build, tiny_cfg


def test_default_predicts_every_masked_token():
    model = build(tiny_cfg(distill=False))
    assert model.decoder_keep_ratio is None
    assert model._decoder_targets(torch.ones(2, 8, dtype=torch.bool), 8) == (None, None)


@pytest.mark.parametrize('distill', [False, True])
def test_keep_ratio_reconstructs_a_subset_of_the_masked_tokens(distill):
    cfg = dict(tiny_cfg(distill=distill), decoder_keep_ratio=0.5)
    model = build(cfg)
    data = model.data_preprocessor(batch(), training=True)
    mask = torch.stack([s.mask.reshape(-1) for s in data['data_samples']]).bool()
    num_masked = int(mask[0].sum())  # tube mask 0.5 on a (2, 2, 2) grid: 4 of 8
    torch.manual_seed(0)
    targets, keep = model._decoder_targets(mask, num_masked)
    assert keep == num_masked // 2
    assert (targets.sum(1) == keep).all() and not (targets & ~mask).any()  # subset of mask
    # the loss is the MSE over exactly those tokens, from a decoder that saw only them
    clip = data['inputs'].squeeze(1)
    latent = model.backbone(clip, mask, num_masked=num_masked)
    pred = model.pixel_decoder(latent, mask, targets, keep)
    assert pred.shape == (2, keep, 1536)
    target = select_masked(model.pixel_head.construct_target(model.pixel_clip(clip)), targets,
                           keep)
    torch.manual_seed(0)  # the same subset inside loss()
    losses = model(**data, mode='loss')
    torch.testing.assert_close(losses['pixel_mse'], F.mse_loss(pred, target))
    if distill:
        assert 'loss_distill' in losses
    losses['loss_pixel'].backward()
    assert model.pixel_decoder.mask_token.grad is not None


def test_targets_change_the_decoder_sequence():
    """Leaving masked tokens out changes the predictions of the kept ones (attention), which is
    why the switch changes the objective and is never the default."""
    model = build(tiny_cfg(distill=False))
    data = model.data_preprocessor(batch(), training=True)
    mask = torch.stack([s.mask.reshape(-1) for s in data['data_samples']]).bool()
    clip = data['inputs'].squeeze(1)
    with torch.no_grad():
        latent = model.backbone(clip, mask, num_masked=4)
        full = model.pixel_decoder(latent, mask)
        every = model.pixel_decoder(latent, mask, mask, 4)  # all masked tokens: identical
        torch.testing.assert_close(every, full, rtol=0, atol=0)
        first = mask & (mask.cumsum(1) <= 2)  # the first two masked tokens of each row
        part = model.pixel_decoder(latent, mask, first, 2)
    assert part.shape == (2, 2, 1536)
    assert not torch.allclose(part, full[:, :2])


def test_bad_keep_ratio_and_targets_raise():
    with pytest.raises(ValueError, match='decoder_keep_ratio'):
        build(dict(tiny_cfg(distill=False), decoder_keep_ratio=1.0))
    model = build(tiny_cfg(distill=False))
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[:, :4] = True
    with pytest.raises(ValueError, match='num_targets'):
        model.pixel_decoder(torch.zeros(2, 4, 32), mask, mask)
