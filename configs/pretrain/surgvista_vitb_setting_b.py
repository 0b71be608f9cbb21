# SurgVISTA pre-training on data-scaling Setting B (paper Fig. 5): Setting A + the M2CAI16-Workflow
# training videos + HeiChole (209,061 frames; cholecystectomy 100 %). The A/B boundary is the
# uncertain part of the derivation (docs/data_scaling.md).
_base_ = ['./surgvista_vitb.py']

setting = 'B'
setting_sources = ('cholec80', 'm2cai16', 'heichole')
pretrain_sources = [s for s in _base_.pretrain_sources if s['name'] in setting_sources]
train_dataloader = dict(dataset=dict(sources=pretrain_sources))
