"""SurgVistaPretrainer, the frozen teachers and the data preprocessor."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import surgvista_mm  # noqa: F401
from surgvista_mm.models.utils import tube_mask_numpy
from surgvista_mm.registry import MODELS
from tests.helpers.devices import DEVICES

GRID = (2, 2, 2)


def tiny_cfg(distill=True, teacher_ckpt=None):
    cfg = dict(
        type='SurgVistaPretrainer',
        backbone=dict(type='SurgVistaViT', img_size=32, patch_size=16, num_frames=4,
                      tubelet_size=2, embed_dims=32, depth=2, num_heads=2),
        pixel_decoder=dict(type='SurgVistaDecoder', in_dims=32, embed_dims=16, depth=1,
                           num_heads=2, out_dims=2 * 16 * 16 * 3, token_grid=GRID),
        pixel_head=dict(type='SurgVistaPixelHead', patch_size=16, tubelet_size=2),
        data_preprocessor=dict(type='SurgVistaDataPreprocessor'))
    if distill:
        cfg.update(
            distill_decoder=dict(type='SurgVistaDecoder', in_dims=32, embed_dims=16, depth=1,
                                 num_heads=2, out_dims=16, token_grid=GRID),
            distill_head=dict(type='SurgVistaDistillHead', loss_weight=0.05),
            teacher=dict(type='SurgVistaImageTeacher', img_size=32, patch_size=16,
                         embed_dims=16, depth=2, num_heads=2, checkpoint=teacher_ckpt))
    return cfg


def build(cfg):
    init_default_scope('surgvista_mm')
    return MODELS.build(cfg)


def batch(n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rng = __import__('numpy').random.default_rng(seed)
    inputs, samples = [], []
    for i in range(n):
        inputs.append(torch.randint(0, 256, (1, 3, 4, 32, 32), generator=gen, dtype=torch.uint8))
        s = ActionDataSample()
        s.mask = torch.from_numpy(tube_mask_numpy(GRID, 0.5, rng))
        s.set_metainfo(dict(video_id='v', frame_index=i))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_teacher_frozen_and_outside_state_dict():
    model = build(tiny_cfg())
    model.init_weights()
    model.train()
    teacher = model.teacher
    assert not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith('teacher') or '_teacher' in k for k in model.state_dict())
    names = {n for n, _ in model.named_parameters()}
    assert not any('teacher' in n for n in names)
    teacher_params = {id(p) for p in teacher.parameters()}
    assert not teacher_params & {id(p) for p in model.parameters()}
    data = model.data_preprocessor(batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_pixel', 'pixel_mse', 'loss_distill', 'distill_smoothl1'}
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None
    model.double()  # moves reach the unregistered teacher
    assert teacher.pos_embed.dtype == torch.float64


def test_plain_mae_without_distillation():
    model = build(tiny_cfg(distill=False))
    assert model.teacher is None and model.distill_decoder is None
    data = model.data_preprocessor(batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_pixel', 'pixel_mse'}
    out = model(**data, mode='tensor')
    assert out['encoder_out'].shape == (2, 4, 32)
    assert out['decoder_pixel_out'].shape == out['pixel_target'].shape == (2, 4, 1536)
    with pytest.raises(ValueError, match='all be None'):
        cfg = tiny_cfg()
        cfg['teacher'] = None
        build(cfg)
    with pytest.raises(NotImplementedError):
        model(**data, mode='predict')


def test_masks_required_or_generated():
    model = build(tiny_cfg(distill=False))
    data = batch()
    for s in data['data_samples']:
        del s.mask
    data = model.data_preprocessor(data, training=True)
    with pytest.raises(ValueError, match='TubeMasking'):
        model(**data, mode='loss')
    cfg = tiny_cfg(distill=False)
    cfg['mask_generator'] = dict(mask_ratio=0.5)
    generated = build(cfg)
    assert set(generated(**data, mode='loss')) == {'loss_pixel', 'pixel_mse'}
    with pytest.raises(KeyError, match='mask_ratio'):
        build(dict(cfg, mask_generator=dict(ratio=0.5)))


def test_preprocessor_normalises_and_counts_masks():
    model = build(tiny_cfg(distill=False))
    raw = batch()
    clips = torch.stack(raw['inputs']).float()
    data = model.data_preprocessor(raw, training=True)
    assert data['inputs'].shape == (2, 1, 3, 4, 32, 32)
    assert all(s.metainfo['num_masked'] == 4 for s in data['data_samples'])
    back = model.pixel_clip(data['inputs'][:, 0])
    torch.testing.assert_close(back, clips[:, 0] / 255, rtol=0, atol=1e-5)


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = build(tiny_cfg())
    model.init_weights()
    data = model.data_preprocessor(batch(), training=True)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        losses = model(**data, mode='loss')
        total = losses['loss_pixel'] + losses['loss_distill']
        first = total.detach() if first is None else first
        optim.zero_grad()
        total.backward()
        optim.step()
    assert total.detach() < 0.5 * first


def test_train_step_and_bf16_autocast():
    from mmengine.optim import OptimWrapper
    cfg = tiny_cfg()
    cfg['teacher'].update(autocast=True, autocast_dtype='bfloat16')
    model = build(cfg)
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    log_vars = model.train_step(batch(), wrapper)  # the Runner's path
    assert {'loss', 'loss_pixel', 'pixel_mse', 'loss_distill', 'distill_smoothl1'} <= set(log_vars)
    data = model.data_preprocessor(batch(), training=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    assert torch.isfinite(model.teacher(data['inputs'][:, 0])).all()


def test_teacher_checkpoint_loading(tmp_path):
    init_default_scope('surgvista_mm')
    cfg = tiny_cfg()['teacher']
    source = MODELS.build(cfg)
    state = {'backbone.' + k: v for k, v in source.state_dict().items()}
    state['head.weight'] = torch.zeros(10, 16)
    good = str(tmp_path / 'endossl.pth')
    torch.save({'module': state}, good)
    teacher = MODELS.build(dict(cfg, checkpoint=good))
    teacher.init_weights()
    torch.testing.assert_close(teacher.state_dict()['blocks.1.attn.k.weight'],
                               source.state_dict()['blocks.1.attn.k.weight'])
    assert not teacher.training and not teacher.pos_embed.requires_grad
    clip = torch.randn(2, 3, 4, 32, 32)
    assert teacher(clip).shape == (2, 2 * 4, 16)
    wrong = str(tmp_path / 'wrong.pth')
    torch.save({'model': {k.replace('attn.q.', 'attn.qq.'): v
                          for k, v in source.state_dict().items()}}, wrong)
    with pytest.raises(KeyError, match=r'wrong\.pth.*attn\.qq'):
        MODELS.build(dict(cfg, checkpoint=wrong)).init_weights()
    shaped = str(tmp_path / 'shape.pth')
    torch.save(dict(source.state_dict(), pos_embed=torch.zeros(1, 5, 16)), shaped)
    with pytest.raises(ValueError, match='pos_embed'):
        MODELS.build(dict(cfg, checkpoint=shaped)).init_weights()
    with pytest.raises(FileNotFoundError):
        MODELS.build(dict(cfg, checkpoint=str(tmp_path / 'none.pth'))).init_weights()


def test_timm_teacher(tmp_path):
    init_default_scope('surgvista_mm')
    cfg = dict(type='SurgVistaTimmTeacher', model_name='vit_tiny_patch16_224',
               model_kwargs=dict(img_size=32, depth=2), out_layer=-1)
    source = MODELS.build(cfg)
    path = str(tmp_path / 'vit.pth')
    torch.save(source.model.state_dict(), path)
    teacher = MODELS.build(dict(cfg, checkpoint=path))
    teacher.init_weights()
    teacher.train()
    assert not teacher.training
    assert teacher(torch.randn(1, 3, 4, 32, 32)).shape == (1, 2 * 4, 192)
    with pytest.raises(KeyError, match='pretrained'):
        MODELS.build(dict(cfg, model_kwargs=dict(pretrained=True)))


@pytest.mark.parametrize('device', DEVICES)
def test_autocast_teacher_stores_cast_weights_with_identical_features(device):
    """With autocast the teacher keeps its Linear / Conv weights in the autocast dtype (cast
    once, not at every call): its features equal, bit for bit, those of a float32 teacher run
    under the same autocast; LayerNorms stay float32."""
    from surgvista_mm.registry import MODELS
    kw = dict(type='SurgVistaImageTeacher', img_size=32, patch_size=16, embed_dims=48,
              depth=2, num_heads=3)
    ref = MODELS.build(dict(kw))
    cast = MODELS.build(dict(kw, autocast=True, autocast_dtype='bfloat16'))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.2)
    cast.load_state_dict(ref.state_dict())
    ref, cast = ref.to(device), cast.to(device)
    assert cast.blocks[0].mlp.fc1.weight.dtype == torch.bfloat16
    assert cast.patch_embed.proj.weight.dtype == torch.bfloat16
    assert cast.blocks[0].norm1.weight.dtype == torch.float32
    assert cast.pos_embed.dtype == torch.float32
    clip = torch.randn(2, 3, 4, 32, 32, device=device)
    ref.autocast = True  # the float32 weights, cast by autocast at every call
    tol = 0 if device == 'cpu' else 1e-2  # CUDA may pick other kernels per call
    torch.testing.assert_close(cast(clip), ref(clip), rtol=tol, atol=tol)
