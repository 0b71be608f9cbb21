# SurgVISTA ViT-B fine-tuned for Prostate21 triplet recognition (spec section 7): 89 triplets,
# multi-label BCE, no mixup / cutmix / label smoothing, LR 5e-4, 20 epochs (5 warm-up). Private
# data in the generic triplet format (see the dataset base); PSI-AVA videos only in training.
# Reported number: triplet/video/AP_IVT (video-wise mAP, null triplets ignored).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_prostate21_triplet.py',
    '../_base_/schedules/finetune_20e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    cls_head=dict(num_classes=89, multi_label=True, label_smooth_eps=0.0),
    data_preprocessor=dict(blending=None))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='triplet/video/AP_IVT', rule='greater'))
