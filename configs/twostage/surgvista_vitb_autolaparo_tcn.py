# Beyond the paper: the causal MS-TCN on SurgVISTA's clip features on AutoLaparo, to compare both
# paradigms on one model (docs/twostage.md). Frame t's feature: the fine-tuned SurgVISTA's
# pooled fc_norm feature of the causal 16-frame clip ending at t
# (RUN=work_dirs/twostage/surgvista_vitb_autolaparo):
#   python tools/twostage/extract_bank.py configs/finetune/surgvista_vitb_autolaparo_phase.py \
#       FINETUNED.pth --out $RUN/bank
#   python tools/train.py configs/twostage/surgvista_vitb_autolaparo_tcn.py --work-dir $RUN/tcn
_base_ = ['../_base_/twostage/tcn_autolaparo.py']

model = dict(in_channels=768)
_bank = dict(bank_dir='work_dirs/twostage/surgvista_vitb_autolaparo/bank', feature_dim=768)
train_dataloader = dict(dataset=_bank)
val_dataloader = dict(dataset=_bank)
test_dataloader = dict(dataset=_bank)
