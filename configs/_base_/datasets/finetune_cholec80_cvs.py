# Cholec80-CVS (dataset-formats.md section 8), the paper's 6-class clip task: one clip of 16
# uniformly sampled 1-fps frames per annotated segment, label = summed criteria (0-5; 6 dropped).
# Annotations: the figshare sheet exported as data/cholec80_cvs/surgeons_annotations.csv (or the
# .xlsx with openpyxl); videos: the Cholec80 manifest (tools/build_manifest.py, as for the phase
# task). Videos 1-40 train, 41-80 test without 73, 77, 78, 79, 80 (as for Cholec80 phase: those
# may overlap M2CAI16-Workflow training videos, which are in the pre-training data); there is no
# validation split in the paper: the last epoch is kept (val = None; to select on held-out videos
# pass `videos=[...]` carved from 1-40 for train and val instead of split='train').
_base_ = ['./finetune_common.py']

data_root = 'data'
clip_len = 16

_dataset = dict(type='Cholec80CVSDataset', data_root=data_root,
                ann_file='cholec80_cvs/surgeons_annotations.csv',
                manifest='cholec80/manifests/cholec80.json', clip_len=clip_len, seed=0)

train_dataloader = dict(dataset=dict(_dataset, split='train'))
val_dataloader = None
val_evaluator = None
test_videos = [i for i in range(41, 81) if i not in (73, 77, 78, 79, 80)]
test_dataloader = dict(dataset=dict(_dataset, videos=test_videos))
test_evaluator = dict(type='SurgicalCVSMetric', task='single_label', num_classes=6)
