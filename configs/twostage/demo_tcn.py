# The temporal stage of the two-stage demo (make demo-twostage, docs/twostage.md): a causal
# MS-TCN (2 stages, 6 layers, 32 feature maps) on the feature bank of demo_frame.py's best
# checkpoint; the 3 training videos, selection on splits/val.txt from epoch 12 on, test on the
# held-out splits/test.txt:
#   python tools/train.py configs/twostage/demo_tcn.py --work-dir work_dirs/demo_twostage/tcn
#   python tools/test.py configs/twostage/demo_tcn.py work_dirs/demo_twostage/tcn/best_*.pth \
#       --out-dir work_dirs/demo_twostage/results
_base_ = ['../_base_/twostage/tcn_common.py']

classes = ('Preparation', 'CalotTriangleDissection', 'ClippingCutting', 'GallbladderDissection',
           'GallbladderPackaging', 'CleaningCoagulation', 'GallbladderRetraction')
max_epochs = 40
model = dict(in_channels=96, num_classes=7, num_layers=6, num_f_maps=32)
_bank = dict(bank_dir='work_dirs/demo_twostage/bank', classes=classes, feature_dim=96)
train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=_bank)
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=_bank)
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=_bank)
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='matlab',
                     transition_rule='cholec80', fps=1)
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=max_epochs)
