# A tiny SurgVISTA pre-training run on the generated demo data, for the CPU (a few minutes):
#   python tools/make_demo_data.py --out data/demo
#   python tools/train.py configs/pretrain/surgvista_demo.py --work-dir work_dirs/demo
# The model has the published layout at a toy size (the golden parity configuration): 8 frames
# of 64x64, tubelet 2, patch 16 (4x4x4 = 64 tokens), encoder 96 wide x 2 blocks, decoders 48
# wide, and a random 64-wide ViT teacher written by make_demo_data.py. So that the toy run learns
# in 10 epochs (pixel MSE of the last epoch below 0.7 x the first logged iterations; printed by
# tools/analysis/demo_report.py): mask ratio 0.5 (not 0.85), crops of scale 1 or 0.875, LR 1.5e-3.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/demo'
num_frames = 8
img_size = 64
patch_size = 16
tubelet_size = 2
mask_ratio = 0.5
embed_dims = 96
teacher_dims = 64
token_grid = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
max_epochs = 10

model = dict(
    type='SurgVistaPretrainer',
    data_preprocessor=dict(
        type='SurgVistaDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    backbone=dict(
        type='SurgVistaViT', img_size=img_size, patch_size=patch_size, num_frames=num_frames,
        tubelet_size=tubelet_size, embed_dims=embed_dims, depth=2, num_heads=4, mlp_ratio=4.0,
        drop_path_rate=0.0, final_norm=True),
    pixel_decoder=dict(
        type='SurgVistaDecoder', in_dims=embed_dims, embed_dims=48, depth=2, num_heads=4,
        out_dims=tubelet_size * patch_size * patch_size * 3, token_grid=token_grid),
    pixel_head=dict(
        type='SurgVistaPixelHead', patch_size=patch_size, tubelet_size=tubelet_size,
        loss_weight=1.0),
    distill_decoder=dict(
        type='SurgVistaDecoder', in_dims=embed_dims, embed_dims=48, depth=1, num_heads=4,
        out_dims=teacher_dims, token_grid=token_grid),
    distill_head=dict(type='SurgVistaDistillHead', norm_target=False, loss_weight=0.05),
    teacher=dict(
        type='SurgVistaImageTeacher', img_size=img_size, patch_size=patch_size,
        embed_dims=teacher_dims, depth=2, num_heads=4, mlp_ratio=4.0, norm_eps=1e-5,
        frame_stride=tubelet_size, checkpoint=data_root + '/teacher/demo_teacher_vit.pth',
        autocast=False))

train_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='TSNMultiScaleCrop', input_size=img_size, scales=(1.0, 0.875),
         max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='TubeMasking', input_size=(num_frames, img_size, img_size), patch_size=patch_size,
         tubelet_size=tubelet_size, mask_ratio=mask_ratio),
    dict(type='PackSurgVistaInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(
        type='SurgicalPretrainDataset',
        data_root=data_root,
        sources=[
            # the demo's test videos (splits/test.txt) never enter pre-training
            dict(name='demo_frames', manifest='manifests/demo_frames.json',
                 exclude='splits/test.txt'),
            dict(name='demo_web', manifest='manifests/demo_web.json'),
        ],
        clip_len=num_frames,
        frame_interval=4,
        pipeline=train_pipeline,
        seed=0))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05),
    constructor='SurgVistaOptimWrapperConstructor',
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-4, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
val_cfg = None
test_cfg = None

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True))
