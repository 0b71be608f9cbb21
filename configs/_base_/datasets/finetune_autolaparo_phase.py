# AutoLaparo Task 1 phase recognition (7 phases, hysterectomy), online causal protocol (16 frames,
# stride 4, ending at t). Layout: data/autolaparo/manifests/autolaparo.json (1-fps frame folders,
# ids 01..21) and data/autolaparo/labels/label_NN.txt (official: 1 fps, 1-based frame numbers,
# phases 1..7 -> ids 0..6). Official split: train 1-10, val 11-14 (model selection), test 15-21.
# Metric: AutoLaparo's official protocol is unrelaxed (pooled scikit-learn-style macro P/R/J).
_base_ = ['./finetune_pipelines.py']

data_root = 'data/autolaparo'
manifest = 'manifests/autolaparo.json'
label_dir = 'labels'
classes = ('Preparation', 'Dividing Ligament and Peritoneum',
           'Dividing Uterine Vessels and Ligament', 'Transecting the Vagina', 'Specimen Removal',
           'Suturing', 'Washing')
train_videos = [f'{i:02d}' for i in range(1, 11)]
val_videos = [f'{i:02d}' for i in range(11, 15)]
test_videos = [f'{i:02d}' for i in range(15, 22)]
clip_len = 16
frame_interval = 4

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir=label_dir, classes=classes, label_file_tmpl='label_{num:02d}.txt',
                label_fps=1, label_first_frame=1, label_int_base=1, clip_len=clip_len,
                frame_interval=frame_interval, seed=0)

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(_dataset, include=train_videos, pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, include=val_videos, pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, include=test_videos, pipeline={{_base_.test_pipeline}},
                 test_mode=True))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='none')
test_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='none',
                      bootstrap=1000, seed=0)
