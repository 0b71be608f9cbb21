# Plain video MAE (the paper's ablation without the image expert): the distillation decoder,
# head and teacher are switched off; only the pixel reconstruction loss remains.
_base_ = ['./surgvista_vitb.py']
model = dict(distill_decoder=None, distill_head=None, teacher=None)
