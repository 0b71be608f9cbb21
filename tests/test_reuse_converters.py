"""Converters of the natural-domain baselines, on synthetic state dicts with the real key names
and shapes (full ViT-B/16 shapes on the meta device: no memory, no download), and numerically
on tiny models."""
from __future__ import annotations

import os.path as osp

import pytest
import timm
import torch
from torch.nn import functional as F

from surgvista_mm.checkpoint import convert_state_dict, default_target, target_from_config
from surgvista_mm.checkpoint.natural import inflate_patch_kernel
from surgvista_mm.models import SurgVistaViT

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FINETUNE = osp.join(ROOT, 'configs', 'finetune')


def _meta_state(module: torch.nn.Module, prefix: str = ''):
    return {prefix + k: v for k, v in module.state_dict().items()}


def _timm_vitb_state(with_head: bool = True):
    """Keys and shapes of timm's vit_base_patch16_224 (supervised ImageNet / DINO / MAE)."""
    with torch.device('meta'):
        model = timm.create_model('vit_base_patch16_224', pretrained=False,
                                  num_classes=1000 if with_head else 0)
    return _meta_state(model)


def _videomae_vitb_state(tubelet: int, prefix: str):
    """Keys and shapes of a VideoMAE-layout ViT-B/16 encoder (VideoMAE, MVD, UMT)."""
    with torch.device('meta'):
        encoder = SurgVistaViT(tubelet_size=tubelet, num_frames=8 * tubelet,
                               pos_embed_type='sincos1d_videomae')
    state = _meta_state(encoder, prefix)
    state[prefix + 'pos_embed'] = torch.empty(1, 1568, 768, device='meta')
    return state


def _config(row: str) -> str:
    return osp.join(FINETUNE, f'baseline_{row}_vitb_cholec80_phase_paper.py')


@pytest.mark.parametrize('row, extra, head', [
    ('imagenet_sup', {}, True),
    ('dino', {}, False),
    # MAE's pre-training file adds its decoder and mask token
    ('mae', {'mask_token': (1, 1, 512), 'decoder_embed.weight': (512, 768),
             'decoder_pos_embed': (1, 197, 512), 'decoder_blocks.0.norm1.weight': (512, ),
             'decoder_norm.weight': (512, ), 'decoder_pred.weight': (768, 512)}, False),
])
def test_timm_image_models_convert_to_the_baseline_config(row, extra, head):
    state = _timm_vitb_state(with_head=head)
    state.update({k: torch.empty(s, device='meta') for k, s in extra.items()})
    target = target_from_config(_config(row), 'timm-vit')
    out, report = convert_state_dict(state, 'timm-vit', target=target, source=row)
    assert report.missing == []  # everything the fine-tuning backbone has comes from the file
    assert out['backbone.patch_embed.proj.weight'].shape == (768, 3, 1, 16, 16)
    assert out['backbone.pos_embed_spatial'].shape == (1, 196, 768)
    assert tuple(out['backbone.pos_embed_temporal'].shape) == (1, 8, 768)
    assert out['backbone.blocks.11.attn.q_bias'].shape == (768, )
    dropped = dict(report.dropped)
    assert 'cls_token' in dropped and 'blocks.0.attn.qkv.bias[k]' in dropped
    assert 'backbone.norm.weight' in dropped  # fine-tuning has no final norm
    assert ('head.weight' in dropped) == head
    assert all(k in dropped for k in extra)
    summary = report.summary()
    assert 'dropped blocks.* (12): k bias' in summary and len(summary.splitlines()) < 15
    # the default target (no config) is the same layout with the final norm kept
    out, report = convert_state_dict(state, 'timm-vit', target=default_target('timm-vit', state))
    assert 'backbone.norm.weight' in out and report.missing == []


