"""Parity with the published SurgVISTA modules (golden outputs of a small configuration).

The model is built through the registry from a config equal to the golden ``config``, the
published weights go through the project's converter, and the algorithm is called the way the
Runner calls it (``mode='loss'`` / ``'tensor'``).
"""
import os

import pytest
import torch
from mmengine.registry import init_default_scope
from torch.testing import assert_close

import surgvista_mm  # noqa: F401
from mmaction.structures import ActionDataSample
from surgvista_mm.checkpoint import convert_state_dict
from surgvista_mm.models.utils import sincos_3d_table
from surgvista_mm.registry import MODELS

GOLDEN = os.path.join(os.path.dirname(__file__), 'data', 'official_small_golden.pth')
TOL = dict(rtol=2e-6, atol=2e-6)


@pytest.fixture(scope='module')
def golden():
    return torch.load(GOLDEN, map_location='cpu', weights_only=True)


def pretrain_cfg(c, teacher_ckpt):
    grid = (c['num_frames'] // c['tubelet_size'], c['img_size'] // c['patch_size'],
            c['img_size'] // c['patch_size'])
    t = c['teacher']
    return dict(
        type='SurgVistaPretrainer',
        backbone=dict(type='SurgVistaViT', img_size=c['img_size'], patch_size=c['patch_size'],
                      num_frames=c['num_frames'], tubelet_size=c['tubelet_size'],
                      embed_dims=c['encoder_embed_dim'], depth=c['encoder_depth'],
                      num_heads=c['encoder_num_heads'], mlp_ratio=c['mlp_ratio'],
                      qkv_bias=c['qkv_bias'], norm_eps=1e-6),
        pixel_decoder=dict(type='SurgVistaDecoder', in_dims=c['encoder_embed_dim'],
                           embed_dims=c['decoder_embed_dim'], depth=c['decoder_depth_video'],
                           num_heads=c['decoder_num_heads'], out_dims=c['decoder_num_classes'],
                           token_grid=grid, mlp_ratio=c['mlp_ratio']),
        pixel_head=dict(type='SurgVistaPixelHead', patch_size=c['patch_size'],
                        tubelet_size=c['tubelet_size'], loss_weight=1.0),
        distill_decoder=dict(type='SurgVistaDecoder', in_dims=c['encoder_embed_dim'],
                             embed_dims=c['feat_decoder_embed_dim'],
                             depth=c['decoder_depth_image'],
                             num_heads=c['feat_decoder_num_heads'],
                             out_dims=c['target_feature_dim'], token_grid=grid,
                             mlp_ratio=c['mlp_ratio']),
        distill_head=dict(type='SurgVistaDistillHead', loss_weight=0.05),
        teacher=dict(type='SurgVistaImageTeacher', img_size=c['img_size'],
                     patch_size=c['patch_size'], embed_dims=t['embed_dim'], depth=t['depth'],
                     num_heads=t['num_heads'], mlp_ratio=4.0, norm_eps=1e-5,
                     checkpoint=teacher_ckpt, frame_stride=c['tubelet_size']),
        data_preprocessor=dict(type='SurgVistaDataPreprocessor'))


@pytest.fixture(scope='module')
def pretrainer(golden, tmp_path_factory):
    ckpt = str(tmp_path_factory.mktemp('teacher') / 'endossl_small.pth')
    torch.save({'model': golden['teacher_state_dict']}, ckpt)
    init_default_scope('surgvista_mm')
    model = MODELS.build(pretrain_cfg(golden['config'], ckpt))
    model.init_weights()  # loads the teacher checkpoint, as the Runner does
    target = {k: v.shape for k, v in model.state_dict().items()}
    state, _ = convert_state_dict(golden['student_state_dict'], 'surgvista-pretrain',
                                  target=target, source='golden')
    model.load_state_dict(state, strict=True)
    return model.eval()


def samples(mask):
    out = []
    for i, m in enumerate(mask):
        s = ActionDataSample()
        s.mask = m.clone()
        s.set_metainfo(dict(video_id=f'v{i}', frame_index=i))
        out.append(s)
    return out


def test_pretrain_tensor_outputs(golden, pretrainer):
    with torch.no_grad():
        out = pretrainer(golden['x'], samples(golden['mask']), mode='tensor')
    for key in ('encoder_out', 'decoder_pixel_out', 'decoder_distill_out', 'pixel_target',
                'teacher_features'):
        assert_close(out[key], golden[key], **TOL, msg=key)


def test_pretrain_losses(golden, pretrainer):
    with torch.no_grad():
        losses = pretrainer(golden['x'], samples(golden['mask']), mode='loss')
    assert_close(losses['pixel_mse'], golden['loss_pixel'], **TOL)
    assert_close(losses['distill_smoothl1'], golden['loss_distill'], **TOL)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert_close(total, golden['loss_total'], **TOL)


def test_pixel_target_low_variance(golden, pretrainer):
    clip = pretrainer.pixel_clip(golden['x_lowvar'])
    target = pretrainer.pixel_head.construct_target(clip)
    assert_close(target, golden['pixel_target_lowvar_all_tokens'], **TOL)


def test_finetune_logits(golden):
    c = golden['config']
    init_default_scope('surgvista_mm')
    model = MODELS.build(dict(
        type='Recognizer3D',
        backbone=dict(type='SurgVistaViT', img_size=c['img_size'], patch_size=c['patch_size'],
                      num_frames=c['num_frames'], tubelet_size=c['tubelet_size'],
                      embed_dims=c['encoder_embed_dim'], depth=c['encoder_depth'],
                      num_heads=c['encoder_num_heads'], final_norm=False),
        cls_head=dict(type='SurgVistaClsHead', num_classes=c['finetune']['num_classes'],
                      in_channels=c['encoder_embed_dim']),
        data_preprocessor=dict(type='SurgVistaDataPreprocessor'))).eval()
    target = {k: v.shape for k, v in model.state_dict().items()}
    state, _ = convert_state_dict(golden['finetune_state_dict'], 'surgvista-finetune',
                                  target=target, source='golden')
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        feats = model(golden['x'][:, None], mode='tensor')  # [B, num_clips=1, 3, T, H, W]
        logits = model.cls_head(feats)
        pooled = model.cls_head.pool(feats)
    assert_close(logits, golden['finetune_logits'], **TOL)
    assert_close(pooled, golden['finetune_features'], **TOL)


def test_position_tables(golden):
    assert_close(sincos_3d_table(768, (8, 14, 14)), golden['pos_embed_vitb_768_t8_g14'],
                 rtol=0, atol=1e-6)
    assert_close(sincos_3d_table(96, (4, 4, 4)), golden['pos_embed_encoder'], rtol=0, atol=1e-6)
    init_default_scope('surgvista_mm')
    with torch.device('meta'):
        backbone = MODELS.build(dict(type='SurgVistaViT'))
    assert_close(backbone.pos_embed, golden['pos_embed_vitb_768_t8_g14'], rtol=0, atol=1e-6)
