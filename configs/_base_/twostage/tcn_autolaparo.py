# TCN settings for AutoLaparo: LR 1e-4, 8 layers, 32 feature maps, 2 stages (the Cholec80 /
# M2CAI16 size; no published value); up to 50 epochs (selection from epoch 12 on).
# Classes and evaluators as the end-to-end config (../datasets/finetune_autolaparo_phase.py).
_base_ = ['./tcn_common.py']

classes = ('Preparation', 'Dividing Ligament and Peritoneum',
           'Dividing Uterine Vessels and Ligament', 'Transecting the Vagina', 'Specimen Removal',
           'Suturing', 'Washing')
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)

model = dict(num_classes=7, num_layers=8, num_f_maps=32)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
_classes = dict(dataset=dict(classes=classes))  # the bank's classes must be these
train_dataloader = val_dataloader = test_dataloader = _classes
