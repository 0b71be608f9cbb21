# Paper Fig. 4, SelfSupSurg (ResNet-50) on AutoLaparo, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/selfsupsurg_r50_autolaparo):
#   python tools/train.py configs/twostage/selfsupsurg_r50_autolaparo_frame.py \
#       --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_selfsupsurg_r50.py', '../_base_/twostage/frame_autolaparo.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
