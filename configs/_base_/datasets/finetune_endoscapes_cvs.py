# Endoscapes2023 CVS (dataset-formats.md section 9), official layout under data/endoscapes:
# one sample per CVS keyframe (every 5 s), clip = 8 frames 4 s apart ending at it (clamped at the
# video start), official split 120 / 41 / 40 videos ({split}_vids.txt): val for model selection,
# test for the number. Official multi-label task: gt_score = annotator means, gt_label = rounded
# consensus; metric = per-criterion AP / mAP (SurgicalCVSMetric). The packer keeps gt_score.
_base_ = ['./finetune_common.py']

data_root = 'data/endoscapes'
clip_len = 8
frame_interval = 4
cvs_task = 'multilabel'

train_pipeline = _base_.train_pipeline[:-1] + [dict(type='PackSurgVistaCVSInputs')]
test_pipeline = _base_.test_pipeline[:-1] + [dict(type='PackSurgVistaCVSInputs')]

_dataset = dict(type='EndoscapesCVSDataset', data_root=data_root, task=cvs_task,
                ann_source='coco', clip_len=clip_len, frame_interval=frame_interval, seed=0)

train_dataloader = dict(batch_size=16,
                        dataset=dict(_dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(_dataset, split='val', pipeline=test_pipeline))
test_dataloader = dict(batch_size=16,
                       dataset=dict(_dataset, split='test', pipeline=test_pipeline))

val_evaluator = dict(type='SurgicalCVSMetric', task='multilabel', per_video=True)
test_evaluator = val_evaluator
