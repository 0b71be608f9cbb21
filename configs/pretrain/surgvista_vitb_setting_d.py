# SurgVISTA pre-training on data-scaling Setting D (paper Fig. 5): Setting C + BernBypass70 +
# StrasBypass70, i.e. all eight public datasets (SurgPub, 1,203,159 frames; cholecystectomy
# 209,061 / 1,203,159 = 17.4 %).
_base_ = ['./surgvista_vitb.py']

setting = 'D'
setting_sources = ('cholec80', 'm2cai16', 'heichole', 'pitvis', 'psi_ava', 'autolaparo',
                   'bernbypass70', 'strasbypass70')
pretrain_sources = [s for s in _base_.pretrain_sources if s['name'] in setting_sources]
train_dataloader = dict(dataset=dict(sources=pretrain_sources))
