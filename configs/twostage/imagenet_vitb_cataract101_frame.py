# Paper Fig. 4, ImageNet ViT-B/16 on Cataract-101, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/imagenet_vitb_cataract101):
#   python tools/train.py configs/twostage/imagenet_vitb_cataract101_frame.py --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_imagenet_vitb.py', '../_base_/twostage/frame_cataract101.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
