# Your own triplet dataset: SurgVISTA ViT-B fine-tuned on a folder made by
#   python tools/data/prepare.py generic_triplet --root MY_RELEASE --out data/mine_triplet
# with one option (docs/data.md, "Your own dataset"):
#   python tools/train.py configs/finetune/surgvista_vitb_custom_triplet.py \
#       --cfg-options data_root=data/mine_triplet [pretrained=PRETRAIN.pth]
# Everything else follows data_root when the config is loaded (surgvista_mm/utils/config_follow.py):
# the manifest (the one manifests/*.json), the number of triplet classes (the rows of maps.txt)
# and so the datasets, the head and the evaluators; null_classes.txt is dropped from AP_IVT;
# videos in splits/train_only.txt never enter val / test.
# Recipe: spec section 7 (multi-label BCE, no mixup / cutmix / label smoothing, LR 5e-4 x total
# batch / 64, 20 epochs, 5 warm-up). Best checkpoint on val (triplet/video/AP_IVT), never on test.
_base_ = [
    '../_base_/models/surgvista_vitb_finetune.py',
    '../_base_/datasets/finetune_common.py',
    '../_base_/schedules/finetune_20e.py',
    '../_base_/default_runtime.py',
]

data_root = None  # required: --cfg-options data_root=DIR
pretrained = 'checkpoints/surgvista_vitb_pretrain.pth'
classes = '${data_root}/maps.txt'  # a triplet map: one class per row

model = dict(
    backbone=dict(init_cfg=dict(checkpoint='${pretrained}')),
    cls_head=dict(num_classes=None, multi_label=True, label_smooth_eps=0.0),
    data_preprocessor=dict(blending=None))

_dataset = dict(type='SurgicalTripletDataset', data_root='${data_root}',
                manifest='manifests/*.json', label_dir='labels', num_classes=None,
                label_format='generic', clip_len={{_base_.clip_len}},
                frame_interval={{_base_.frame_interval}}, seed=0)
train_dataloader = dict(dataset=dict(_dataset, include='splits/train.txt'))
val_dataloader = dict(dataset=dict(_dataset, include='splits/val.txt',
                                   exclude='splits/train_only.txt'))
test_dataloader = dict(dataset=dict(_dataset, include='splits/test.txt',
                                    exclude='splits/train_only.txt'))

val_evaluator = dict(type='SurgicalTripletMetric', maps='${data_root}/maps.txt',
                     null_classes='${data_root}/null_classes.txt', num_classes=None,
                     ignore_null=True)
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='triplet/video/AP_IVT', rule='greater'))
