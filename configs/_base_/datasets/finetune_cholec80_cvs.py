# Cholec80-CVS (dataset-formats.md section 8), the paper's 6-class clip task: one clip of 16
# uniformly sampled 1-fps frames per annotated segment, label = summed criteria (0-5; 6 dropped).
# Annotations: the figshare sheet exported as data/cholec80_cvs/surgeons_annotations.csv (or the
# .xlsx with openpyxl); videos: the Cholec80 manifest. Videos 1-40 train, 41-80 test; there is no
# validation split in the paper: the last epoch is kept (val = None; to select on held-out videos
# pass `videos=[...]` carved from 1-40 for train and val instead of split='train').
_base_ = ['./finetune_common.py']

data_root = 'data'
clip_len = 16

_dataset = dict(type='Cholec80CVSDataset', data_root=data_root,
                ann_file='cholec80_cvs/surgeons_annotations.csv',
                manifest='cholec80/manifest_frames.json', clip_len=clip_len, seed=0)

train_dataloader = dict(dataset=dict(_dataset, split='train'))
val_dataloader = None
val_evaluator = None
test_dataloader = dict(dataset=dict(_dataset, split='test'))
test_evaluator = dict(type='SurgicalCVSMetric', task='single_label', num_classes=6)
