# SurgVISTA ViT-B fine-tuned for ESD57 phase recognition (spec section 7): 8 classes, LR 5e-4 (x
# total batch / 64), 50 epochs (5 warm-up). Private data in the generic phase format (see the
# dataset base); the best checkpoint is chosen on val, never on test. Reported number:
# phase/unrelaxed/* (pooled macro precision / recall / Jaccard, video-level accuracy).
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_esd57_phase.py',
    '../_base_/schedules/finetune_50e.py',
    '../_base_/default_runtime.py',
]

num_classes = 8
model = dict(
    cls_head=dict(num_classes=num_classes),
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
        dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
    ])))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='phase/unrelaxed/jaccard', rule='greater'))
