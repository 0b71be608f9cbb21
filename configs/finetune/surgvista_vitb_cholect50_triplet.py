# SurgVISTA ViT-B fine-tuned for CholecT50 triplet recognition (spec section 7): 100 triplets,
# multi-label BCE, no mixup / cutmix / label smoothing, LR 5e-4, 20 epochs (5 warm-up).
# Challenge split: train 40 videos, val 5 (best checkpoint on val), test 5. Reported number:
# triplet/video/AP_IVT (video-wise mAP, null triplets ignored) and the component APs.
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_cholect50_triplet.py',
    '../_base_/schedules/finetune_20e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    cls_head=dict(num_classes=100, multi_label=True, label_smooth_eps=0.0),
    data_preprocessor=dict(blending=None))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='triplet/video/AP_IVT', rule='greater'))
