# Paper Fig. 4, EndoViT (ViT-B/16) on M2CAI16-Workflow, stage 2: causal MS-TCN on the feature bank
# of the
# best checkpoint of endovit_vitb_m2cai16_frame.py. Commands: docs/twostage.md
# (RUN=work_dirs/twostage/endovit_vitb_m2cai16):
#   python tools/twostage/extract_bank.py configs/twostage/endovit_vitb_m2cai16_frame.py \
#       $RUN/frame/best_*.pth --out $RUN/bank
#   python tools/train.py configs/twostage/endovit_vitb_m2cai16_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_m2cai16.py']

model = dict(in_channels=768)
_bank = dict(bank_dir='work_dirs/twostage/endovit_vitb_m2cai16/bank', feature_dim=768)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
