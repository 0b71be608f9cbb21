# Stage-1 (frame-level) pipelines: one 1-fps frame per sample, packed as a one-frame clip
# [1, 3, 1, H, W]. Train: random-resized crop (scale 0.7-1.0, ratio 3/4-4/3) and horizontal flip;
# test: squashed to img_size x img_size (bilinear), one view. frame_{train,test}_dataset: what a
# dataset base changes in the phase datasets of the end-to-end configs (clip length 1).
img_size = 224
frame_train_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='VideoRandomResizedCrop', size=img_size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3)),
    dict(type='VideoFlip', flip_ratio=0.5),
    dict(type='PackSurgVistaClipInputs'),
]
frame_test_pipeline = [
    dict(type='SurgicalFrameLoader'),
    dict(type='mmaction.Resize', scale=(img_size, img_size), keep_ratio=False,
         interpolation='bilinear'),
    dict(type='PackSurgVistaClipInputs'),
]

frame_train_dataset = dict(clip_len=1, frame_interval=1, pipeline=frame_train_pipeline)
frame_test_dataset = dict(clip_len=1, frame_interval=1, pipeline=frame_test_pipeline)
