# Paper Fig. 5: SurgVISTA pre-trained on the data-scaling settings A-E (docs/data_scaling.md:
# configs/pretrain/surgvista_vitb_setting_{a..e}.py), each fine-tuned on the 13 downstream
# datasets; phase-level Jaccard and image-level accuracy (phase), AP_IVT (triplet), accuracy and
# mAP (action, CVS) against the pre-training frames, with 95 % CIs over videos; P-values of
# setting E (the full data) being better. Pre-train each setting first, e.g.
#   tools/dist_train.sh configs/pretrain/surgvista_vitb_setting_a.py 8
# (its work dir's last_checkpoint is read), then
#   python tools/run_suite.py configs/suites/fig5_scaling.py --work-dir work_dirs/fig5
title = 'Fig. 5: pre-training data scale (settings A-E)'
seeds = [0]
reference = 'setting_e'
figure = 'scaling'
metrics = dict(phase=['image_accuracy', 'jaccard'], triplet=['AP_IVT'],
               cvs_single_label=['top1', 'mAP'], action=['top1', 'mAP'])
_ft = 'configs/finetune/surgvista_vitb_{}.py'
datasets = dict(
    cholec80=dict(config=_ft.format('cholec80_phase')),
    m2cai16=dict(config=_ft.format('m2cai16_phase')),
    pmlr50=dict(config=_ft.format('pmlr50_phase')),
    autolaparo=dict(config=_ft.format('autolaparo_phase')),
    esd57=dict(config=_ft.format('esd57_phase')),
    cataracts=dict(config=_ft.format('cataracts_phase')),
    cataract101=dict(config=_ft.format('cataract101_phase')),
    cataract21=dict(config=_ft.format('cataract21_phase')),
    cholect50=dict(config=_ft.format('cholect50_triplet')),
    prostate21=dict(config=_ft.format('prostate21_triplet')),
    cholec80_cvs=dict(config=_ft.format('cholec80_cvs')),
    endoscapes_cvs4=dict(config=_ft.format('endoscapes_cvs4')),
    surgicalactions160=dict(config=_ft.format('surgicalactions160')),
)
# scale: 1-fps pre-training frames of each setting (docs/data_scaling.md; E approximate)
_ckpt = 'work_dirs/surgvista_vitb_setting_{}/last_checkpoint'
models = dict(
    setting_a=dict(checkpoint=_ckpt.format('a'), scale=86344, label='A (86 k)'),
    setting_b=dict(checkpoint=_ckpt.format('b'), scale=209061, label='B (209 k)'),
    setting_c=dict(checkpoint=_ckpt.format('c'), scale=441608, label='C (442 k)'),
    setting_d=dict(checkpoint=_ckpt.format('d'), scale=1203159, label='D (1.20 M)'),
    setting_e=dict(checkpoint=_ckpt.format('e'), scale=3550000, label='E (3.55 M)'),
)
