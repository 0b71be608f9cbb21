# Paper Fig. 4: surgical-domain pre-trained models vs SurgVISTA on 6 phase-recognition datasets
# (in-domain: Cholec80, M2CAI16-Workflow, AutoLaparo; out-of-domain: CATARACTS, Cataract-101,
# Cataract-21), all five phase metrics. SurgVISTA (the reference) is fine-tuned end to end with
# the dataset's config, as in the paper; the surgical baselines run the two-stage paradigm: a
# frame model, its feature bank (tools/twostage/extract_bank.py), a causal MS-TCN on the bank:
#   configs/twostage/{model}_{dataset}_frame.py and ..._tcn.py
# (their frame configs name their own converted checkpoints). surgvista_vitb_tcn, beyond the
# paper, puts the same TCN on SurgVISTA's fine-tuned clip features (clip_stage=True).
#   python tools/run_suite.py configs/suites/fig4_surgical.py --work-dir work_dirs/fig4
title = ('Fig. 4: surgical-domain pre-training (two-stage) vs SurgVISTA (end to end), '
         'phase recognition')
seeds = [0, 1, 2]
reference = 'surgvista_vitb'
figure = 'bars'
metrics = dict(phase=['image_accuracy', 'accuracy', 'precision', 'recall', 'jaccard'])
datasets = dict(
    cholec80=dict(config='configs/finetune/surgvista_vitb_cholec80_phase.py'),
    m2cai16=dict(config='configs/finetune/surgvista_vitb_m2cai16_phase.py'),
    autolaparo=dict(config='configs/finetune/surgvista_vitb_autolaparo_phase.py'),
    cataracts=dict(config='configs/finetune/surgvista_vitb_cataracts_phase.py'),
    cataract101=dict(config='configs/finetune/surgvista_vitb_cataract101_phase.py'),
    cataract21=dict(config='configs/finetune/surgvista_vitb_cataract21_phase.py'),
)
models = dict(
    # the paper's SurgVISTA bar: fine-tuned end to end with the dataset's config (the reference)
    surgvista_vitb=dict(checkpoint='checkpoints/surgvista_vitb_pretrain.pth', label='SurgVISTA'),
    # beyond the paper: the same TCN on SurgVISTA's fine-tuned clip features
    surgvista_vitb_tcn=dict(two_stage='surgvista_vitb', clip_stage=True,
                            checkpoint='checkpoints/surgvista_vitb_pretrain.pth',
                            label='SurgVISTA + MS-TCN'),
    selfsupsurg_r50=dict(two_stage='selfsupsurg_r50', label='SelfSupSurg (R50)'),
    endovit_vitb=dict(two_stage='endovit_vitb', label='EndoViT (ViT-B)'),
    endossl_vitl=dict(two_stage='endossl_vitl', label='EndoSSL (ViT-L)'),
    gsvit_m5=dict(two_stage='gsvit_m5', label='GSViT'),
    imagenet_vitb=dict(two_stage='imagenet_vitb', label='ImageNet ViT-B'),
)
