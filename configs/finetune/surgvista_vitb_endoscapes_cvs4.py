# The paper's Endoscapes variant: 4 classes = number of criteria met after rounding (0-3),
# softmax + the single-label recipe (mixup / cutmix, label smoothing 0.1); top-1 and mAP.
_base_ = ['./surgvista_vitb_endoscapes_cvs.py']

num_classes = 4
_dataset_task = dict(task='single_label4')

model = dict(
    cls_head=dict(num_classes=num_classes, multi_label=False, label_smooth_eps=0.1),
    data_preprocessor=dict(blending=dict(
        _delete_=True,
        type='RandomBatchAugment',
        augments=[dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                  dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes)],
        probs=[0.5, 0.5])))
train_dataloader = dict(dataset=_dataset_task)
val_dataloader = dict(dataset=_dataset_task)
test_dataloader = dict(dataset=_dataset_task)
val_evaluator = dict(_delete_=True, type='SurgicalCVSMetric', task='single_label',
                     num_classes=num_classes)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='cvs/mAP'))
