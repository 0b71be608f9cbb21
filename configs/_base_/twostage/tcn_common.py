# Stage 2 of the two-stage paradigm (docs/twostage.md): a causal MS-TCN (CausalMSTCN: stages,
# dilated residual layers with left padding only, cross-entropy + 0.15 x truncated MSE with
# tau = 4) trained on a feature bank (tools/twostage/extract_bank.py), one whole video per
# sample (batch 1). A dataset base sets the TCN size, the LR and the evaluators; the leaf config
# sets the feature width and the bank folder (or give it on the command line:
#   --cfg-options train_dataloader.dataset.bank_dir=B val_dataloader.dataset.bank_dir=B
#                 test_dataloader.dataset.bank_dir=B).
# Selection: validation is run from epoch `min_epochs` (12) on, and the best epoch on the
# validation split's unrelaxed video-level accuracy is kept (best_*.pth); never on test.
# Adam without weight decay, constant LR (ours: the paper follows the original TeCNO settings).
# The LRs are the published TCN's, for its set-up: one GPU, one video per optimizer step; on more
# processes SurgVistaRunner scales them linearly (auto_scale_lr: 8 GPUs -> 8 videos a step, LR x 8)
# as for the fine-tuning schedules.
_base_ = ['../default_runtime.py']

min_epochs = 12
max_epochs = 50
model = dict(type='CausalMSTCN', in_channels=2048, num_classes=7, num_stages=2, num_layers=8,
             num_f_maps=32, dropout=0.5, smooth_weight=0.15, smooth_tau=4.0)

gpus = 1  # reference set-up of the LR, not read at run time
batch_per_gpu = 1  # one whole video
total_batch = gpus * batch_per_gpu

_bank = dict(type='FeatureSequenceDataset', bank_dir='work_dirs/twostage/bank')
train_dataloader = dict(
    batch_size=batch_per_gpu, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_bank, split='train'))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_bank, split='val', test_mode=True))
test_dataloader = dict(val_dataloader, dataset=dict(_bank, split='test', test_mode=True))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=7e-5, weight_decay=0.0))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=min_epochs,
                 val_interval=1)
val_cfg = dict(type='SequenceValLoop')  # evaluates every frame of every video
test_cfg = dict(type='SequenceTestLoop')
auto_scale_lr = dict(enable=True, base_batch_size=total_batch)
# whole videos of different lengths: cuDNN's per-shape autotuning (default_runtime's
# cudnn_benchmark, meant for fixed clip shapes) would re-tune the Conv1d layers for every video
env_cfg = dict(cudnn_benchmark=False)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True,
                    save_best='phase/unrelaxed/video_accuracy', rule='greater'))
