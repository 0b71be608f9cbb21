# Stage-1 backbone: GSViT (Schmidgall et al.): EfficientViT-M5,
# timm 'efficientvit_m5', pooled features of width 384.
# weights: the published checkpoint converted to this layout (keys model.<timm key>):
#   python tools/convert_checkpoint.py PUBLISHED.pth checkpoints/gsvit_m5.pth --kind gsvit
_base_ = ['./frame_common.py']

model = dict(
    backbone=dict(arch='efficientvit_m5',
                  init_cfg=dict(checkpoint='checkpoints/gsvit_m5.pth')),
    cls_head=dict(in_channels=384))
