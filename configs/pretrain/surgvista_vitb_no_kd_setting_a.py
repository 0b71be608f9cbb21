# Ablation of paper Fig. 6: SurgVISTA without knowledge distillation (plain video MAE, as
# surgvista_vitb_no_kd.py) pre-trained on data-scaling Setting A (surgvista_vitb_setting_a.py).
_base_ = ['./surgvista_vitb_setting_a.py']
model = dict(distill_decoder=None, distill_head=None, teacher=None)
