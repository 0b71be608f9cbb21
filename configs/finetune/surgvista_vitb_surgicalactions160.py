# SurgVISTA ViT-B fine-tuned for SurgicalActions160 (spec section 7, "clip" row): 16 actions,
# 16 uniform frames per clip, LR 1e-4 x batch / 64, 500 epochs (50 warm-up), 32 x 2 GPUs,
# single-label recipe. Seeded class-stratified 112 / 48 split (surgical_actions160_split, seed 0);
# no validation split: the last epoch is tested. Note: 112 clips / 64 = 1 step per epoch
# (drop_last), so the schedule is 500 steps.
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_surgicalactions160.py',
    '../_base_/schedules/finetune_500e.py',
    '../_base_/default_runtime.py',
]

num_classes = 16
base_lr = 1e-4 * _base_.total_batch / 64

model = dict(
    cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], eta_min_ratio=_base_.min_lr / base_lr),
]
val_cfg = None
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=2, save_last=True))
