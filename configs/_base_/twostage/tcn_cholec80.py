# TCN settings for Cholec80: LR 7e-5, 8 layers, 32 feature maps, 2 stages; up to 50 epochs
# (selection from epoch 12 on).
# Classes and evaluators as the end-to-end config (../datasets/finetune_cholec80_phase.py).
_base_ = ['./tcn_common.py']

classes = ('Preparation', 'CalotTriangleDissection', 'ClippingCutting', 'GallbladderDissection',
           'GallbladderPackaging', 'CleaningCoagulation', 'GallbladderRetraction')
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='matlab',
                     transition_rule='cholec80', fps=1)
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)

model = dict(num_classes=7, num_layers=8, num_f_maps=32)
optim_wrapper = dict(optimizer=dict(lr=7e-5))
_classes = dict(dataset=dict(classes=classes))  # the bank's classes must be these
train_dataloader = val_dataloader = test_dataloader = _classes
