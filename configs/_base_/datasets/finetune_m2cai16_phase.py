# M2CAI16-Workflow phase recognition (8 phases), online causal protocol (16 frames, stride 4,
# ending at t). Layout: data/m2cai16/manifests/m2cai16_workflow.json with the 41 videos as 1-fps
# frame folders (ids workflow_video_01..27 from train_dataset/, test_workflow_video_01..14 from
# test_dataset/) and data/m2cai16/phase_annotations/ holding the official `<video id>.txt` files of
# both folders (25-fps rows of phase names, header line).
# Split: the official 27 training videos minus the last 4 (24-27), which are the validation set
# for model selection; the official 14 test videos. Metric: the M2CAI16 challenge script's
# relaxed protocol ('m2cai16-matlab') plus the unrelaxed metrics.
_base_ = ['./finetune_common.py']

data_root = 'data/m2cai16'
manifest = 'manifests/m2cai16_workflow.json'
label_dir = 'phase_annotations'
classes = ('TrocarPlacement', 'Preparation', 'CalotTriangleDissection', 'ClippingCutting',
           'GallbladderDissection', 'GallbladderPackaging', 'CleaningCoagulation',
           'GallbladderRetraction')
train_videos = [f'workflow_video_{i:02d}' for i in range(1, 24)]
val_videos = [f'workflow_video_{i:02d}' for i in range(24, 28)]
test_videos = [f'test_workflow_video_{i:02d}' for i in range(1, 15)]

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir=label_dir, classes=classes, label_file_tmpl='{video_id}.txt',
                label_fps=25, clip_len={{_base_.clip_len}},
                frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include=train_videos))
val_dataloader = dict(dataset=dict(_dataset, include=val_videos))
test_dataloader = dict(dataset=dict(_dataset, include=test_videos))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=8, relaxation='matlab',
                     transition_rule='m2cai16', fps=1)
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
