"""Checkpoint converter on synthetic state dicts with the published key names and ViT-B shapes
(spec section 6). Tensors live on the meta device: only names and shapes matter."""
import os
import subprocess
import sys

import pytest
import torch

import surgvista_mm  # noqa: F401
from surgvista_mm.checkpoint import convert_file, convert_state_dict, default_target

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def t(*shape):
    return torch.empty(*shape, device='meta')


def blocks(prefix, depth, dims, with_qv_bias=True):
    out = {}
    for i in range(depth):
        b = f'{prefix}blocks.{i}.'
        for norm in ('norm1', 'norm2'):
            out[b + norm + '.weight'] = t(dims)
            out[b + norm + '.bias'] = t(dims)
        out[b + 'attn.qkv.weight'] = t(3 * dims, dims)
        if with_qv_bias:
            out[b + 'attn.q_bias'] = t(dims)
            out[b + 'attn.v_bias'] = t(dims)
        out[b + 'attn.proj.weight'] = t(dims, dims)
        out[b + 'attn.proj.bias'] = t(dims)
        out[b + 'mlp.fc1.weight'] = t(4 * dims, dims)
        out[b + 'mlp.fc1.bias'] = t(4 * dims)
        out[b + 'mlp.fc2.weight'] = t(dims, 4 * dims)
        out[b + 'mlp.fc2.bias'] = t(dims)
    return out


def encoder(prefix=''):
    out = {prefix + 'patch_embed.proj.weight': t(768, 3, 2, 16, 16),
           prefix + 'patch_embed.proj.bias': t(768),
           prefix + 'norm.weight': t(768), prefix + 'norm.bias': t(768)}
    out.update(blocks(prefix, 12, 768))
    return out


def surgvista_pretrain():
    out = dict(encoder(), pos_embed=t(1, 1568, 768))
    for branch, depth, head in (('img', 2, 1024), ('vid', 4, 1536)):
        out[f'mask_token_{branch}'] = t(1, 1, 384)
        out[f'down_{branch}.weight'] = t(384, 768)
        out[f'down_{branch}.bias'] = t(384)
        out[f'pos_embed_{branch}'] = t(1, 1568, 384)
        out.update(blocks(f'decoder_{branch}.', depth, 384))
        out[f'decoder_{branch}.norm.weight'] = t(384)
        out[f'decoder_{branch}.norm.bias'] = t(384)
        out[f'decoder_{branch}.head.weight'] = t(head, 384)
        out[f'decoder_{branch}.head.bias'] = t(head)
    return out


def endossl(depth=24, dims=1024):
    out = {'cls_token': t(1, 1, dims), 'pos_embed': t(1, 196, dims),
           'patch_embed.proj.weight': t(dims, 3, 16, 16), 'patch_embed.proj.bias': t(dims),
           'norm.weight': t(dims), 'norm.bias': t(dims), 'head.weight': t(1000, dims),
           'head.bias': t(1000)}
    for i in range(depth):
        b = f'blocks.{i}.'
        for name in ('norm1', 'norm2', 'attn.q', 'attn.k', 'attn.v', 'attn.proj'):
            out[b + name + '.weight'] = t(dims) if 'norm' in name else t(dims, dims)
            out[b + name + '.bias'] = t(dims)
        out[b + 'mlp.fc1.weight'] = t(4 * dims, dims)
        out[b + 'mlp.fc1.bias'] = t(4 * dims)
        out[b + 'mlp.fc2.weight'] = t(dims, 4 * dims)
        out[b + 'mlp.fc2.bias'] = t(dims)
    return out


def test_surgvista_pretrain_vitb():
    state = surgvista_pretrain()
    out, report = convert_state_dict(state, 'surgvista-pretrain',
                                     target=default_target('surgvista-pretrain', state))
    assert out['backbone.blocks.11.attn.q_bias'].shape == (768,)
    assert out['distill_decoder.proj.weight'].shape == (384, 768)
    assert out['distill_decoder.mask_token'].shape == (1, 1, 384)
    assert out['distill_decoder.head.weight'].shape == (1024, 384)
    assert out['pixel_decoder.blocks.3.mlp.fc2.bias'].shape == (384,)
    assert out['pixel_decoder.head.weight'].shape == (1536, 384)
    assert {k for k, _ in report.dropped} == {'pos_embed', 'pos_embed_img', 'pos_embed_vid'}
    assert len(report.mapped) == len(state) - 3


def test_surgvista_finetune_vitb():
    state = {k: v for k, v in encoder().items() if not k.startswith('norm.')}
    state.update({'fc_norm.weight': t(768), 'fc_norm.bias': t(768), 'head.weight': t(7, 768),
                  'head.bias': t(7)})
    out, _ = convert_state_dict(state, 'surgvista-finetune',
                                target=default_target('surgvista-finetune', state))
    assert out['cls_head.head.weight'].shape == (7, 768)
    assert out['cls_head.fc_norm.bias'].shape == (768,)
    assert 'backbone.blocks.0.attn.qkv.weight' in out


