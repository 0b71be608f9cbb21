# Stage-1 backbone: EndoSSL (Hirsch et al.): ViT-L/16, MSN image encoder,
# timm 'vit_large_patch16_224', pooled features of width 1024.
# weights: the published checkpoint converted to this layout (keys model.<timm key>):
#   python tools/convert_checkpoint.py PUBLISHED.pth checkpoints/endossl_vitl.pth --kind endossl-vit
_base_ = ['./frame_common.py']

model = dict(
    backbone=dict(arch='vit_large_patch16_224',
                  init_cfg=dict(checkpoint='checkpoints/endossl_vitl.pth')),
    cls_head=dict(in_channels=1024))
