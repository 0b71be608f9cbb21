# Paper Fig. 4, EndoViT (ViT-B/16) on CATARACTS, stage 1: frame-level fine-tuning.
# Commands from frames to the Fig. 4 number: docs/twostage.md
# (RUN=work_dirs/twostage/endovit_vitb_cataracts):
#   python tools/train.py configs/twostage/endovit_vitb_cataracts_frame.py --work-dir $RUN/frame
_base_ = ['../_base_/twostage/frame_endovit_vitb.py', '../_base_/twostage/frame_cataracts.py']

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
