# Paper Fig. 4, GSViT (EfficientViT-M5) on Cataract-21, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/gsvit_m5_cataract21):
#   python tools/train.py configs/twostage/gsvit_m5_cataract21_frame.py --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_gsvit_m5.py', '../_base_/twostage/frame_cataract21.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
