# The custom phase template (surgvista_vitb_custom_phase.py) at the demo's toy size, to check a
# folder of your own on the CPU in minutes before the ViT-B run (docs/data.md, "Your own dataset"):
#   python tools/train.py configs/finetune/surgvista_demo_custom_phase.py --cfg-options data_root=data/mine
# The model, clips and recipe are those of surgvista_demo_phase.py (8 frames of 64x64, 96 wide x 2
# blocks, stride 2, fp32, 10 epochs, LR 2e-3); classes, manifest and class counts follow data_root
# as in the template. From random weights; fine-tune the `make demo` backbone with
#   --cfg-options model.backbone.init_cfg.checkpoint=$(cat work_dirs/demo/last_checkpoint)
_base_ = ['./surgvista_vitb_custom_phase.py']

num_frames = 8
img_size = 64
embed_dims = 96
max_epochs = 10
warmup_epochs = 1
base_lr = 2e-3
min_lr = 1e-6

model = dict(
    backbone=dict(img_size=img_size, num_frames=num_frames, embed_dims=embed_dims, depth=2,
                  num_heads=4, init_cfg=dict(checkpoint=None)),
    cls_head=dict(in_channels=embed_dims, dropout_ratio=0.2),
    data_preprocessor=dict(blending=dict(probs=[0.15, 0.15])))

train_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='VideoRandAugment', config_str='rand-m5-n1-mstd0.5', interpolation='bicubic'),
    dict(type='VideoRandomResizedCrop', size=img_size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3)),
    dict(type='VideoFlip', flip_ratio=0.5),
    dict(type='VideoRandomErasing', p=0.1, mode='pixel'),
    dict(type='PackSurgVistaClipInputs'),
]
test_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='mmaction.Resize', scale=(img_size, img_size), keep_ratio=False,
         interpolation='bilinear'),
    dict(type='PackSurgVistaClipInputs'),
]
_loader = dict(batch_size=8, num_workers=2, persistent_workers=True, pin_memory=False)
_clip = dict(clip_len=num_frames, frame_interval=2)
train_dataloader = dict(_loader, dataset=dict(_clip, pipeline=train_pipeline))
val_dataloader = dict(_loader, dataset=dict(_clip, pipeline=test_pipeline))
test_dataloader = dict(_loader, dataset=dict(_clip, pipeline=test_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',  # fp32 on the CPU
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    constructor='SurgVistaOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75,
                       no_decay_keys=('pos_embed', 'mask_token', 'cls_token')),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, end_factor=1.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min_ratio=min_lr / base_lr,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=10))
total_batch = 8
