# Paper Fig. 4, ImageNet ViT-B/16 on Cataract-21, stage 2: causal MS-TCN on the feature bank of the
# best checkpoint of imagenet_vitb_cataract21_frame.py. Commands: docs/twostage.md
# (RUN=work_dirs/twostage/imagenet_vitb_cataract21):
#   python tools/twostage/extract_bank.py configs/twostage/imagenet_vitb_cataract21_frame.py \
#       $RUN/frame/best_*.pth --out $RUN/bank
#   python tools/train.py configs/twostage/imagenet_vitb_cataract21_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_cataract21.py']

model = dict(in_channels=768)
_bank = dict(bank_dir='work_dirs/twostage/imagenet_vitb_cataract21/bank', feature_dim=768)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
