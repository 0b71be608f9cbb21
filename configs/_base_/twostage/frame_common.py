# Stage 1 of the two-stage paradigm (docs/twostage.md): an image encoder fine-tuned with
# frame-level supervision. mmaction2's Recognizer3D over one-frame clips (clip_len 1: the 1-fps
# frame t, labelled with the phase of t) -> TimmImageEncoder (pooled features [N, C]) ->
# SurgVistaLinearHead (dropout + one Linear layer, softmax cross-entropy). The best epoch is
# selected on the validation split's unrelaxed image-level accuracy (never on test).
# Our recipe (the paper gives none for stage 1): AdamW, LR 1e-4 for a total batch of 64 frames
# (1 GPU x 64; at run time SurgVistaRunner rescales it to the actual world size x batch:
# auto_scale_lr, linear rule, as the fine-tuning schedules do), weight decay 0.05, 1 warm-up epoch then cosine, 10 epochs; random-resized crop (0.7-1.0) and
# horizontal flip; frames squashed to 224 x 224 at test (frame_pipelines.py). A backbone base
# sets the timm architecture, the feature width and the converted weights
# (tools/convert_checkpoint.py).
_base_ = ['../default_runtime.py']

model = dict(
    type='Recognizer3D',
    backbone=dict(type='TimmImageEncoder', arch='resnet50', img_size=224,
                  drop_path_rate=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.')),
    cls_head=dict(type='SurgVistaLinearHead', num_classes=7, in_channels=2048,
                  dropout_ratio=0.0, average_clips='prob'),
    data_preprocessor=dict(type='SurgVistaDataPreprocessor', format_shape='NCTHW'))

max_epochs = 10
warmup_epochs = 1
base_lr = 1e-4
gpus = 1  # reference set-up of the LR, not read at run time
batch_per_gpu = 64  # the dataset bases' train_dataloader.batch_size
total_batch = gpus * batch_per_gpu
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='SurgVistaOptimWrapperConstructor',
    paramwise_cfg=dict(no_decay_keys=('pos_embed', 'cls_token', 'dist_token')))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
auto_scale_lr = dict(enable=True, base_batch_size=total_batch)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True,
                    save_best='phase/unrelaxed/image_accuracy', rule='greater'))
