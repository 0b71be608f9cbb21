# Natural-domain baseline of paper Fig. 2 (Cholec80 panel): MVD (masked video distillation)
# pre-trained on Kinetics-400, a ViT-B/16 video encoder (16 frames, 3-D cube embedding 2 x 16 x
# 16, VideoMAE's fixed 1-D sin-cos positions), fine-tuned with SurgVISTA's recipe under the
# paper's Cholec80 protocol (surgvista_vitb_cholec80_phase_paper.py: train 1-40, last epoch tested
# on the 35 test videos). Only the encoder's initialisation differs from the SurgVISTA row.
# Convert the public checkpoint (the MVD ViT-B K400 pre-training checkpoint) first:
#   python tools/convert_checkpoint.py downloads/mvd_k400_vitb_published.pth \
#       checkpoints/natural/mvd_k400_vitb.pth --kind mvd
_base_ = ['./surgvista_vitb_cholec80_phase_paper.py']

pretrained = 'checkpoints/natural/mvd_k400_vitb.pth'
model = dict(backbone=dict(
    pos_embed_type='sincos1d_videomae',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
