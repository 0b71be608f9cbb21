# Stage-1 backbone: ImageNet supervised ViT-B/16 (timm layout),
# timm 'vit_base_patch16_224', pooled features of width 768.
# weights: a timm-layout ViT-B/16 state dict whose keys carry 'model.' (e.g. saved from
# TimmImageEncoder('vit_base_patch16_224') after loading ImageNet weights); give it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./frame_common.py']

model = dict(
    backbone=dict(arch='vit_base_patch16_224',
                  init_cfg=dict(checkpoint='checkpoints/imagenet_vitb.pth')),
    cls_head=dict(in_channels=768))
