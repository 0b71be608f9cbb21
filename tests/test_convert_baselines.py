"""Converters of the surgical-domain baselines (paper Fig. 4) into timm image models.

Each published layout is rebuilt from a tiny random timm model (or, for EndoSSL, this project's
teacher, the published EndoSSL layout): the tensors are renamed into the release's key names (the
names are written here from the published structures, independently of the converter), extra
pre-training keys are added, the file is converted, loaded strictly into the timm model and the
two models' outputs are compared. Full-size key sets are checked on the meta device."""
from __future__ import annotations

import argparse
import os
from typing import Dict, List

import pytest
import timm
import torch
from mmengine.model import BaseModule
from timm.models.efficientvit_msra import EfficientVitMsra
from timm.models.resnet import Bottleneck, ResNet
from timm.models.vision_transformer import VisionTransformer

from surgvista_mm.checkpoint import convert_file, convert_state_dict, default_target
from surgvista_mm.checkpoint.convert import file_sha256
from surgvista_mm.models import SurgVistaImageTeacher
from tests.helpers.tools import load_tool


# --------------------------------------------------------------------------- helpers
def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random parameters and BatchNorm statistics (a converted zero / one would hide a swap)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.2)
    return model.eval()


def _target(model: torch.nn.Module) -> Dict[str, torch.Size]:
    return {'model.' + k: v.shape for k, v in model.state_dict().items()}


