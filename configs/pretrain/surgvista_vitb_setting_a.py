# SurgVISTA pre-training on data-scaling Setting A (paper Fig. 5): the recipe of
# surgvista_vitb.py on the Cholec80 training videos 1-40 only (86,344 frames; cholecystectomy
# 100 %). Composition derived in docs/data_scaling.md (the paper gives shares, not lists).
_base_ = ['./surgvista_vitb.py']

setting = 'A'
setting_sources = ('cholec80', )
pretrain_sources = [s for s in _base_.pretrain_sources if s['name'] in setting_sources]
train_dataloader = dict(dataset=dict(sources=pretrain_sources))
