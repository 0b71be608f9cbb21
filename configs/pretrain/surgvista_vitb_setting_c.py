# SurgVISTA pre-training on data-scaling Setting C (paper Fig. 5): Setting B + PitVis + PSI-AVA +
# the AutoLaparo training videos (441,608 frames; cholecystectomy 209,061 / 441,608 = 47.3 %).
_base_ = ['./surgvista_vitb.py']

setting = 'C'
setting_sources = ('cholec80', 'm2cai16', 'heichole', 'pitvis', 'psi_ava', 'autolaparo')
pretrain_sources = [s for s in _base_.pretrain_sources if s['name'] in setting_sources]
train_dataloader = dict(dataset=dict(sources=pretrain_sources))
