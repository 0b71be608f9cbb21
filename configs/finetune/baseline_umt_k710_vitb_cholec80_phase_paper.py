# Natural-domain baseline of paper Fig. 2 (Cholec80 panel): UMT stage 1 (unmasked teacher, single
# modality) on Kinetics-710, a ViT-B/16 video encoder (16 frames, 3-D cube embedding 2 x 16 x 16,
# VideoMAE's fixed 1-D sin-cos positions), fine-tuned with SurgVISTA's recipe under the paper's
# Cholec80 protocol (surgvista_vitb_cholec80_phase_paper.py: train 1-40, last epoch tested on the
# 35 test videos). Only the encoder's initialisation differs from the SurgVISTA row. Convert the
# public checkpoint (the UMT ViT-B stage-1 K710 checkpoint) first:
#   python tools/convert_checkpoint.py downloads/umt_k710_vitb_published.pth \
#       checkpoints/natural/umt_k710_vitb.pth --kind umt
# UMT pre-trains with tubelet 1 on 8 frames; the converter inflates its kernel to tubelet 2 so
# that 16 frames give UMT's own 8 x 14 x 14 token grid and position table (an approximation; see
# docs/finetune.md). It reports the inflation.
_base_ = ['./surgvista_vitb_cholec80_phase_paper.py']

pretrained = 'checkpoints/natural/umt_k710_vitb.pth'
model = dict(backbone=dict(
    pos_embed_type='sincos1d_videomae',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
