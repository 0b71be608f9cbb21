# Cataract-21 phase recognition, online causal protocol (16 frames, stride 4, ending at t).
# Layout: data/cataract21/manifests/cataract21.json (ids case_01..case_21, the 25-fps videos or
# their 1-fps frames) and data/cataract21/labels/case_NN.csv (official: no header,
# "<frame>,<PhaseName>" for every native frame, 0-based, German names).
# 11 classes as SurgVISTA: not_initialized (id 0, an ordinary class) and the 10 phases, with
# Antibiotikum merged into Tonisieren (id 10).
# Split: the official page has 17 training and 4 validation videos (case_18-21). Those four are
# our test set; validation (model selection) is carved from the training part: train case_01-14,
# val case_15-17, test case_18-21 (SurgVISTA selected on the test videos; we do not).
# Metric: unrelaxed pooled metrics (metrics-spec §1; 'generic-matlab' available).
_base_ = ['./finetune_common.py']

data_root = 'data/cataract21'
manifest = 'manifests/cataract21.json'
classes = ('not_initialized', 'Incision', 'Viscoelasticum', 'Rhexis', 'Hydrodissektion', 'Phako',
           'Irrigation-Aspiration', 'Kapselpolishing', 'Linsenimplantation', 'Visco-Absaugung',
           'Tonisieren')
train_videos = [f'case_{i:02d}' for i in range(1, 15)]
val_videos = [f'case_{i:02d}' for i in range(15, 18)]
test_videos = [f'case_{i:02d}' for i in range(18, 22)]

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir='labels', classes=classes, label_format='cataract21',
                label_file_tmpl='{video_id}.csv', label_fps=25,
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=11, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
