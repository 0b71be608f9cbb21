# ESD57 phase recognition (private; 8 phases of endoscopic submucosal dissection, names from the
# SurgVISTA paper), online causal protocol (16 frames, stride 4, ending at t). Data in the generic
# phase format (docs/data.md, "Generic formats"), made by
#   python tools/data/prepare.py generic_phase --root /path/to/esd57 --out data/esd57
# data/esd57/manifests/esd57.json (1-fps frame folders or videos), data/esd57/labels/<id>.csv
# ("frame,phase", one row per 1-fps frame, 0-based, phase names or ids 0..7) and
# data/esd57/splits/{train,val,test}.txt (the paper: 39 / 6 / 12 videos; val for model selection).
# Metric: unrelaxed pooled metrics (metrics-spec §1).
_base_ = ['./finetune_common.py']

data_root = 'data/esd57'
manifest = 'manifests/esd57.json'
classes = ('Lesion Detection', 'Lesion Marking', 'Submucosal Injection', 'Mucosal Incision',
           'Submucosal Dissection', 'Wound Management', 'Wound Suturing', 'Others')

_dataset = dict(type='SurgicalPhaseDataset', data_root=data_root, manifest=manifest,
                label_dir='labels', classes=classes, label_file_tmpl='{video_id}.csv',
                label_fps=1, label_first_frame=0, label_int_base=0, label_header=True,
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include='splits/train.txt'))
val_dataloader = dict(dataset=dict(_dataset, include='splits/val.txt'))
test_dataloader = dict(dataset=dict(_dataset, include='splits/test.txt'))

val_evaluator = dict(type='SurgicalPhaseMetric', num_classes=8, relaxation='none')
test_evaluator = dict(val_evaluator, bootstrap=1000, seed=0)
