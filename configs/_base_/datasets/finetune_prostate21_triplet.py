# Prostate21 triplet recognition (private; radical prostatectomy, 89 triplets of 7 instruments,
# 10 verbs and 10 targets), online causal protocol (16 frames [t-60, ..., t], multi-hot label of
# frame t). Data in the generic triplet format (docs/data.md, "Generic formats"), made by
#   python tools/data/prepare.py generic_triplet --root /path/to/prostate21 --out data/prostate21
# data/prostate21/manifests/prostate21.json, labels/<id>.csv ("frame,triplets"),
# maps.txt (IVT,I,V,T,IV,IT, one row per triplet), null_classes.txt (the null triplets dropped
# from AP_IVT), splits/{train,val,test}.txt (the paper: 14 / 3 / 4 videos) and
# splits/train_only.txt: the PSI-AVA videos, which the paper puts in training only (PSI-AVA is
# pre-training data). They are the `exclude` list of val and test, so a split that puts one of
# them there fails to build (an id both included and excluded is an error).
_base_ = ['./finetune_common.py']

data_root = 'data/prostate21'
num_triplets = 89

_dataset = dict(type='SurgicalTripletDataset', data_root=data_root,
                manifest='manifests/prostate21.json', label_dir='labels',
                num_classes=num_triplets, label_format='generic',
                clip_len={{_base_.clip_len}}, frame_interval={{_base_.frame_interval}}, seed=0)

train_dataloader = dict(dataset=dict(_dataset, include='splits/train.txt'))
val_dataloader = dict(dataset=dict(_dataset, include='splits/val.txt',
                                   exclude='splits/train_only.txt'))
test_dataloader = dict(dataset=dict(_dataset, include='splits/test.txt',
                                    exclude='splits/train_only.txt'))

val_evaluator = dict(type='SurgicalTripletMetric', maps=data_root + '/maps.txt',
                     null_classes=data_root + '/null_classes.txt', num_classes=num_triplets,
                     ignore_null=True)
test_evaluator = val_evaluator
