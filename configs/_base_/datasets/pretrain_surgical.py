# SurgVISTA pre-training data (spec section 5): every 1-fps frame of every selected video is a
# sample whose clip is the 16 frames ending at it with stride 4. Only the *training* videos of
# datasets that also serve as benchmarks enter pre-training (explicit include lists); the other
# sources contribute all their videos. One manifest per source (see docs/data.md; build them with
# tools/build_manifest.py). Video ids below are those build_manifest.py gives the official layouts.
data_root = 'data/pretrain'
clip_len = 16
frame_interval = 4
input_size = 224
mask_ratio = 0.85


pretrain_sources = [
    dict(name='cholec80', manifest='manifests/cholec80.json',
         include=[f'video{i:02d}' for i in range(1, 41)]),                 # 41-80 are benchmark test videos
    dict(name='m2cai16', manifest='manifests/m2cai16_workflow.json',
         include=[f'workflow_video_{i:02d}' for i in range(1, 28)]),       # official train folder
    dict(name='autolaparo', manifest='manifests/autolaparo.json',
         include=[f'{i:02d}' for i in range(1, 11)]),                      # 11-14 val, 15-21 test
    dict(name='heichole', manifest='manifests/heichole_train.json'),
    dict(name='pitvis', manifest='manifests/pitvis.json'),
    dict(name='psi_ava', manifest='manifests/psi_ava.json'),
    dict(name='bernbypass70', manifest='manifests/bernbypass70.json'),
    dict(name='strasbypass70', manifest='manifests/strasbypass70.json'),
    dict(name='web', manifest='manifests/web_corpus.json', min_frames=60),
]

train_pipeline = [
    # = SurgicalFrameLoader + TSNMultiScaleCrop, decoding only the crop window (same pixels)
    # decoder='device': JPEG bytes leave the workers, the data preprocessor decodes them on the
    # rank's GPU (nvJPEG): --cfg-options train_dataloader.dataset.pipeline.0.decoder=device
    dict(type='SurgicalFrameCropLoader', input_size=input_size,
         scales=(1.0, 0.875, 0.75, 0.66), max_wh_scale_gap=1, num_fixed_crops=13,
         decoder='auto'),
    dict(type='TubeMasking', input_size=(clip_len, input_size, input_size),
         patch_size=16, tubelet_size=2, mask_ratio=mask_ratio),  # = the model's,
    dict(type='PackSurgVistaInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(
        type='SurgicalPretrainDataset',
        data_root=data_root,
        sources=pretrain_sources,
        clip_len=clip_len,
        frame_interval=frame_interval,
        pipeline=train_pipeline,
        seed=0))
