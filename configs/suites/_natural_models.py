# The natural-domain baselines of paper Figs. 2 and 3 (configs/finetune/baseline_*.py carry the
# same backbone settings for the Cholec80 panel) and SurgVISTA, as suite model entries. Image
# models (DINO, MAE, ImageNet-supervised; timm ViT-B/16): 8 frames, per-frame patch embedding,
# learned spatial + temporal positions; video models: the VideoMAE 1-D sin-cos positions.
# Convert the published weights first (tools/convert_checkpoint.py, see docs/reuse.md).
_image = {'model.backbone.num_frames': 8, 'model.backbone.tubelet_size': 1,
          'model.backbone.pos_embed_type': 'learned_space_time',
          '*_dataloader.dataset.clip_len': 8}
_video = {'model.backbone.pos_embed_type': 'sincos1d_videomae'}
models = dict(
    surgvista_vitb=dict(checkpoint='checkpoints/surgvista_vitb_pretrain.pth', label='SurgVISTA'),
    imagenet_sup=dict(checkpoint='checkpoints/natural/imagenet_sup_vitb.pth', cfg_options=_image,
                      label='ImageNet supervised'),
    mae=dict(checkpoint='checkpoints/natural/mae_vitb.pth', cfg_options=_image, label='MAE'),
    dino=dict(checkpoint='checkpoints/natural/dino_vitb.pth', cfg_options=_image, label='DINO'),
    videomae_k400=dict(checkpoint='checkpoints/natural/videomae_k400_vitb.pth',
                       cfg_options=_video, label='VideoMAE (K400)'),
    videomae_ssv2=dict(checkpoint='checkpoints/natural/videomae_ssv2_vitb.pth',
                       cfg_options=_video, label='VideoMAE (SSv2)'),
    videomae_hybrid=dict(checkpoint='checkpoints/natural/videomae_hybrid_vitb.pth',
                         cfg_options=_video, label='VideoMAE (Hybrid)'),
    mvd_k400=dict(checkpoint='checkpoints/natural/mvd_k400_vitb.pth', cfg_options=_video,
                  label='MVD (K400)'),
    umt_k710=dict(checkpoint='checkpoints/natural/umt_k710_vitb.pth', cfg_options=_video,
                  label='UMT (K710)'),
)
