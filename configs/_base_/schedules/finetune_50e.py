# SurgVISTA fine-tuning schedule for phase recognition (spec section 7): 50 epochs, 5 warm-up,
# AdamW (0.9, 0.999) wd 0.05, layer-wise LR decay 0.75 (layer i of 14 gets 0.75 ** (13 - i):
# patch embedding 0, block k -> k + 1, head and everything else 13), no weight decay on 1-D
# parameters and biases, per-iteration cosine with linear warm-up, no gradient clipping.
# LR = base LR x total batch / 64, written for the paper's 2 GPUs x 32 clips; at run time
# SurgVistaRunner rescales it to the actual world size x batch (auto_scale_lr, linear rule).
# The cosine ends at min_lr x lr_scale for each layer group (eta_min_ratio), as the reference
# schedule does (it scales a single schedule by lr_scale).
# finetune_20e.py (triplet recognition) is this schedule over 20 epochs.
gpus = 2  # reference set-up of the LR, not read at run time
batch_per_gpu = 32
total_batch = gpus * batch_per_gpu
base_lr = 5e-4 * total_batch / 64
min_lr = 1e-6
max_epochs = 50
warmup_epochs = 5

optim_wrapper = dict(
    type='SurgVistaAmpOptimWrapper',  # no loss scaling in bf16, dynamic scaling in fp16
    dtype='bfloat16',  # the paper: optim_wrapper.dtype=float16 (loss scaling follows)
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05,
                   fused=True),  # one kernel for all parameters, the loop version's update
    constructor='SurgVistaOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75,
                       no_decay_keys=('pos_embed', 'mask_token', 'cls_token')),
    clip_grad=None)

param_scheduler = [
    # linear warm-up "from 0": mmengine's LinearLR needs a start factor > 0
    dict(type='LinearLR', start_factor=1e-6, end_factor=1.0, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min_ratio=min_lr / base_lr,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=1)
# amp: evaluation precision ('none': float32, TF32 on CUDA; 'bf16' / 'fp16': autocast)
val_cfg = dict(type='SurgVistaValLoop', amp='none')
test_cfg = dict(type='SurgVistaTestLoop', amp='none')
auto_scale_lr = dict(enable=True, base_batch_size=total_batch)
