# The two-stage paradigm at toy size on the generated demo data (CPU, seconds; make demo-twostage):
# stage 1 = a tiny timm ResNet ('test_resnet', 96 features) trained from random weights on
# single 64 x 64 demo frames, selected on splits/val.txt, then
#   python tools/twostage/extract_bank.py configs/twostage/demo_frame.py \
#       work_dirs/demo_twostage/frame/best_*.pth --out work_dirs/demo_twostage/bank
# and configs/twostage/demo_tcn.py on that bank (docs/twostage.md).
_base_ = ['../_base_/twostage/frame_common.py', '../_base_/twostage/frame_pipelines.py']

data_root = 'data/demo'
num_classes = 7
img_size = 64
max_epochs = 6
base_lr = 2e-3

model = dict(
    backbone=dict(arch='test_resnet', img_size=img_size,
                  init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.')),
    cls_head=dict(num_classes=num_classes, in_channels=96))

_pipelines = dict(
    train=[dict(type='SurgicalFrameLoader'),
           dict(type='VideoRandomResizedCrop', size=img_size, scale=(0.7, 1.0),
                ratio=(3 / 4, 4 / 3)),
           dict(type='VideoFlip', flip_ratio=0.5),
           dict(type='PackSurgVistaClipInputs')],
    test=[dict(type='SurgicalFrameLoader'),
          dict(type='mmaction.Resize', scale=(img_size, img_size), keep_ratio=False,
               interpolation='bilinear'),
          dict(type='PackSurgVistaClipInputs')])
_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root,
                manifest='manifests/demo_frames.json', label_dir='phase_annotations',
                label_fps=25, clip_len=1, frame_interval=1, seed=0)
batch_per_gpu = 32
total_batch = _base_.gpus * batch_per_gpu  # the LR's reference: 1 process x 32 frames
auto_scale_lr = dict(base_batch_size=total_batch)
train_dataloader = dict(
    batch_size=batch_per_gpu, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(_dataset, include='splits/train.txt', pipeline=_pipelines['train']))
val_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, include='splits/val.txt', pipeline=_pipelines['test'],
                 test_mode=True))
test_dataloader = dict(val_dataloader,
                       dataset=dict(val_dataloader['dataset'], include='splits/test.txt'))
val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=num_classes, relaxation='matlab',
                     transition_rule='cholec80', fps=1)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True, begin=1,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5))
