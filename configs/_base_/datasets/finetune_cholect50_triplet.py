# CholecT50 action-triplet recognition (100 triplets, multi-label), online causal protocol (the
# 16 frames [t-60, ..., t], multi-hot label of frame t). Official release layout under
# data/CholecT50 (videos/VIDNN/NNNNNN.png, labels/VIDNN.json); the `cholect50-challenge` split:
# train 40 videos, val 5, 18, 36, 65, 74 (model selection), test 92, 96, 103, 110, 111.
# Metric: video-wise mAP (the benchmark's number; null triplets 94-99 ignored for AP_IVT) and
# global mAP, for I, V, T, IV, IT, IVT.
_base_ = ['./finetune_pipelines.py']

data_root = 'data/CholecT50'
clip_len = 16
frame_interval = 4

_dataset = dict(type='CholecT50TripletDataset', data_root=data_root, filename_tmpl='{:06d}.png',
                clip_len=clip_len, frame_interval=frame_interval, seed=0)

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(_dataset, split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, split='val', pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_dataset, split='test', pipeline={{_base_.test_pipeline}}, test_mode=True))

val_evaluator = dict(type='SurgicalTripletMetric', ignore_null=True)
test_evaluator = dict(type='SurgicalTripletMetric', ignore_null=True)
