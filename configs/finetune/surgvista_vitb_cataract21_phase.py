# SurgVISTA ViT-B fine-tuned for Cataract-21 phase recognition (spec section 7): 11 classes, LR
# 5e-4 (x total batch / 64), 50 epochs (5 warm-up). Split: train case_01-14, val case_15-17 (carved
# from the official training part), test case_18-21 (the official validation part); the best
# checkpoint is chosen on val, never on test. Reported number: phase/unrelaxed/* (pooled macro
# precision / recall / Jaccard, video-level accuracy; metrics-spec §1).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_cataract21_phase.py',
    '../_base_/schedules/finetune_50e.py',
    '../_base_/default_runtime.py',
]

num_classes = 11
model = dict(
    cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
    ])))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='phase/unrelaxed/jaccard', rule='greater'))
