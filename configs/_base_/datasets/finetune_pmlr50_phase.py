# PmLR50 phase recognition (5 phases, laparoscopic liver resection with the Pringle manoeuvre),
# online causal protocol (16 frames, stride 4, ending at t). Layout (official, 1-fps frames):
# data/pmlr50/frames/NN/NNNNNNNN.jpg (8 digits, 0-based; manifest filename_tmpl '{:08d}.jpg',
# ids 01..50) -> data/pmlr50/manifests/pmlr50.json, and data/pmlr50/phase_annotations/NN.txt
# (header line, then "<frame> <phase>", one row per 1-fps frame, phases 0..4).
# Official split (PmNet): train 01-33, 49, 50; val 34-37, 48 (model selection); test 38-47.
# Metric: unrelaxed pooled metrics (metrics-spec §1; 'generic-matlab' available).
_base_ = ['./finetune_common.py']

data_root = 'data/pmlr50'
manifest = 'manifests/pmlr50.json'
classes = ('Preparation stage', 'Knotting of the Foley catheter',
           'Procedure of the liver resection', 'Release of the Foley catheter',
           'Postprocessing stage')
train_videos = [f'{i:02d}' for i in list(range(1, 34)) + [49, 50]]
val_videos = [f'{i:02d}' for i in (34, 35, 36, 37, 48)]
test_videos = [f'{i:02d}' for i in range(38, 48)]

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir='phase_annotations', classes=classes, label_format='pmlr50',
                label_file_tmpl='{num:02d}.txt',
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=5, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
