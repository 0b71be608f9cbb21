# A tiny fine-tuning run on the generated demo data, for the CPU (a few minutes):
#   python tools/make_demo_data.py --out data/demo
#   python tools/train.py configs/finetune/surgvista_demo_phase.py --work-dir work_dirs/demo_ft
# The fine-tuning recipe of spec section 7 at toy size (milder RandAugment m5-n1, erasing 0.1,
# mixup/cutmix on 30% of the batches, head dropout 0.2, LR 2e-3, 10 epochs,
# clip stride 2 (8 frames span 15 s, about half a demo phase) so that it learns):
# the demo backbone (configs/pretrain/surgvista_demo.py: 8 frames of 64x64, tubelet 2, patch 16,
# 96 wide x 2 blocks, 4 heads) without final norm, the SurgVISTA head, the video-consistent train
# augmentations, mixup/cutmix + label smoothing, layer-wise LR decay, and the 7 demo phases.
# Train on splits/train.txt, select the best epoch on splits/val.txt (unrelaxed image-level
# accuracy) and test on the held-out splits/test.txt, with the relaxed Cholec80 protocol at 1 fps
# (the unrelaxed numbers are reported too).
# The encoder starts from random weights (checkpoint=None). To fine-tune the backbone that
# `make demo` pre-trained, give its checkpoint (a pre-training checkpoint of this project is read
# directly, no conversion step) with the one option every fine-tuning config takes:
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/epoch_10.pth
# (`make demo-finetune` does this with the last checkpoint, work_dirs/demo/last_checkpoint).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/demo'
num_frames = 8
img_size = 64
embed_dims = 96
num_classes = 7
max_epochs = 10
warmup_epochs = 1
pretrained = None  # or a checkpoint path: see above
base_lr = 2e-3  # toy run: larger than 5e-4 x 8 / 64 so that it moves in a few epochs
min_lr = 1e-6

model = dict(
    backbone=dict(img_size=img_size, num_frames=num_frames, embed_dims=embed_dims, depth=2,
                  num_heads=4, drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    cls_head=dict(num_classes=num_classes, in_channels=embed_dims, dropout_ratio=0.2),
    # toy size: milder batch blending (70% of the batches unblended) so that 8 short epochs learn
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
    ], probs=[0.15, 0.15])))

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
_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root,
                manifest='manifests/demo_frames.json', label_dir='phase_annotations',
                label_fps=25, clip_len=num_frames, frame_interval=2, seed=0)

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(_dataset, include='splits/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, include='splits/val.txt', pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(val_dataloader,
                       dataset=dict(val_dataloader['dataset'], include='splits/test.txt'))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=num_classes, relaxation='matlab',
                     transition_rule='cholec80', fps=1)
test_evaluator = val_evaluator

optim_wrapper = dict(
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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
# amp: evaluation precision ('none': float32, TF32 on CUDA; 'bf16' / 'fp16': autocast)
val_cfg = dict(type='SurgVistaValLoop', amp='none')
test_cfg = dict(type='SurgVistaTestLoop', amp='none')

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True,
                    save_best='phase/unrelaxed/image_accuracy', rule='greater'))
