# SurgVISTA fine-tuning schedule of the clip tasks (spec section 7, "clip" row: Cholec80-CVS,
# SurgicalActions160): finetune_50e.py over 500 epochs with 50 warm-up; LR 5e-4 x batch / 64
# (task configs change base_lr and re-derive the optimizer LR and the cosine floor).
_base_ = ['./finetune_50e.py']

max_epochs = 500
warmup_epochs = 50

param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(_base_.param_scheduler[1], T_max=max_epochs - warmup_epochs, begin=warmup_epochs,
         end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
