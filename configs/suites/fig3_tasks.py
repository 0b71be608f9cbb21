# Paper Fig. 3: natural-domain pre-trained models vs SurgVISTA beyond phase recognition: action
# recognition (SurgicalActions160: accuracy, mAP), triplet recognition (CholecT50, Prostate21:
# video-wise AP_IVT, and the instrument-verb / instrument-target 2-tuple APs) and CVS assessment
# (Cholec80-CVS as 6 classes, Endoscapes-CVS as 4 classes: accuracy, mAP); 95 % CIs over videos,
# P-values of SurgVISTA being better.
#   python tools/run_suite.py configs/suites/fig3_tasks.py --work-dir work_dirs/fig3
_base_ = ['./_natural_models.py']

title = 'Fig. 3: natural-domain pre-training vs SurgVISTA, action / triplet / CVS'
seeds = [0, 1, 2]
reference = 'surgvista_vitb'
figure = 'bars'
metrics = dict(triplet=['AP_IVT', 'AP_IV', 'AP_IT'], cvs_single_label=['top1', 'mAP'],
               action=['top1', 'mAP'])
datasets = dict(
    surgicalactions160=dict(config='configs/finetune/surgvista_vitb_surgicalactions160.py'),
    cholect50=dict(config='configs/finetune/surgvista_vitb_cholect50_triplet.py'),
    prostate21=dict(config='configs/finetune/surgvista_vitb_prostate21_triplet.py'),
    cholec80_cvs=dict(config='configs/finetune/surgvista_vitb_cholec80_cvs.py'),
    endoscapes_cvs4=dict(config='configs/finetune/surgvista_vitb_endoscapes_cvs4.py'),
)
