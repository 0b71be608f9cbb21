# Stage-1 backbone: EndoViT (Batic et al.): ViT-B/16, MAE image encoder,
# timm 'vit_base_patch16_224', pooled features of width 768.
# weights: the published checkpoint converted to this layout (keys model.<timm key>):
#   python tools/convert_checkpoint.py PUBLISHED.pth checkpoints/endovit_vitb.pth --kind endovit
_base_ = ['./frame_common.py']

model = dict(
    backbone=dict(arch='vit_base_patch16_224',
                  init_cfg=dict(checkpoint='checkpoints/endovit_vitb.pth')),
    cls_head=dict(in_channels=768))
