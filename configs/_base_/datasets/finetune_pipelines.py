# Fine-tuning pipelines (spec section 7). Train: video-consistent RandAugment rand-m7-n4-mstd0.5
# (bicubic) -> random-resized crop scale (0.7, 1.0), ratio (3/4, 4/3) to 224 -> horizontal flip
# 0.5 -> random erasing p 0.25 (one box for all frames, on uint8 frames) -> pack as
# [1, 3, T, H, W]. Every random draw comes from the sample's own generator (seed, epoch, index).
# Mixup / cutmix are batch-level: see the model's data_preprocessor. Test: frames squashed to
# 224 x 224 (bilinear), no crop, one view. 'mmaction.Resize' is scoped on purpose: a bare 'Resize'
# can resolve to mmcv's image transform, which ignores the `imgs` list and silently does nothing.
crop_size = 224

train_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='VideoRandAugment', config_str='rand-m7-n4-mstd0.5', interpolation='bicubic'),
    dict(type='VideoRandomResizedCrop', size=crop_size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3)),
    dict(type='VideoFlip', flip_ratio=0.5),
    dict(type='VideoRandomErasing', p=0.25, mode='pixel'),
    dict(type='PackSurgVistaClipInputs'),
]
test_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='mmaction.Resize', scale=(crop_size, crop_size), keep_ratio=False,
         interpolation='bilinear'),
    dict(type='PackSurgVistaClipInputs'),
]
