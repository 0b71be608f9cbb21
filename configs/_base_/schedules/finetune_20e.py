# SurgVISTA fine-tuning schedule for triplet recognition (spec section 7): the phase-recognition
# schedule of finetune_50e.py (AdamW, layer-wise LR decay 0.75, LR 5e-4 x total batch / 64,
# per-iteration cosine after a 5-epoch linear warm-up) over 20 epochs instead of 50.
_base_ = ['./finetune_50e.py']

max_epochs = 20

# the base's cosine is built for its own max_epochs: re-derive its length and end
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=max_epochs - _base_.warmup_epochs, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
