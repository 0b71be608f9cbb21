# Natural-domain baseline of paper Fig. 2 (Cholec80 panel): supervised ImageNet-1K pre-training, a
# timm ViT-B/16 image model used on video as the paper does: 8 frames (stride 4), its 2-D patch
# embedding applied to every frame (tubelet 1, exact), its learned spatial positions shared by all
# frames plus a learned temporal table that starts at zero; the class token is not used (the head
# mean-pools the tokens). Joint space-time attention over the 8 x 196 tokens; SurgVISTA's
# fine-tuning recipe under the paper's Cholec80 protocol (surgvista_vitb_cholec80_phase_paper.py).
# Convert the supervised ViT-B/16 ImageNet-1K weights (timm layout) first:
#   python tools/convert_checkpoint.py downloads/imagenet_sup_vitb_published.pth \
#       checkpoints/natural/imagenet_sup_vitb.pth --kind timm-vit
_base_ = ['./surgvista_vitb_cholec80_phase_paper.py']

num_frames = 8
pretrained = 'checkpoints/natural/imagenet_sup_vitb.pth'
model = dict(backbone=dict(
    num_frames=num_frames, tubelet_size=1, pos_embed_type='learned_space_time',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_dataloader = dict(dataset=dict(clip_len=num_frames))
test_dataloader = dict(dataset=dict(clip_len=num_frames))
