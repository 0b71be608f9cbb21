"""SurgVistaViT as a drop-in MMAction2 backbone: out_type, mmaction2 heads, mmaction2's own
VideoMAE config with the backbone swapped, and the mmaction2-vit converter."""
from __future__ import annotations

import os.path as osp

import mmaction
import pytest
import torch
from mmaction.models.backbones import VisionTransformer
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

from surgvista_mm.checkpoint import convert_state_dict
from surgvista_mm.models import SurgVistaViT

TINY = dict(img_size=32, patch_size=16, num_frames=4, embed_dims=48, depth=2, num_heads=2)
VIDEOMAE_CFG = osp.join(osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
                        'videomae', 'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py')
#: mmaction2 heads that run on each out_type (docs/reuse.md has the same table)
HEADS = {
    'tokens': ['SurgVistaClsHead'],
    'pooled': ['TimeSformerHead', 'UniFormerHead'],
    'featmap': ['I3DHead', 'X3DHead', 'TPNHead'],
}


def _randomise(model: torch.nn.Module) -> None:
    """Random values everywhere (zero biases / unit norms would hide layout mistakes)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)


def test_out_types_are_views_of_the_same_tokens():
    torch.manual_seed(0)
    tokens_model = SurgVistaViT(**TINY, final_norm=False).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    tokens = tokens_model(x)
    assert tokens.shape == (2, 8, 48)
    pooled_model = SurgVistaViT(**TINY, out_type='pooled').eval()
    assert not pooled_model.final_norm and isinstance(pooled_model.fc_norm, torch.nn.LayerNorm)
    missing = pooled_model.load_state_dict(tokens_model.state_dict(), strict=False)
    assert missing.missing_keys == ['fc_norm.weight', 'fc_norm.bias']
    torch.nn.init.normal_(pooled_model.fc_norm.weight)
    torch.testing.assert_close(pooled_model(x), pooled_model.fc_norm(tokens.mean(dim=1)))
    feat_model = SurgVistaViT(**TINY, out_type='featmap').eval()
    feat_model.load_state_dict(tokens_model.state_dict())
    feat = feat_model(x)
    assert feat.shape == (2, 48, 2, 2, 2)  # [B, D, T', H', W']
    # token n = (t, h, w) in t-major order is the feature map's column [:, :, t, h, w]
    torch.testing.assert_close(feat[:, :, 1, 0, 1], tokens[:, 1 * 4 + 0 * 2 + 1])
    assert SurgVistaViT(**TINY).final_norm  # 'tokens' (pre-training) keeps its final norm


@pytest.mark.parametrize('kwargs, match', [
    (dict(qk_scale=0.5), 'qk_scale'),
    (dict(init_values=0.1), 'init_values'),
    (dict(use_learnable_pos_emb=True), 'use_learnable_pos_emb'),
    (dict(pretrained='vit.pth'), 'pretrained'),
    (dict(use_mean_pooling=False), 'use_mean_pooling=False'),
    (dict(use_mean_pooling=True, out_type='tokens'), 'contradicts'),
    (dict(return_feat_map=True, out_type='pooled'), 'contradicts'),
    (dict(norm_cfg=dict(type='BN')), 'norm_cfg'),
    (dict(norm_cfg=dict(type='LN', eps=1e-5), norm_eps=1e-6), 'disagrees'),
    (dict(out_type='pooled', final_norm=True), 'final_norm must be False'),
    (dict(out_type='cls'), 'out_type must be one of'),
])
def test_arguments_that_cannot_be_honoured_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SurgVistaViT(**dict(TINY, **kwargs))


def test_mmaction2_flags_select_the_out_type():
    assert SurgVistaViT(**TINY, use_mean_pooling=True).out_type == 'pooled'
    assert SurgVistaViT(**TINY, return_feat_map=True).out_type == 'featmap'
    assert SurgVistaViT(**TINY, norm_cfg=dict(type='LN', eps=1e-6)).blocks[0].norm1.eps == 1e-6
    with pytest.raises(ValueError, match="out_type='tokens'"):
        SurgVistaViT(**TINY, out_type='pooled')(torch.randn(1, 3, 4, 32, 32),
                                                 torch.zeros(1, 8, dtype=torch.bool))


@pytest.mark.parametrize('out_type, head', [(o, h) for o, hs in HEADS.items() for h in hs])
def test_mmaction2_heads_run_on_their_out_type(out_type, head):
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MMACTION_MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='SurgVistaViT', out_type=out_type, **TINY),
            cls_head=dict(type=head, num_classes=3, in_channels=48),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW')))
        inputs = torch.randn(2, 1, 3, 4, 32, 32)
        samples = [ActionDataSample().set_gt_label(torch.tensor([i])) for i in range(2)]
        losses = model(inputs, samples, mode='loss')
        assert torch.isfinite(losses['loss_cls'])
        preds = model(inputs, samples, mode='predict')
        assert preds[0].pred_score.numel() == 3


def test_surgvista_cls_head_names_the_out_type_it_needs():
    from surgvista_mm.models import SurgVistaClsHead
    head = SurgVistaClsHead(num_classes=3, in_channels=48)
    assert head.required_out_type == 'tokens'
    with pytest.raises(ValueError, match=r"needs the backbone's out_type='tokens'.*"
                                         r"out_type='pooled'"):
        head(torch.randn(2, 48))
    with pytest.raises(ValueError, match=r"out_type='featmap'"):
        head(torch.randn(2, 48, 2, 2, 2))


def _swapped_videomae_config() -> Config:
    cfg = Config.fromfile(VIDEOMAE_CFG)
    assert cfg.model.backbone.type == 'VisionTransformer'
    cfg.model.backbone.type = 'SurgVistaViT'
    cfg.model.backbone.update(pos_embed_type='sincos1d_videomae', out_type='pooled')
    return cfg


def test_mmaction2_videomae_config_runs_with_the_backbone_swapped():
    import surgvista_mm  # noqa: F401  (what custom_imports does)
    cfg = _swapped_videomae_config()
    assert cfg.default_scope == 'mmaction'
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        # full size, built on the meta device: the ViT-B/16 count (86,227,200 = encoder with
        # fc_norm in place of the final norm); mmaction2's own has the same count at tiny size
        with torch.device('meta'):
            full = MMACTION_MODELS.build(cfg.model)
        assert sum(p.numel() for p in full.backbone.parameters()) == 86_227_200
        assert sum(p.numel() for p in full.cls_head.parameters()) == 768 * 400 + 400
        # tiny override: the test pipeline's shape [B, views, C, T, H, W] through predict
        cfg.model.backbone.update(TINY)
        cfg.model.cls_head.in_channels = 48
        model = MMACTION_MODELS.build(cfg.model).eval()
        ref_cfg = Config.fromfile(VIDEOMAE_CFG).model.backbone
        ref_cfg.update(TINY)
        ref = VisionTransformer(**{k: v for k, v in ref_cfg.items() if k != 'type'})
        assert sum(p.numel() for p in model.backbone.parameters()) == \
            sum(p.numel() for p in ref.parameters())
        samples = [ActionDataSample().set_gt_label(torch.tensor([1]))]
        with torch.no_grad():
            out = model(torch.randn(1, 3, 3, 4, 32, 32), samples, mode='predict')
        assert out[0].pred_score.shape == (400,)
        assert float(out[0].pred_score.sum()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize('return_feat_map', [False, True])
def test_mmaction2_vit_converter_gives_the_same_outputs(return_feat_map):
    ref = VisionTransformer(img_size=32, patch_size=16, embed_dims=48, depth=2, num_heads=2,
                            num_frames=4, norm_cfg=dict(type='LN', eps=1e-6),
                            return_feat_map=return_feat_map)
    _randomise(ref)
    ref.eval()
    ours = SurgVistaViT(**TINY, pos_embed_type='sincos1d_videomae',
                        norm_cfg=dict(type='LN', eps=1e-6),
                        return_feat_map=return_feat_map or None,
                        use_mean_pooling=None if return_feat_map else True).eval()
    target = {'backbone.' + k: v.shape for k, v in ours.state_dict().items()}
    converted, report = convert_state_dict(ref.state_dict(), 'mmaction2-vit', target=target)
    assert report.missing == []
    assert dict(report.dropped)['pos_embed'].startswith('fixed 1-D sin-cos')
    ours.load_state_dict({k[len('backbone.'):]: v for k, v in converted.items()}, strict=True)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_mmaction2_vit_converter_keeps_a_recognizer_head():
    ref = VisionTransformer(img_size=32, patch_size=16, embed_dims=48, depth=1, num_heads=2,
                            num_frames=4)
    state = {'backbone.' + k: v for k, v in ref.state_dict().items()}
    state.update({'cls_head.fc_cls.weight': torch.zeros(3, 48),
                  'cls_head.fc_cls.bias': torch.zeros(3), 'data_preprocessor.mean': torch.ones(3)})
    converted, report = convert_state_dict(state, 'mmaction2-vit')
    assert 'cls_head.fc_cls.weight' in converted and 'backbone.fc_norm.weight' in converted
    assert 'backbone.blocks.0.mlp.fc2.weight' in converted
    assert 'data_preprocessor.mean' in dict(report.dropped)


def test_pooled_backbone_loads_a_pretraining_checkpoint(tmp_path):
    """A pre-training encoder (final norm, no fc_norm) initialises a pooled backbone: the final
    norm is dropped, fc_norm starts fresh; any other missing key still raises."""
    torch.manual_seed(0)
    source = SurgVistaViT(**TINY)
    path = str(tmp_path / 'pre.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in source.state_dict().items()}}, path)
    pooled = SurgVistaViT(**TINY, out_type='pooled')
    pooled.load_pretrained(path)
    torch.testing.assert_close(pooled.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)
    state = {'backbone.' + k: v for k, v in source.state_dict().items() if 'blocks.1.' not in k}
    torch.save({'state_dict': state}, path)
    with pytest.raises(KeyError, match='blocks.1'):
        SurgVistaViT(**TINY, out_type='pooled').load_pretrained(path)


def test_mmaction2_vit_file_converts_and_loads_through_init_cfg(tmp_path):
    """The whole path a user takes: mmaction2 weights file -> convert_file -> Pretrained
    init_cfg of a pooled SurgVistaViT (strict) -> same outputs."""
    from surgvista_mm.checkpoint import convert_file
    ref = VisionTransformer(img_size=32, patch_size=16, embed_dims=48, depth=2, num_heads=2,
                            num_frames=4)
    _randomise(ref)
    src, dst = str(tmp_path / 'mm_vit.pth'), str(tmp_path / 'converted.pth')
    torch.save({'state_dict': ref.state_dict()}, src)
    report = convert_file(src, dst, 'mmaction2-vit')
    assert 'mapped 30 tensors, dropped 1' in report.summary()  # 2 + 2 x 13 + 2
    ours = SurgVistaViT(**TINY, pos_embed_type='sincos1d_videomae', out_type='pooled',
                        init_cfg=dict(type='Pretrained', checkpoint=dst))
    ours.init_weights()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)
