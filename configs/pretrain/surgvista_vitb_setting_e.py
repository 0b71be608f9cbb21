# SurgVISTA pre-training on data-scaling Setting E (paper Fig. 5): Setting D + the web corpus
# (SurgWeb) = the full pre-training set of surgvista_vitb.py (about 3.55 M frames; cholecystectomy
# 15.1 % per the paper, i.e. the web corpus adds cholecystectomy videos too).
_base_ = ['./surgvista_vitb.py']

setting = 'E'
setting_sources = ('cholec80', 'm2cai16', 'heichole', 'pitvis', 'psi_ava', 'autolaparo',
                   'bernbypass70', 'strasbypass70', 'web')
pretrain_sources = [s for s in _base_.pretrain_sources if s['name'] in setting_sources]
train_dataloader = dict(dataset=dict(sources=pretrain_sources))
