# SurgVISTA fine-tuning model (spec section 7): mmaction2's Recognizer3D with the ViT-B encoder on
# all 1568 tokens (no mask, no final norm: the pre-training `norm` is discarded), drop-path 0.1,
# then SurgVistaClsHead: mean over tokens -> fc_norm (new LN, eps 1e-6) -> dropout 0.5 -> Linear
# initialised at exactly zero. Single-label defaults: label smoothing 0.1 and batch mixup 0.8 /
# cutmix 1.0 (one of the two per batch, switch prob 0.5; the cutmix box is shared by every frame
# of every clip). num_classes defaults to 7 (Cholec80, AutoLaparo); other task configs set it
# (head *and* blending) or, for multi-label tasks, multi_label=True, label_smooth_eps=0.0 and
# blending=None.
#
# The encoder starts from a converted pre-training checkpoint (see docs/finetune.md):
#   python tools/convert_checkpoint.py surgvista_pretrain.pth \
#       checkpoints/surgvista_vitb_pretrain.pth --kind surgvista-pretrain
# It is loaded strictly in init_weights (a missing file is an error, not a silent random init);
# override with --cfg-options model.backbone.init_cfg.checkpoint=PATH, or
# model.backbone.init_cfg=None to train from scratch.
num_frames = 16
img_size = 224
embed_dims = 768
num_classes = 7
pretrained = 'checkpoints/surgvista_vitb_pretrain.pth'

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='SurgVistaViT',
        img_size=img_size,
        patch_size=16,
        num_frames=num_frames,
        tubelet_size=2,
        embed_dims=embed_dims,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        final_norm=False,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    cls_head=dict(
        type='SurgVistaClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        multi_label=False,
        label_smooth_eps=0.1,
        dropout_ratio=0.5,
        init_scale=0.0,
        average_clips='prob'),
    data_preprocessor=dict(
        type='SurgVistaDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW',
        blending=dict(
            type='RandomBatchAugment',
            augments=[
                dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
            ],
            probs=[0.5, 0.5])))
