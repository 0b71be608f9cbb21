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
    # dropout / drop-path / mixup draws seeded from (seed, iteration): a resumed run draws the
    # same numbers as an uninterrupted one (engine/hooks/iter_seed_hook.py)
    iter_seed=dict(type='SurgVistaIterSeedHook'),
    # no SyncBuffersHook: the only buffers are fixed sin-cos tables and normalisation constants,
    # identical on every rank; averaging them would only add float rounding
)
# stops on a NaN/Inf loss, or on weights / gradients whose L2 norm leaves the bounds (a finite
# loss can hide ruined weights); names the last checkpoint with sound weights
custom_hooks = [dict(type='SurgVistaNonFiniteLossHook', check_interval=1, max_param_norm=1e5,
                     max_grad_norm=1e6)]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on machines without CUDA; timeout (s): how long a
    # collective waits for a rank that stopped responding before the run fails with a message
    dist_cfg=dict(backend='nccl', timeout=1800),
)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = True  # auto-resume from the latest complete checkpoint in work_dir
allow_partial_resume = False  # resuming from a file without optimizer/scheduler state is an error
# a resume whose model config differs from the checkpoint's is an error unless this is True
resume_allow_model_change = False
# a resume whose optimizer / LR schedule config differs from the checkpoint's is an error unless
# this is True: then the config's values are applied (tools/train.py --resume-override-optim)
resume_override_optim = False
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
