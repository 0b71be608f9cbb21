# Paper Fig. 4, SelfSupSurg (ResNet-50) on CATARACTS, stage 2: causal MS-TCN on the feature bank of
# the
# best checkpoint of selfsupsurg_r50_cataracts_frame.py. Commands: docs/twostage.md
# (RUN=work_dirs/twostage/selfsupsurg_r50_cataracts):
#   python tools/twostage/extract_bank.py configs/twostage/selfsupsurg_r50_cataracts_frame.py \
#       $RUN/frame/best_*.pth --out $RUN/bank
#   python tools/train.py configs/twostage/selfsupsurg_r50_cataracts_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_cataracts.py']

model = dict(in_channels=2048)
_bank = dict(bank_dir='work_dirs/twostage/selfsupsurg_r50_cataracts/bank', feature_dim=2048)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
