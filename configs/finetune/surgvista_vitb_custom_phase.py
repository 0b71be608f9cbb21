# Your own phase dataset: SurgVISTA ViT-B fine-tuned on a folder made by
#   python tools/data/prepare.py generic_phase --root MY_RELEASE --out data/mine
# with one option (docs/data.md, "Your own dataset"):
#   python tools/train.py configs/finetune/surgvista_vitb_custom_phase.py \
#       --cfg-options data_root=data/mine [pretrained=PRETRAIN.pth]
# Everything else follows data_root when the config is loaded (surgvista_mm/utils/config_follow.py):
# the manifest (the one manifests/*.json), the classes (classes.txt: one name per line, spaces
# allowed) and so the dataset classes, the head, mixup / cutmix and the evaluators' num_classes.
# Recipe: spec section 7 (16 frames, stride 4, online causal clips; 50 epochs, 5 warm-up; LR 5e-4
# x total batch / 64; layer decay 0.75; mixup / cutmix + label smoothing 0.1). The best checkpoint
# is chosen on splits/val.txt, never on test. Metric: the unrelaxed protocol (pooled and
# video-wise precision / recall / Jaccard, accuracy at 1 fps) -- the relaxed Cholec80 MATLAB
# protocol only belongs to Cholec80 / M2CAI16.
# pretrained: a pre-training checkpoint of this project (read directly) or a converted one;
# train from scratch with --cfg-options model.backbone.init_cfg=None.
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_common.py',
    '../_base_/schedules/finetune_50e.py',
    '../_base_/default_runtime.py',
]

data_root = None  # required: --cfg-options data_root=DIR
pretrained = 'checkpoints/surgvista_vitb_pretrain.pth'
classes = '${data_root}/classes.txt'  # or a list of names

model = dict(
    backbone=dict(init_cfg=dict(checkpoint='${pretrained}')),
    cls_head=dict(num_classes=None),  # None: follows classes
    data_preprocessor=dict(blending=dict(augments=[
        dict(type='MixupBlending', alpha=0.8, num_classes=None),
        dict(type='CutmixBlending', alpha=1.0, num_classes=None),
    ])))

_dataset = dict(type='SurgicalPhaseDataset', data_root='${data_root}',
                manifest='manifests/*.json', label_dir='labels', classes=None,
                label_file_tmpl='{video_id}.csv', label_fps=1, label_first_frame=0,
                label_int_base=0, label_header=True, clip_len={{_base_.clip_len}},
                frame_interval={{_base_.frame_interval}}, seed=0)
train_dataloader = dict(dataset=dict(_dataset, include='splits/train.txt'))
val_dataloader = dict(dataset=dict(_dataset, include='splits/val.txt'))
test_dataloader = dict(dataset=dict(_dataset, include='splits/test.txt'))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=None, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='phase/unrelaxed/jaccard', rule='greater'))
