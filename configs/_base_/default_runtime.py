# Runtime shared by every surgvista_mm config.
default_scope = 'surgvista_mm'
custom_imports = dict(imports=['surgvista_mm'], allow_failed_imports=False)
runner_type = 'SurgVistaRunner'  # weights_only checkpoints, safe saves, resume fallback

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # removes old checkpoints only after the new one is on disk (engine/hooks/checkpoint_hook.py)
    checkpoint=dict(type='SurgVistaCheckpointHook', interval=10, save_last=True,
                    max_keep_ckpts=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # no SyncBuffersHook: the only buffers are fixed sin-cos tables and normalisation constants,
    # identical on every rank; averaging them would only add float rounding
)
custom_hooks = [dict(type='SurgVistaNonFiniteLossHook', check_interval=1)]

env_cfg = dict(
    cudnn_benchmark=True,  # fixed clip shapes: cuDNN picks the fastest Conv3d patchify kernel
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on machines without CUDA; timeout (s): how long a
    # collective waits for a rank that stopped responding before the run fails with a message
    dist_cfg=dict(backend='nccl', timeout=1800),
)

allow_tf32 = True  # float32 CUDA matmuls / convolutions outside autocast use TF32 (SurgVistaRunner)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = True  # auto-resume from the latest complete checkpoint in work_dir
allow_partial_resume = False  # resuming from a file without optimizer/scheduler state is an error
# diff_rank_seed: each rank draws its own device-side randomness (drop-path, mixup / cutmix);
# crops and masks come from the datasets' per-sample generators, the same on any rank count
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
