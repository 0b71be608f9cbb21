"""SurgVistaViT, SurgVistaDecoder and the shared utilities."""
import math

import pytest
import torch
from mmengine.registry import init_default_scope
from torch.testing import assert_close

import surgvista_mm  # noqa: F401
from surgvista_mm.models.utils import (sincos_1d_videomae_table, split_indices,
                                       tube_mask_torch)
from surgvista_mm.registry import MODELS

TINY = dict(type='SurgVistaViT', img_size=32, patch_size=16, num_frames=4, tubelet_size=2,
            embed_dims=32, depth=2, num_heads=2)


def build(cfg):
    init_default_scope('surgvista_mm')
    return MODELS.build(dict(cfg))


def test_vitb_parameter_count():
    with torch.device('meta'):
        model = build(dict(type='SurgVistaViT'))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 86_227_200
    assert 'pos_embed' not in model.state_dict()  # fixed table, not saved
    assert tuple(model.pos_embed.shape) == (1, 1568, 768)


def test_visible_tokens_in_original_order():
    torch.manual_seed(0)
    model = build(TINY).eval()
    x = torch.randn(3, 3, 4, 32, 32)
    mask = tube_mask_torch(3, model.token_grid, 0.5)
    out = model(x, mask)
    assert out.shape == (3, 4, 32)
    full = model(x)
    assert full.shape == (3, 8, 32)
    assert_close(model(x, mask, num_masked=4), out)
    # visible tokens in original order = boolean indexing
    with torch.no_grad():
        tokens = model.patch_embed(x) + model.pos_embed
        vis, _ = split_indices(mask, 4)
        assert torch.equal(torch.gather(torch.arange(8).expand(3, 8), 1, vis),
                           torch.nonzero(~mask)[:, 1].view(3, 4))
        assert tokens[~mask].shape == (12, 32)


def test_input_validation():
    model = build(TINY)
    with pytest.raises(ValueError, match='expects input'):
        model(torch.randn(1, 3, 8, 32, 32))
    uneven = torch.zeros(2, 8, dtype=torch.bool)
    uneven[0, :2] = True
    with pytest.raises(ValueError, match='same number'):
        model(torch.randn(2, 3, 4, 32, 32), uneven)
    with pytest.raises(TypeError):
        build(dict(TINY, use_abs_pos_emb=True))  # unknown arguments raise


def test_fused_and_unfused_attention_agree():
    torch.manual_seed(0)
    fused = build(TINY).eval()
    unfused = build(dict(TINY, fused_attn=False)).eval()
    unfused.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    assert_close(fused(x), unfused(x), rtol=1e-5, atol=1e-5)


def test_activation_checkpointing_same_output_and_grads():
    torch.manual_seed(0)
    plain = build(dict(TINY, drop_path_rate=0.0)).train()
    cp = build(dict(TINY, with_cp=True)).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 4, 32, 32)
    out_plain, out_cp = plain(x), cp(x)
    assert_close(out_plain, out_cp)
    out_plain.square().mean().backward()
    out_cp.square().mean().backward()
    assert_close(plain.blocks[0].attn.qkv.weight.grad, cp.blocks[0].attn.qkv.weight.grad)


def test_layer_depth():
    model = build(dict(TINY, depth=12))
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.') == (0, 14)
    assert model.get_layer_depth('backbone.blocks.0.attn.q_bias', 'backbone.') == (1, 14)
    assert model.get_layer_depth('backbone.blocks.11.mlp.fc1.weight', 'backbone.') == (12, 14)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (13, 14)
    assert model.get_layer_depth('cls_head.head.weight', 'backbone.') == (13, 14)


def test_videomae_table():
    table = sincos_1d_videomae_table(8, 5)
    p, j = 3, 5
    assert table[0, p, j].item() == pytest.approx(math.cos(p / 10000 ** (2 * (j // 2) / 8)))
    assert table[0, p, 4].item() == pytest.approx(math.sin(p / 10000 ** (4 / 8)))
    model = build(dict(TINY, pos_embed_type='sincos1d_videomae'))
    assert_close(model.pos_embed, sincos_1d_videomae_table(32, 8))
    with pytest.raises(ValueError, match='pos_embed_type'):
        build(dict(TINY, pos_embed_type='learned'))


def test_decoder_predicts_masked_tokens_only():
    torch.manual_seed(0)
    decoder = build(dict(type='SurgVistaDecoder', in_dims=32, embed_dims=16, depth=1,
                         num_heads=2, out_dims=24, token_grid=(2, 2, 2)))
    mask = tube_mask_torch(2, (2, 2, 2), 0.5)
    out = decoder(torch.randn(2, 4, 32), mask)
    assert out.shape == (2, 4, 24)
    assert set(decoder.state_dict()) >= {'proj.weight', 'mask_token', 'norm.weight',
                                         'head.weight', 'blocks.0.attn.q_bias'}
    assert 'pos_embed' not in decoder.state_dict()


def test_pretrained_init_cfg_strict(tmp_path):
    torch.manual_seed(0)
    source = build(TINY)
    path = str(tmp_path / 'pre.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in source.state_dict().items()}},
               path)
    finetune = build(dict(TINY, final_norm=False,
                          init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.')))
    finetune.init_weights()  # drops the pre-training norm, loads the rest strictly
    assert_close(finetune.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)
    bad = str(tmp_path / 'bad.pth')
    torch.save({'backbone.blocks.0.attn.qkv.weight': torch.zeros(3, 3)}, bad)
    other = build(dict(TINY, init_cfg=dict(type='Pretrained', checkpoint=bad)))
    with pytest.raises(ValueError, match=r'bad\.pth.*blocks\.0\.attn\.qkv\.weight.*\(3, 3\)'):
        other.init_weights()
    partial = str(tmp_path / 'partial.pth')
    torch.save({'backbone.blocks.0.attn.qkv.weight': torch.zeros(96, 32)}, partial)
    other = build(dict(TINY, init_cfg=dict(type='Pretrained', checkpoint=partial)))
    with pytest.raises(KeyError, match=r'partial\.pth.*missing'):
        other.init_weights()
