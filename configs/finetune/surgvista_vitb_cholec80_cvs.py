# SurgVISTA ViT-B fine-tuned for Cholec80-CVS (spec section 7, "clip" row): 6 classes (summed
# criteria 0-5), 16 uniform frames per segment, LR 5e-4 x batch / 64, 500 epochs (50 warm-up),
# 32 x 2 GPUs, single-label recipe (mixup / cutmix, smoothing 0.1). Videos 1-40 train, 41-80 test;
# no validation split: the last epoch is tested (never selected on the test videos).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_cholec80_cvs.py',
    '../_base_/schedules/finetune_500e.py',
    '../_base_/default_runtime.py',
]

num_classes = 6

model = dict(
    cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)])))
val_cfg = None
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=2, save_last=True))
