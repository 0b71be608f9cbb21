# Stage-1 data for cataracts: the phase dataset of ../datasets/finetune_cataracts_phase.py
# (same videos, splits, labels and evaluators) at clip length 1 (one 1-fps frame per
# sample), with the frame pipelines of frame_pipelines.py.
_base_ = ['../datasets/finetune_cataracts_phase.py', './frame_pipelines.py']

num_classes = 19
_frame = dict(clip_len=1, frame_interval=1)
train_dataloader = dict(batch_size=64,
                        dataset=dict(_frame, pipeline={{_base_.frame_train_pipeline}}))
val_dataloader = dict(batch_size=64,
                      dataset=dict(_frame, pipeline={{_base_.frame_test_pipeline}}))
test_dataloader = dict(batch_size=64,
                       dataset=dict(_frame, pipeline={{_base_.frame_test_pipeline}}))
