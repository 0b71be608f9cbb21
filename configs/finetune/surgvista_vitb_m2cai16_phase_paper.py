# M2CAI16-Workflow phase recognition under the paper's protocol (the M2CAI16 panels of paper Figs.
# 2, 4, 5): the recipe of surgvista_vitb_m2cai16_phase.py trained on all 27 official training
# videos, no validation split, the LAST epoch tested on the 14 official test videos (never
# test-selected).
_base_ = ['./surgvista_vitb_m2cai16_phase.py']

paper_train_videos = [f'workflow_video_{i:02d}' for i in range(1, 28)]
train_dataloader = dict(dataset=dict(include=paper_train_videos))
val_dataloader = None
val_evaluator = None
val_cfg = None
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True,
                                     save_best=None, rule=None))
