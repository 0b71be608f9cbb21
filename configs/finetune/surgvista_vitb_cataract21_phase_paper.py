# Cataract-21 phase recognition under the paper's protocol (the Cataract-21 panel of paper Fig.
# 2): 18 training and 3 test videos. The paper does not list them; we take case_01-18 for training
# and case_19-21 for testing (uncertain: docs/finetune.md). No validation split, the LAST epoch is
# tested.
_base_ = ['./surgvista_vitb_cataract21_phase.py']

paper_train_videos = [f'case_{i:02d}' for i in range(1, 19)]
paper_test_videos = [f'case_{i:02d}' for i in range(19, 22)]
train_dataloader = dict(dataset=dict(include=paper_train_videos))
test_dataloader = dict(dataset=dict(include=paper_test_videos))
val_dataloader = None
val_evaluator = None
val_cfg = None
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True,
                                     save_best=None, rule=None))
