# Paper Fig. 4, ImageNet ViT-B/16 on AutoLaparo, stage 2: causal MS-TCN on the feature bank of the
# best checkpoint of imagenet_vitb_autolaparo_frame.py. Commands: docs/twostage.md
# (RUN=work_dirs/twostage/imagenet_vitb_autolaparo):
#   python tools/twostage/extract_bank.py configs/twostage/imagenet_vitb_autolaparo_frame.py \
#       $RUN/frame/best_*.pth --out $RUN/bank
#   python tools/train.py configs/twostage/imagenet_vitb_autolaparo_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_autolaparo.py']

model = dict(in_channels=768)
_bank = dict(bank_dir='work_dirs/twostage/imagenet_vitb_autolaparo/bank', feature_dim=768)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
