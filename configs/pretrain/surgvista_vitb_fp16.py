# As surgvista_vitb.py, with fp16 autocast and dynamic loss scaling (the published setting).
# Prefer bf16 (the default) on GPUs that support it: no loss scale to tune, no overflow skips.
_base_ = ['./surgvista_vitb.py']
optim_wrapper = dict(dtype='float16', loss_scale='dynamic')
model = dict(teacher=dict(autocast_dtype='float16'))
