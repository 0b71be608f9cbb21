# Ablation of paper Fig. 6: SurgVISTA without knowledge distillation (plain video MAE, as
# surgvista_vitb_no_kd.py) pre-trained on data-scaling Setting D (surgvista_vitb_setting_d.py).
_base_ = ['./surgvista_vitb_setting_d.py']
model = dict(distill_decoder=None, distill_head=None, teacher=None)