def test_timm_conversion_is_exact_on_a_single_frame(tmp_path):
    """Same tokens as the image model (no class token) on a 1-frame clip: the per-frame patch
    kernel, the split q/v bias (k bias dropped) and the spatial table are exact."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    image = VisionTransformer(img_size=32, patch_size=16, embed_dim=48, depth=2, num_heads=2,
                              class_token=False, global_pool='avg', fc_norm=False,
                              num_classes=0).eval()
    with torch.no_grad():
        for p in image.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    video = SurgVistaViT(img_size=32, patch_size=16, num_frames=1, tubelet_size=1,
                         embed_dims=48, depth=2, num_heads=2,
                         pos_embed_type='learned_space_time').eval()
    target = {'backbone.' + k: v.shape for k, v in video.state_dict().items()}
    out, _ = convert_state_dict(image.state_dict(), 'timm-vit', target=target)
    path = str(tmp_path / 'image.pth')
    torch.save({'state_dict': out}, path)
    video.load_pretrained(path)  # strict: every tensor of the model comes from the file
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = image.forward_features(x)
        got = video(x[:, :, None])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('row, kind', [('videomae_k400', 'videomae'),
                                       ('videomae_ssv2', 'videomae'),
                                       ('mvd_k400', 'mvd')])
def test_videomae_pretraining_checkpoints_convert(row, kind):
    state = _videomae_vitb_state(tubelet=2, prefix='encoder.')
    state.update({'mask_token': torch.empty(1, 1, 384, device='meta'),
                  'encoder_to_decoder.weight': torch.empty(384, 768, device='meta'),
                  'decoder.blocks.0.norm1.weight': torch.empty(384, device='meta')})
    target = default_target(kind)
    out, report = convert_state_dict(state, kind, target=target, source=row)
    assert set(out) == set(target)
    assert len(report.dropped) == 4  # pos_embed, mask token, encoder_to_decoder, decoder


def test_videomae_v2_finetuned_layout_converts():
    """A VideoMAE-layout encoder saved in the fine-tuning layout (no prefix; fc_norm and head
    instead of the final norm), as some VideoMAE / VideoMAE V2 releases are."""
    state = _videomae_vitb_state(tubelet=2, prefix='')
    del state['norm.weight'], state['norm.bias']
    state.update({'fc_norm.weight': torch.empty(768, device='meta'),
                  'fc_norm.bias': torch.empty(768, device='meta'),
                  'head.weight': torch.empty(710, 768, device='meta')})
    target = target_from_config(_config('videomae_hybrid'), 'videomae')
    out, report = convert_state_dict(state, 'videomae', target=target)
    assert 'backbone.blocks.11.mlp.fc2.weight' in out
    assert {'fc_norm.weight', 'head.weight'} <= set(dict(report.dropped))


def test_umt_stage1_inflates_its_tubelet_1_kernel():
    state = _videomae_vitb_state(tubelet=1, prefix='encoder.')
    state.update({'clip_decoder.0.head.weight': torch.empty(512, 768, device='meta'),
                  'clip_decoder.0.norm.weight': torch.empty(768, device='meta')})
    assert state['encoder.patch_embed.proj.weight'].shape == (768, 3, 1, 16, 16)
    target = target_from_config(_config('umt_k710'), 'umt')
    out, report = convert_state_dict(state, 'umt', target=target, source='umt')
    assert out['backbone.patch_embed.proj.weight'].shape == (768, 3, 2, 16, 16)
    assert any('inflated to 2 frames' in n and 'approximation' in n for n in report.notes)
    assert 'clip_decoder.0.head.weight' in dict(report.dropped)
    assert report.missing == []


def test_inflated_kernel_gives_the_image_response_on_a_static_clip():
    torch.manual_seed(0)
    kernel = torch.randn(8, 3, 16, 16)
    frame = torch.randn(1, 3, 32, 32)
    clip = frame[:, :, None].repeat(1, 1, 2, 1, 1)
    inflated = inflate_patch_kernel(kernel, 2)
    torch.testing.assert_close(F.conv3d(clip, inflated, stride=(2, 16, 16))[:, :, 0],
                               F.conv2d(frame, kernel, stride=16), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='temporal size 2'):
        inflate_patch_kernel(torch.randn(8, 3, 2, 16, 16), 4)


def test_summary_counts_dropped_keys_by_prefix():
    state = _videomae_vitb_state(tubelet=2, prefix='encoder.')
    state.update({f'decoder.blocks.{i}.attn.qkv.weight': torch.empty(1152, 384, device='meta')
                  for i in range(4)})
    _, report = convert_state_dict(state, 'videomae')
    summary = report.summary()
    assert 'dropped decoder.* (4): decoder / pre-training-only parameter' in summary
    assert 'decoder.blocks.0' not in summary
    assert 'decoder.blocks.0.attn.qkv.weight' in report.summary(verbose=True)
