# Stage-1 data for cataract21: the phase dataset of ../datasets/finetune_cataract21_phase.py
# (same videos, splits, labels and evaluators) at clip length 1 (one 1-fps frame per
# sample), with the frame pipelines of frame_pipelines.py.
_base_ = ['../datasets/finetune_cataract21_phase.py', './frame_pipelines.py']

num_classes = 11
train_dataloader = dict(batch_size=64, dataset={{_base_.frame_train_dataset}})
val_dataloader = dict(batch_size=64, dataset={{_base_.frame_test_dataset}})
test_dataloader = dict(batch_size=64, dataset={{_base_.frame_test_dataset}})
