# Paper Fig. 4, ImageNet ViT-B/16 on M2CAI16-Workflow, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/imagenet_vitb_m2cai16):
#   python tools/train.py configs/twostage/imagenet_vitb_m2cai16_frame.py --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_imagenet_vitb.py', '../_base_/twostage/frame_m2cai16.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
