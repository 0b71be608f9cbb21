# A ViT-L/16 student (24 blocks, width 1024, 16 heads; 304 M encoder parameters) pre-trained with
# FSDP (mmengine's FlexibleRunner + SurgVistaFSDPStrategy), for 64-GPU runs or students that do
# not fit next to the teacher with DDP. Not a paper setting: the recipe is surgvista_vitb.py's
# (same data, masks, teacher, schedule; the LR rule rescales to the launch's clips per step).
#   tools/dist_train.sh configs/pretrain/surgvista_vitl_fsdp.py 8 \
#       --cfg-options model.teacher.checkpoint=checkpoints/endossl_vitl16_lap.pth
# What it needs (docs/benchmarks.md, "Larger students"): per GPU ~ 2 x 304 M bf16/fp32 sharded
# weights + AdamW moments / world size; activations at 64 clips per GPU need activation
# checkpointing (model.backbone.with_cp=True, set here) or a smaller batch with more accumulation.
# Checkpoints: one full (rank 0) file per epoch in the DDP format (weights_only=True loads it);
# resume as usual. Each ViT-L block (12.6 M parameters) is one FSDP unit (size-based policy).
_base_ = ['./surgvista_vitb.py']

model = dict(
    backbone=dict(embed_dims=1024, depth=24, num_heads=16, with_cp=True),
    pixel_decoder=dict(in_dims=1024),
    distill_decoder=dict(in_dims=1024))

runner_type = 'SurgVistaFlexibleRunner'
strategy = dict(
    type='SurgVistaFSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel', use_orig_params=True,
        auto_wrap_policy=dict(type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
                              min_num_params=10_000_000)))
