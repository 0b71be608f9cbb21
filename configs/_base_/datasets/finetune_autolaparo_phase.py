# AutoLaparo Task 1 phase recognition (7 phases, hysterectomy), online causal protocol (16 frames,
# stride 4, ending at t). Layout: data/autolaparo/manifests/autolaparo.json (1-fps frame folders,
# ids 01..21) and data/autolaparo/labels/label_NN.txt (official: 1 fps, 1-based frame numbers,
# phases 1..7 -> ids 0..6). Official split: train 1-10, val 11-14 (model selection), test 15-21.
# Metric: AutoLaparo's official protocol is unrelaxed (pooled scikit-learn-style macro P/R/J).
_base_ = ['./finetune_common.py']

data_root = 'data/autolaparo'
manifest = 'manifests/autolaparo.json'
label_dir = 'labels'
classes = ('Preparation', 'Dividing Ligament and Peritoneum',
           'Dividing Uterine Vessels and Ligament', 'Transecting the Vagina', 'Specimen Removal',
           'Suturing', 'Washing')
train_videos = [f'{i:02d}' for i in range(1, 11)]
val_videos = [f'{i:02d}' for i in range(11, 15)]
test_videos = [f'{i:02d}' for i in range(15, 22)]

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir=label_dir, classes=classes, label_file_tmpl='label_{num:02d}.txt',
                label_fps=1, label_first_frame=1, label_int_base=1,
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
