# Paper Fig. 4, EndoSSL (ViT-L/16) on Cataract-21, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/endossl_vitl_cataract21):
#   python tools/train.py configs/twostage/endossl_vitl_cataract21_frame.py --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_endossl_vitl.py', '../_base_/twostage/frame_cataract21.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
