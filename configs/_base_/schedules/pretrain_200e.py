# SurgVISTA pre-training schedule (spec section 5). The LR is written for the reference set-up,
# 8 GPUs x 64 clips x 4 accumulation steps = 2048 clips per optimizer step: base
# 1.5e-4 x 2048 / 256 = 1.2e-3, min 1e-4 x 8 = 8e-4. At run time SurgVistaRunner rescales it to
# the actual world size x batch x accumulation (auto_scale_lr, linear rule; the cosine floor is
# a ratio, so it follows). On fewer GPUs, raise optim_wrapper.accumulative_counts to keep 2048.
gpus = 8  # reference set-up of the LR, not read at run time
batch_per_gpu = 64
accumulation = 4
total_batch = gpus * batch_per_gpu * accumulation
base_lr = 1.5e-4 * total_batch / 256
min_lr = 1e-4 * total_batch / 256
max_epochs = 200
warmup_epochs = 40

optim_wrapper = dict(
    type='SurgVistaAmpOptimWrapper',  # no loss scaling in bf16, dynamic scaling in fp16
    dtype='bfloat16',  # fp16 + dynamic loss scaling: configs/pretrain/surgvista_vitb_fp16.py
    accumulative_counts=accumulation,
    # fused: one kernel for all parameters (CPU and CUDA), the same update as the loop version
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.05,
                   fused=True),
    constructor='SurgVistaOptimWrapperConstructor',
    paramwise_cfg=dict(no_decay_keys=('pos_embed', 'mask_token', 'cls_token')),
    clip_grad=None)

param_scheduler = [
    # "linear warm-up from 0": mmengine's LinearLR needs a start factor > 0, 1e-6 is 1.2e-9 here
    dict(type='LinearLR', start_factor=1e-6, end_factor=1.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min_ratio=min_lr / base_lr,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
val_cfg = None
test_cfg = None
auto_scale_lr = dict(enable=True, base_batch_size=total_batch)  # includes accumulation