class _Encoder(BaseModule):
    """Stands for the two-stage image encoder: ``self.model`` is the timm model."""

    def __init__(self, model: torch.nn.Module, checkpoint: str) -> None:
        super().__init__(init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
        self.model = model


def _load_and_compare(dst: str, build, reference: torch.nn.Module, x: torch.Tensor,
                      atol: float = 1e-5) -> torch.nn.Module:
    """Load ``dst`` strictly (weights_only) and through ``init_cfg``; compare the outputs."""
    saved = torch.load(dst, weights_only=True)
    strict = _Encoder(build(), dst)
    strict.load_state_dict(saved['state_dict'], strict=True)
    via_init_cfg = _Encoder(_randomise(build(), seed=99), dst)
    via_init_cfg.init_weights()
    with torch.no_grad():
        expected = reference(x)
        for encoder in (strict, via_init_cfg):
            torch.testing.assert_close(encoder.eval().model(x), expected, rtol=atol, atol=atol)
    return strict.model


def _small_resnet() -> ResNet:
    return ResNet(block=Bottleneck, layers=(1, 1, 1, 1), num_classes=0)


def _small_vit(img_size: int = 32) -> VisionTransformer:
    return VisionTransformer(img_size=img_size, patch_size=16, embed_dim=48, depth=2, num_heads=2,
                             num_classes=0)


def _small_effvit(img_size: int = 112) -> EfficientVitMsra:
    return EfficientVitMsra(img_size=img_size, embed_dim=(16, 24, 32), key_dim=(4, 4, 4),
                            depth=(1, 2, 1), num_heads=(2, 2, 2), window_size=(7, 7, 7),
                            kernels=(3, 3, 3, 3), num_classes=0)


def _meta(arch: str, **kwargs) -> Dict[str, torch.Tensor]:
    with torch.device('meta'):
        model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    return dict(model.state_dict())


# --------------------------------------------------------------------------- SelfSupSurg
def _vissl(trunk: Dict[str, torch.Tensor]) -> dict:
    """A VISSL checkpoint: trunk and SSL heads under classy_state_dict.base_model.model."""
    heads = {'0.projection_head.0.weight': torch.randn(32, 2048),
             '0.prototypes0.weight': torch.randn(16, 32)}
    return {'phase_idx': 3, 'iteration': 120, 'type': 'checkpoint',
            'classy_state_dict': {
                'base_model': {'model': {'trunk': {'_feature_blocks.' + k: v
                                                   for k, v in trunk.items()},
                                         'heads': heads}, 'meta': {}},
                'loss': {'center': torch.zeros(1, 32)}, 'train_phase_idx': 1}}


def test_selfsupsurg_vissl_checkpoint_gives_the_same_resnet(tmp_path):
    source = _randomise(_small_resnet())
    src, dst = str(tmp_path / 'dino_surg.torch'), str(tmp_path / 'out' / 'selfsupsurg.pth')
    torch.save(_vissl(source.state_dict()), src)
    report = convert_file(src, dst, 'selfsupsurg', target=_target(source))
    assert len(report.mapped) == len(source.state_dict()) and report.missing == []
    assert {k for k, _ in report.dropped} == {'heads.0.projection_head.0.weight',
                                              'heads.0.prototypes0.weight'}
    assert 'dropped heads.* (2): VISSL SSL head' in report.summary()
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['kind'] == 'selfsupsurg' and saved['meta']['timm_arch'] == 'resnet50'
    assert saved['meta']['source_sha256'] == file_sha256(src) and len(file_sha256(src)) == 64
    assert 'model.layer4.0.downsample.1.running_var' in saved['state_dict']
    _load_and_compare(dst, _small_resnet, source, torch.randn(2, 3, 64, 64))
    # the model part exported on its own ({'model': {'trunk', 'heads'}}) reads the same
    exported = str(tmp_path / 'exported.torch')
    torch.save({'model': _vissl(source.state_dict())['classy_state_dict']['base_model']['model']},
               exported)
    report = convert_file(exported, dst, 'selfsupsurg', target=_target(source), force=True)
    assert len(report.mapped) == len(source.state_dict()) and len(report.dropped) == 2
    torch.save({'classy_state_dict': {'base_model': {'meta': {}}}}, exported)
    with pytest.raises(KeyError, match=r'without a trunk under classy_state_dict\.base_model'):
        convert_file(exported, dst, 'selfsupsurg', force=True)


@pytest.mark.parametrize('layout', ['torchvision', 'ddp', 'flattened_vissl'])
def test_selfsupsurg_other_layouts(layout):
    source = _randomise(_small_resnet())
    trunk = source.state_dict()
    if layout == 'torchvision':  # SelfSupSurg's ImageNet-style files: {'model': {..., 'fc.*'}}
        state = dict(trunk, **{'fc.weight': torch.randn(7, 2048), 'fc.bias': torch.randn(7)})
    elif layout == 'ddp':
        state = {'module.' + k: v for k, v in trunk.items()}
    else:
        state = {'classy_state_dict.base_model.model.trunk._feature_blocks.' + k: v
                 for k, v in trunk.items()}
        state['classy_state_dict.base_model.model.heads.0.clf.0.weight'] = torch.randn(7, 2048)
    out, report = convert_state_dict(state, 'selfsupsurg', target=_target(source))
    assert set(out) == set(_target(source))
    torch.testing.assert_close(out['model.layer2.0.conv2.weight'], trunk['layer2.0.conv2.weight'])
    assert len(report.dropped) == {'torchvision': 2, 'ddp': 0, 'flattened_vissl': 1}[layout]
    # files saved without BatchNorm counters: written as 0, so that the file loads strictly
    counters = [k for k in state if k.endswith('num_batches_tracked')]
    assert len(counters) == 17  # stem + 4 blocks x (3 + downsample)
    out, report = convert_state_dict({k: v for k, v in state.items() if k not in counters},
                                     'selfsupsurg', target=_target(source))
    assert set(out) == set(_target(source)) and report.missing == []
    assert out['model.bn1.num_batches_tracked'] == 0 and '17 BatchNorm' in report.summary()


def test_selfsupsurg_full_size_resnet50_and_two_copies_refused():
    trunk = _meta('resnet50')
    vissl = {'trunk._feature_blocks.' + k: v for k, v in trunk.items()}
    out, report = convert_state_dict(vissl, 'selfsupsurg',
                                     target=default_target('selfsupsurg'))
    assert len(out) == len(trunk) == 318 and report.missing == []
    assert out['model.layer4.2.conv3.weight'].shape == (2048, 512, 1, 1)
    doubled = dict(vissl, **{'teacher._feature_blocks.conv1.weight': trunk['conv1.weight']})
    with pytest.raises(ValueError, match=r"both .*conv1\.weight.* map to 'model\.conv1\.weight'"):
        convert_state_dict(doubled, 'selfsupsurg')


def test_wrong_shape_names_key_and_both_shapes():
    trunk = _meta('resnet50')
    trunk['layer1.0.conv1.weight'] = torch.empty(32, 64, 1, 1, device='meta')
    with pytest.raises(ValueError, match=r"'model\.layer1\.0\.conv1\.weight'.*\(32, 64, 1, 1\)"
                                         r".*\(64, 64, 1, 1\)"):
        convert_state_dict(trunk, 'selfsupsurg', target=default_target('selfsupsurg'),
                           source='dino_surg.torch')
    # a file of another kind: nothing matches, said before any shape check
    with pytest.raises(KeyError, match=r"GSViT\.pkl: none of its 2 tensors belongs to the "
                                       r"endovit layout.*evit\.0\.0\.c\.weight.*--kind"):
        convert_state_dict({'evit.0.0.c.weight': torch.empty(3), 'decoder.0.weight':
                            torch.empty(3)}, 'endovit', source='GSViT.pkl')
    # a ViT-B file given as EndoSSL (ViT-L) names the first mismatching key
    with pytest.raises(ValueError, match=r"model\.\S+.*768.*1024"):
        convert_state_dict(_meta('vit_base_patch16_224'), 'endossl-vit',
                           target=default_target('endossl-vit'))


# --------------------------------------------------------------------------- EndoViT
def _mae_extras(dims: int) -> Dict[str, torch.Tensor]:
    return {'mask_token': torch.zeros(1, 1, 32), 'decoder_embed.weight': torch.randn(32, dims),
            'decoder_pos_embed': torch.zeros(1, 5, 32),
            'decoder_blocks.0.norm1.weight': torch.ones(32),
            'decoder_norm.weight': torch.ones(32), 'decoder_pred.weight': torch.randn(768, 32)}


def test_endovit_mae_checkpoint_gives_the_same_vit(tmp_path):
    source = _randomise(_small_vit())
    state = dict(source.state_dict(), **_mae_extras(48))
    src, dst = str(tmp_path / 'endovit.pth'), str(tmp_path / 'endovit_timm.pth')
    # MAE-style files keep their training arguments next to the weights
    torch.save({'model': state, 'args': argparse.Namespace(model='mae_vit_base_patch16'),
                'epoch': 3}, src)
    report = convert_file(src, dst, 'endovit', target=_target(source))
    assert report.missing == [] and len(report.dropped) == 6
    assert 'dropped decoder_embed.* (1): MAE pre-training part' in report.summary()
    timm_model = _load_and_compare(dst, _small_vit, source, torch.randn(2, 3, 32, 32),
                                   atol=1e-6)
    assert torch.equal(timm_model.pos_embed, source.pos_embed)


def test_endovit_full_size_and_position_table_interpolation():
    state = dict(_meta('vit_base_patch16_224'), mask_token=torch.empty(1, 1, 512, device='meta'))
    out, report = convert_state_dict(state, 'endovit', target=default_target('endovit'))
    assert len(out) == 150 and report.missing == [] and dict(report.dropped).keys() == {
        'mask_token'}
    # a 2x2 source grid into a 4x4 target: interpolated (bicubic), the class-token row kept
    source = _small_vit(img_size=32)
    with torch.no_grad():
        source.pos_embed[:, 1:] = 0.5
        source.pos_embed[:, 0] = -1.0
    out, report = convert_state_dict(source.state_dict(), 'endovit',
                                     target=_target(_small_vit(img_size=64)))
    table = out['model.pos_embed']
    assert table.shape == (1, 17, 48)
    torch.testing.assert_close(table[:, 1:], torch.full((1, 16, 48), 0.5))
    assert torch.all(table[:, 0] == -1.0)
    assert any('2x2 grid interpolated to 4x4' in note for note in report.notes)
    bad = dict(source.state_dict(), pos_embed=torch.zeros(1, 7, 48))  # 6 patches: not square
    with pytest.raises(ValueError, match='do not form a square grid'):
        convert_state_dict(bad, 'endovit', target=_target(_small_vit(img_size=64)))


def test_global_pool_finetuned_vit_needs_an_avg_pool_target():
    state = {k: v for k, v in _meta('vit_base_patch16_224').items() if not k.startswith('norm.')}
    state.update({'fc_norm.weight': torch.empty(768, device='meta'),
                  'fc_norm.bias': torch.empty(768, device='meta')})
    with pytest.raises(ValueError, match="global_pool='avg'"):
        convert_state_dict(state, 'endovit', target=default_target('endovit'))
    avg_pool = {'model.' + k: v.shape
                for k, v in _meta('vit_base_patch16_224', global_pool='avg').items()}
    out, _ = convert_state_dict(state, 'endovit', target=avg_pool)
    assert 'model.fc_norm.weight' in out


# --------------------------------------------------------------------------- EndoSSL
def _teacher(norm_eps: float) -> SurgVistaImageTeacher:
    return _randomise(SurgVistaImageTeacher(img_size=32, patch_size=16, embed_dims=48, depth=2,
                                            num_heads=2, norm_eps=norm_eps, out_norm=True))


def test_endossl_msn_checkpoint_gives_the_teachers_features(tmp_path):
    teacher = _teacher(norm_eps=1e-6)  # timm's eps: the conversion itself is exact
    encoder = {'module.' + k: v for k, v in teacher.state_dict().items()}
    encoder.update({'module.fc.fc1.weight': torch.randn(64, 48),
                    'module.head.weight': torch.randn(10, 48)})
    src, dst = str(tmp_path / 'msn.pth.tar'), str(tmp_path / 'endossl_timm.pth')
    torch.save({'encoder': {k: v + 1 for k, v in encoder.items()}, 'target_encoder': encoder,
                'prototypes': torch.randn(16, 64), 'epoch': 3}, src)
    report = convert_file(src, dst, 'endossl-vit', target=_target(_small_vit()))
    assert report.missing == [] and {k for k, _ in report.dropped} == {'fc.fc1.weight',
                                                                      'head.weight'}
    assert any('zero row is prepended' in n for n in report.notes)
    assert any('of 2 blocks concatenated' in n for n in report.notes)
    saved = torch.load(dst, weights_only=True)['state_dict']
    assert saved['model.blocks.1.attn.qkv.weight'].shape == (144, 48)
    model = _small_vit().eval()
    model.load_state_dict({k[len('model.'):]: v for k, v in saved.items()}, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():  # the teacher returns the normed patch tokens (class token dropped)
        torch.testing.assert_close(model.forward_features(x)[:, 1:], teacher.encode_images(x),
                                   rtol=1e-5, atol=1e-5)
        published = _teacher(norm_eps=1e-5)  # EndoSSL's own eps: a small, bounded difference
        published.load_state_dict(teacher.state_dict())
        gap = (model.forward_features(x)[:, 1:] - published.encode_images(x)).abs().max()
    assert 0 < gap < 1e-4


def test_endossl_full_size_and_the_teacher_kind_reads_msn_files(tmp_path):
    from tests.test_convert import endossl
    state = endossl()
    out, report = convert_state_dict(state, 'endossl-vit', target=default_target('endossl-vit'))
    assert report.missing == [] and len(out) == 294
    assert out['model.pos_embed'].shape == (1, 197, 1024)
    assert out['model.blocks.23.attn.qkv.bias'].shape == (3072, )
    # the teacher kind now reads an MSN training file too (target_encoder, module., fc.*)
    teacher = _teacher(norm_eps=1e-5)
    encoder = {'module.' + k: v for k, v in teacher.state_dict().items()}
    encoder['module.fc.fc1.weight'] = torch.randn(64, 48)
    src = str(tmp_path / 'msn.pth.tar')
    torch.save({'target_encoder': encoder, 'epoch': 1}, src)
    shapes = {k: v.shape for k, v in teacher.state_dict().items()}
    report = convert_file(src, str(tmp_path / 'teacher.pth'), 'endossl', target=shapes)
    assert report.missing == [] and [k for k, _ in report.dropped] == ['fc.fc1.weight']


# --------------------------------------------------------------------------- GSViT
_CBN = ('c.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
        'bn.num_batches_tracked')


def _cbn(prefix: str) -> List[str]:
    return [prefix + k for k in _CBN]


def _ffn(prefix: str) -> List[str]:
    return _cbn(prefix + 'pw1.') + _cbn(prefix + 'pw2.')


def _msra_block(prefix: str, heads: int) -> List[str]:
    """Microsoft EfficientViTBlock keys in state-dict order (attention_bias_idxs included)."""
    attn = prefix + 'mixer.m.attn.'
    keys = _cbn(prefix + 'dw0.m.') + _ffn(prefix + 'ffn0.m.')
    keys += [attn + 'attention_biases', attn + 'attention_bias_idxs']
    keys += [k for i in range(heads) for k in _cbn(f'{attn}qkvs.{i}.')]
    keys += [k for i in range(heads) for k in _cbn(f'{attn}dws.{i}.')]
    keys += _cbn(attn + 'proj.1.')
    return keys + _cbn(prefix + 'dw1.m.') + _ffn(prefix + 'ffn1.m.')


def _msra_keys(depth, heads) -> List[str]:
    """Key names of Microsoft's EfficientViT encoder (no head), from its published structure:
    ``patch_embed`` = 4 Conv2d_BN at children 0/2/4/6; ``blocks1`` = stage-1 blocks;
    ``blocks2/3`` = [Sequential(dw Residual, FFN Residual), PatchMerging, Sequential(...)] +
    blocks."""
    keys = [k for i in (0, 2, 4, 6) for k in _cbn(f'patch_embed.{i}.')]
    for stage, (dpth, nh) in enumerate(zip(depth, heads), start=1):
        start = 0
        if stage > 1:
            down = f'blocks{stage}.'
            keys += _cbn(down + '0.0.m.') + _ffn(down + '0.1.m.')
            keys += _cbn(down + '1.conv1.') + _cbn(down + '1.conv2.')
            keys += [down + '1.se.' + k for k in ('fc1.weight', 'fc1.bias', 'fc2.weight',
                                                   'fc2.bias')]
            keys += _cbn(down + '1.conv3.') + _cbn(down + '2.0.m.') + _ffn(down + '2.1.m.')
            start = 3
        for j in range(dpth):
            keys += _msra_block(f'blocks{stage}.{start + j}.', nh)
    return keys


def _gsvit_release(model: torch.nn.Module, depth, heads) -> Dict[str, torch.Tensor]:
    """``GSViT.pkl``: evit.0 = patch_embed, evit.1-3 = blocks1-3, plus the decoder."""
    names = _msra_keys(depth, heads)
    tensors = list(model.state_dict().values())
    params = [n for n in names if not n.endswith('attention_bias_idxs')]
    assert len(params) == len(tensors)
    state = {}
    for name in names:
        value = torch.zeros(16, 16, dtype=torch.long) if name.endswith('attention_bias_idxs') \
            else tensors.pop(0)
        stage = name.split('.', 1)
        index = '0' if stage[0] == 'patch_embed' else stage[0][-1]
        state[f'evit.{index}.{stage[1]}'] = value
    state.update({'decoder.0.weight': torch.randn(8, 32, 3, 3), 'decoder.0.bias': torch.zeros(8)})
    return state


def test_gsvit_release_gives_the_same_efficientvit(tmp_path):
    source = _randomise(_small_effvit())
    state = _gsvit_release(source, depth=(1, 2, 1), heads=(2, 2, 2))
    assert 'evit.2.1.se.fc1.weight' in state and 'evit.0.6.bn.running_var' in state
    src, dst = str(tmp_path / 'GSViT.pkl'), str(tmp_path / 'gsvit_timm.pth')
    torch.save(state, src)
    report = convert_file(src, dst, 'gsvit', target=_target(source))
    assert report.missing == [] and len(report.mapped) == len(source.state_dict())
    mapped = dict(report.mapped)
    assert mapped['evit.2.1.conv1.c.weight'] == \
        'model.stages.1.downsample.patchmerge.conv1.conv.weight'
    assert mapped['evit.0.6.bn.running_var'] == 'model.patch_embed.conv4.bn.running_var'
    assert mapped['evit.3.3.mixer.m.attn.proj.1.c.weight'] == \
        'model.stages.2.blocks.0.mixer.m.attn.proj.1.conv.weight'
    summary = report.summary()
    assert 'dropped decoder.* (2): GSViT next-frame-prediction decoder' in summary
    assert 'dropped evit.* (4): index buffer' in summary and 'BGR' in summary
    _load_and_compare(dst, _small_effvit, source, torch.randn(2, 3, 112, 112))


def test_gsvit_full_size_microsoft_layout_and_bias_resizing():
    names = _msra_keys(depth=(1, 3, 4), heads=(3, 3, 4))
    timm_state = _meta('efficientvit_m5')
    params = [n for n in names if not n.endswith('attention_bias_idxs')]
    assert len(params) == len(timm_state) == 820
    state = {'model.' + n: v for n, v in zip(params, timm_state.values())}  # Microsoft's file
    state.update({'model.head.bn.weight': torch.empty(384, device='meta'),
                  'model.head.l.weight': torch.empty(1000, 384, device='meta')})
    out, report = convert_state_dict(state, 'gsvit', target=default_target('gsvit'))
    assert report.missing == [] and len(out) == 820
    assert {k for k, _ in report.dropped} == {'model.head.bn.weight', 'model.head.l.weight'}
    # a target at another input size: window 4 -> 2 and 7 -> 4 tables resized by timm
    source = _randomise(_small_effvit(img_size=224))
    out, report = convert_state_dict(_gsvit_release(source, (1, 2, 1), (2, 2, 2)), 'gsvit',
                                     target=_target(_small_effvit(img_size=112)))
    assert out['model.stages.2.blocks.0.mixer.m.attn.attention_biases'].shape == (2, 4)
    assert any('attention-bias tables resized' in n for n in report.notes)


def test_cli_refuses_a_mismatching_file_and_writes_nothing(tmp_path, capsys):
    """The default target is the published EfficientViT-M5: the tiny model is refused."""
    src, dst = str(tmp_path / 'GSViT.pkl'), str(tmp_path / 'gsvit.pth')
    torch.save(_gsvit_release(_small_effvit(), (1, 2, 1), (2, 2, 2)), src)
    assert load_tool('convert_checkpoint').main([src, dst, '--kind', 'gsvit']) == 1
    err = capsys.readouterr().err
    assert 'shape mismatch' in err and 'model.patch_embed.conv1.conv.weight' in err
    assert 'pass --config' in err and not os.path.exists(dst)
