# TCN settings for CATARACTS: 9 layers, 64 feature maps, 2 stages; the published LR depends on
# the backbone (0.7e-4 to 1.5e-4), 1e-4 here: set it with --cfg-options
# optim_wrapper.optimizer.lr=...; up to 100 epochs (selection from epoch 12 on).
# Classes and evaluators as the end-to-end config (../datasets/finetune_cataracts_phase.py).
_base_ = ['./tcn_common.py']

classes = ('Idle', 'Toric Marking', 'Implant Ejection', 'Incision', 'Viscodilatation',
           'Capsulorhexis', 'Hydrodissection', 'Nucleus Breaking', 'Phacoemulsification',
           'Vitrectomy', 'Irrigation/Aspiration', 'Preparing Implant', 'Manual Aspiration',
           'Implantation', 'Positioning', 'OVD Aspiration', 'Suturing', 'Sealing Control',
           'Wound Hydratation')
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=19, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)

model = dict(num_classes=19, num_layers=9, num_f_maps=64)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_epochs=100)
_classes = dict(dataset=dict(classes=classes))  # the bank's classes must be these
train_dataloader = val_dataloader = test_dataloader = _classes
