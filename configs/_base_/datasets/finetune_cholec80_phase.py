# Cholec80 phase recognition, online causal protocol (each 1-fps frame t is predicted from the
# 16 frames [t-60, ..., t] with stride 4, labelled with the phase of t).
# Layout: data/cholec80/manifests/cholec80.json (1-fps frame folders, ids video01..video80, built
# with tools/build_manifest.py) and data/cholec80/phase_annotations/videoNN-phase.txt (official).
# Split (model selection never sees the test set):
#   train 1-32, val 33-40 (carved from the official training half; best checkpoint on val),
#   test 41-80 without 73, 77, 78, 79, 80 (35 videos, as the paper: those five may overlap the
#   M2CAI16-Workflow training videos that are in the pre-training data).
# Metric: the relaxed-boundary MATLAB protocol ('cholec80-matlab', the paper-comparable number)
# plus the unrelaxed metrics, per video, at 1 fps.
_base_ = ['./finetune_common.py']

data_root = 'data/cholec80'
manifest = 'manifests/cholec80.json'
label_dir = 'phase_annotations'
classes = ('Preparation', 'CalotTriangleDissection', 'ClippingCutting', 'GallbladderDissection',
           'GallbladderPackaging', 'CleaningCoagulation', 'GallbladderRetraction')
train_videos = [f'video{i:02d}' for i in range(1, 33)]
val_videos = [f'video{i:02d}' for i in range(33, 41)]
test_videos = [f'video{i:02d}' for i in range(41, 81) if i not in (73, 77, 78, 79, 80)]

dataset_type = 'SurgicalPhaseDataset'
_dataset = dict(type=dataset_type, data_root=data_root, manifest=manifest, label_dir=label_dir,
                classes=classes, label_fps=25, clip_len={{_base_.clip_len}},
                frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='matlab',
                     transition_rule='cholec80', fps=1)
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