@pytest.mark.parametrize('kind', ['videomae', 'mvd'])
def test_videomae_encoder_prefix(kind):
    state = dict(encoder('encoder.'), **{'encoder.pos_embed': t(1, 1568, 768),
                                         'decoder.blocks.0.norm1.weight': t(384),
                                         'mask_token': t(1, 1, 384),
                                         'encoder_to_decoder.weight': t(384, 768)})
    out, report = convert_state_dict(state, kind, target=default_target(kind))
    assert set(out) == {'backbone.' + k for k in encoder()}
    dropped = dict(report.dropped)
    assert 'sincos1d_videomae' in dropped['encoder.pos_embed']
    assert 'decoder.blocks.0.norm1.weight' in dropped and 'mask_token' in dropped
    # a fine-tuned VideoMAE (no prefix, fc_norm instead of norm) is accepted too
    tuned = {k: v for k, v in encoder().items() if not k.startswith('norm.')}
    tuned.update({'fc_norm.weight': t(768), 'head.weight': t(400, 768)})
    out, report = convert_state_dict(tuned, kind, target=default_target(kind))
    assert report.missing == ['backbone.norm.bias', 'backbone.norm.weight']


def test_shape_mismatch_names_key_and_shapes():
    state = surgvista_pretrain()
    state['blocks.3.mlp.fc1.weight'] = t(3000, 768)
    with pytest.raises(ValueError, match=r"backbone\.blocks\.3\.mlp\.fc1\.weight.*"
                                         r"\(3000, 768\).*\(3072, 768\)"):
        convert_state_dict(state, 'surgvista-pretrain',
                           target=default_target('surgvista-pretrain', state))


def test_endossl_drops_head_and_strips_backbone():
    state = {'backbone.' + k: v for k, v in endossl().items()}
    out, report = convert_state_dict(state, 'endossl', target=default_target('endossl'))
    assert 'head.weight' not in out and 'blocks.23.attn.v.bias' in out
    assert {k for k, _ in report.dropped} == {'head.weight', 'head.bias'}


def test_endossl_wrong_keys_clear_error():
    state = endossl()
    state['blocks.0.attn.qkv.weight'] = state.pop('blocks.0.attn.q.weight')
    with pytest.raises(KeyError, match=r'endossl\.pth.*blocks\.0\.attn\.qkv\.weight'):
        convert_state_dict(state, 'endossl', target=default_target('endossl'),
                           source='endossl.pth')


def test_unknown_kind():
    with pytest.raises(ValueError, match='unknown kind'):
        convert_state_dict({}, 'mae')


def test_convert_file_roundtrip_and_no_overwrite(tmp_path):
    golden = torch.load(os.path.join(REPO, 'tests', 'data', 'official_small_golden.pth'),
                        weights_only=True)
    src = str(tmp_path / 'teacher.pth')
    torch.save({'model': golden['teacher_state_dict']}, src)
    dst = str(tmp_path / 'out' / 'teacher_conv.pth')
    report = convert_file(src, dst, 'endossl')
    assert len(report.mapped) == len(golden['teacher_state_dict'])
    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'} and saved['meta']['kind'] == 'endossl'
    torch.testing.assert_close(saved['state_dict']['pos_embed'],
                               golden['teacher_state_dict']['pos_embed'])
    with pytest.raises(FileExistsError, match='force'):
        convert_file(src, dst, 'endossl')
    convert_file(src, dst, 'endossl', force=True)
    assert [p for p in os.listdir(tmp_path / 'out')] == ['teacher_conv.pth']


def test_cli(tmp_path):
    golden = torch.load(os.path.join(REPO, 'tests', 'data', 'official_small_golden.pth'),
                        weights_only=True)
    src = str(tmp_path / 'ft.pth')
    torch.save({'module': golden['finetune_state_dict']}, src)
    dst = str(tmp_path / 'ft_conv.pth')
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'convert_checkpoint.py'), src, dst,
           '--kind', 'surgvista-finetune']
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    # the default target is ViT-B: the small golden model is refused with a clear message
    assert proc.returncode != 0 and 'shape mismatch' in proc.stderr
    assert not os.path.exists(dst)
    config = tmp_path / 'small_cfg.py'
    config.write_text(
        "model = dict(type='Recognizer3D', backbone=dict(type='SurgVistaViT', img_size=64, "
        "num_frames=8, embed_dims=96, depth=2, num_heads=4, final_norm=False), "
        "cls_head=dict(type='SurgVistaClsHead', num_classes=7, in_channels=96))\n")
    proc = subprocess.run(cmd + ['--config', str(config)], capture_output=True, text=True,
                          cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    saved = torch.load(dst, weights_only=True)
    assert saved['state_dict']['cls_head.head.weight'].shape == (7, 96)
