# What the fine-tuning dataset bases share (spec section 7): the online causal clip (16 frames,
# stride 4, ending at the labelled frame), the pipelines, and the train / val / test dataloaders.
# Each dataset base defines its own `_dataset` dict (type, layout, clip_len, frame_interval, seed)
# and fills in the loaders' `dataset` with it plus the videos of the split; the pipelines and
# test_mode come from here (child dicts merge into these).
_base_ = ['./finetune_pipelines.py']

clip_len = 16
frame_interval = 4

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='SurgVistaEpochSampler', shuffle=True),
    dataset=dict(pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline={{_base_.test_pipeline}}, test_mode=True))
test_dataloader = val_dataloader
