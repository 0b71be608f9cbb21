# SurgVISTA pre-training model (spec sections 1-4): ViT-B student with joint space-time attention,
# tube masking done in the data pipeline, a reconstruction and a distillation decoder, and a
# frozen EndoSSL ViT-L/16 image teacher.
num_frames = 16
img_size = 224
patch_size = 16
tubelet_size = 2
embed_dims = 768
teacher_dims = 1024
token_grid = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
# Path of the frozen image expert (EndoSSL ViT-L/16, see docs); loaded in init_weights, never at
# build time. Override with --cfg-options model.teacher.checkpoint=/path/to/endossl.pth
teacher_checkpoint = 'checkpoints/endossl_vitl16_lap.pth'

model = dict(
    type='SurgVistaPretrainer',
    data_preprocessor=dict(
        type='SurgVistaDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    backbone=dict(
        type='SurgVistaViT',
        img_size=img_size,
        patch_size=patch_size,
        num_frames=num_frames,
        tubelet_size=tubelet_size,
        embed_dims=embed_dims,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.0,
        final_norm=True,
        with_cp=False),
    pixel_decoder=dict(
        type='SurgVistaDecoder',
        in_dims=embed_dims,
        embed_dims=384,
        depth=4,
        num_heads=6,
        out_dims=tubelet_size * patch_size * patch_size * 3,
        token_grid=token_grid),
    pixel_head=dict(
        type='SurgVistaPixelHead',
        patch_size=patch_size,
        tubelet_size=tubelet_size,
        loss_weight=1.0),
    distill_decoder=dict(
        type='SurgVistaDecoder',
        in_dims=embed_dims,
        embed_dims=384,
        depth=2,
        num_heads=6,
        out_dims=teacher_dims,
        token_grid=token_grid),
    distill_head=dict(type='SurgVistaDistillHead', norm_target=False, loss_weight=0.05),
    teacher=dict(
        type='SurgVistaImageTeacher',
        img_size=img_size,
        patch_size=patch_size,
        embed_dims=teacher_dims,
        depth=24,
        num_heads=16,
        mlp_ratio=4.0,
        norm_eps=1e-5,
        frame_stride=tubelet_size,
        checkpoint=teacher_checkpoint,
        autocast=True))
