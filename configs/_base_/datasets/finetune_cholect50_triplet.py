# CholecT50 action-triplet recognition (100 triplets, multi-label), online causal protocol (the
# 16 frames [t-60, ..., t], multi-hot label of frame t). Official release layout under
# data/CholecT50 (videos/VIDNN/NNNNNN.png, labels/VIDNN.json); the `cholect50-challenge` split:
# train 40 videos, val 5, 18, 36, 65, 74 (model selection), test 92, 96, 103, 110, 111.
# Metric: video-wise mAP (the benchmark's number; null triplets 94-99 ignored for AP_IVT) and
# global mAP, for I, V, T, IV, IT, IVT.
_base_ = ['./finetune_common.py']

data_root = 'data/CholecT50'

_dataset = dict(type='CholecT50TripletDataset', data_root=data_root, filename_tmpl='{:06d}.png',
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, split='train'))
val_dataloader = dict(dataset=dict(_dataset, split='val'))
test_dataloader = dict(dataset=dict(_dataset, split='test'))

val_evaluator = dict(type='SurgicalTripletMetric', ignore_null=True)
test_evaluator = val_evaluator
