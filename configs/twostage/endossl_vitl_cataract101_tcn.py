# Paper Fig. 4, EndoSSL (ViT-L/16) on Cataract-101, stage 2: causal MS-TCN on the feature bank of
# the
# best checkpoint of endossl_vitl_cataract101_frame.py. Commands: docs/twostage.md
# (RUN=work_dirs/twostage/endossl_vitl_cataract101):
#   python tools/twostage/extract_bank.py configs/twostage/endossl_vitl_cataract101_frame.py \
#       $RUN/frame/best_*.pth --out $RUN/bank
#   python tools/train.py configs/twostage/endossl_vitl_cataract101_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_cataract101.py']

model = dict(in_channels=1024)
_bank = dict(bank_dir='work_dirs/twostage/endossl_vitl_cataract101/bank', feature_dim=1024)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
