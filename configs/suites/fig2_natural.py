# Paper Fig. 2: natural-domain pre-trained models vs SurgVISTA on 8 phase-recognition datasets
# (a-d in-domain: Cholec80, M2CAI16-Workflow, PmLR50, AutoLaparo; e-h out-of-domain: ESD57,
# CATARACTS, Cataract-101, Cataract-21). Image-level accuracy, video-level accuracy and
# phase-level Jaccard, 95 % CIs over videos, P-values of SurgVISTA being better.
# Cholec80, M2CAI16 and Cataract-21 follow the paper's protocol (*_paper.py: last epoch tested);
# the others the clean one (checkpoint selected on validation); tables never mix the two.
#   python tools/run_suite.py configs/suites/fig2_natural.py --work-dir work_dirs/fig2 \
#       --launcher slurm --partition PART
_base_ = ['./_natural_models.py']

title = 'Fig. 2: natural-domain pre-training vs SurgVISTA, phase recognition'
seeds = [0, 1, 2]
reference = 'surgvista_vitb'
figure = 'bars'
metrics = dict(phase=['image_accuracy', 'accuracy', 'jaccard'])
datasets = dict(
    cholec80=dict(config='configs/finetune/surgvista_vitb_cholec80_phase_paper.py'),
    m2cai16=dict(config='configs/finetune/surgvista_vitb_m2cai16_phase_paper.py'),
    pmlr50=dict(config='configs/finetune/surgvista_vitb_pmlr50_phase.py'),
    autolaparo=dict(config='configs/finetune/surgvista_vitb_autolaparo_phase.py'),
    esd57=dict(config='configs/finetune/surgvista_vitb_esd57_phase.py'),
    cataracts=dict(config='configs/finetune/surgvista_vitb_cataracts_phase.py'),
    cataract101=dict(config='configs/finetune/surgvista_vitb_cataract101_phase.py'),
    cataract21=dict(config='configs/finetune/surgvista_vitb_cataract21_phase_paper.py'),
)
# the Cholec80 panel's baseline configs (the same settings as the entries' cfg_options)
_b = 'configs/finetune/baseline_{}_vitb_cholec80_phase_paper.py'
models = dict(
    imagenet_sup=dict(configs=dict(cholec80=_b.format('imagenet_sup'))),
    mae=dict(configs=dict(cholec80=_b.format('mae'))),
    dino=dict(configs=dict(cholec80=_b.format('dino'))),
    videomae_k400=dict(configs=dict(cholec80=_b.format('videomae_k400'))),
    videomae_ssv2=dict(configs=dict(cholec80=_b.format('videomae_ssv2'))),
    videomae_hybrid=dict(configs=dict(cholec80=_b.format('videomae_hybrid'))),
    mvd_k400=dict(configs=dict(cholec80=_b.format('mvd_k400'))),
    umt_k710=dict(configs=dict(cholec80=_b.format('umt_k710'))),
)
