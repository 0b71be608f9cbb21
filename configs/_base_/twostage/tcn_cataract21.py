# TCN settings for Cataract-21: LR 5e-4, 9 layers, 64 feature maps, 2 stages; up to 100 epochs
# (selection from epoch 12 on).
# Classes and evaluators as the end-to-end config (../datasets/finetune_cataract21_phase.py).
_base_ = ['./tcn_common.py']

classes = ('not_initialized', 'Incision', 'Viscoelasticum', 'Rhexis', 'Hydrodissektion', 'Phako',
           'Irrigation-Aspiration', 'Kapselpolishing', 'Linsenimplantation', 'Visco-Absaugung',
           'Tonisieren')
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=11, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)

model = dict(num_classes=11, num_layers=9, num_f_maps=64)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=100)
_classes = dict(dataset=dict(classes=classes))  # the bank's classes must be these
train_dataloader = val_dataloader = test_dataloader = _classes
