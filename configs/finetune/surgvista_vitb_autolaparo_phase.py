# SurgVISTA ViT-B fine-tuned for AutoLaparo phase recognition (spec section 7): 7 phases, LR 5e-4,
# 50 epochs (5 warm-up). Official split: train 1-10, val 11-14 (best checkpoint on val), test
# 15-21. Reported number: phase/unrelaxed/* (AutoLaparo's official protocol is unrelaxed:
# pooled macro precision / recall / Jaccard, video-level accuracy).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_autolaparo_phase.py',
    '../_base_/schedules/finetune_50e.py',
    '../_base_/default_runtime.py',
]

# 7 phases: the model base's default num_classes (head and mixup / cutmix) fits as it is

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='phase/unrelaxed/jaccard', rule='greater'))
