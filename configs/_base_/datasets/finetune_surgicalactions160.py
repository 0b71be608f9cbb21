# SurgicalActions160 (dataset-formats.md section 7): 16 actions x 10 mp4 clips under
# data/SurgicalActions160/CC_name/CC_MM.mp4; one sample per clip, 16 frames sampled uniformly
# over the whole clip. No official split: surgical_actions160_split(seed 0) gives a
# class-stratified 112 / 48 (7 / 3 per class). No validation split (the last epoch is kept);
# set val_per_class=1 on the train and val datasets to carve 16 validation clips from training.
_base_ = ['./finetune_common.py']

data_root = 'data/SurgicalActions160'
clip_len = 16

_dataset = dict(type='SurgicalActions160Dataset', data_root=data_root, split_seed=0,
                clip_len=clip_len, seed=0)

train_dataloader = dict(dataset=dict(_dataset, split='train'))
val_dataloader = None
val_evaluator = None
test_dataloader = dict(dataset=dict(_dataset, split='test'))
test_evaluator = dict(type='SurgicalActionMetric', num_classes=16)
