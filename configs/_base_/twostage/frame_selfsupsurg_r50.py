# Stage-1 backbone: SelfSupSurg (Ramesh et al.): ResNet-50, DINO trunk,
# timm 'resnet50', pooled features of width 2048.
# weights: the published checkpoint converted to this layout (keys model.<timm key>):
#   python tools/convert_checkpoint.py PUBLISHED.pth checkpoints/selfsupsurg_r50.pth \
#       --kind selfsupsurg
_base_ = ['./frame_common.py']

model = dict(
    backbone=dict(arch='resnet50',
                  init_cfg=dict(checkpoint='checkpoints/selfsupsurg_r50.pth')),
    cls_head=dict(in_channels=2048))
