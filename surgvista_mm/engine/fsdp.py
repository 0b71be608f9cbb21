"""Sharded training (FSDP) with mmengine's ``FlexibleRunner``: the config switch of
``configs/pretrain/surgvista_vitl_fsdp.py`` (docs/benchmarks.md, "Larger students").

* :class:`SurgVistaFSDPStrategy`: mmengine's ``FSDPStrategy`` with ``use_orig_params=True``
  (parameter names and per-parameter groups survive wrapping), the parameters' original
  ``ndim`` recorded before wrapping (so 1-D parameters keep no weight decay although FSDP
  flattens every shard to 1-D: ``optimizers.constructor.record_param_ndims``), a full (rank 0,
  CPU-offloaded) state dict by default — checkpoints in the same one-file format as DDP's —
  written atomically, a CPU device on machines without CUDA (gloo; used by the tests), and
  ``SurgVistaRunner``'s LR rule (``engine/lr_scaling.py``: ``auto_scale_lr`` counts gradient
  accumulation; mmengine's ``BaseStrategy._scale_lr`` does not).
* :class:`SurgVistaFlexibleRunner`: ``FlexibleRunner`` with ``SurgVistaRunner``'s guards
  (``engine/run_guards.py``): plain checkpoints (``weights_only=True`` loads them) recording the
  run's config, resume checks (a changed LR / schedule / model / scaled LR is refused or applied
  with ``--resume-override-optim``), the fallback of auto-resume, the work dir's lock, the
  empty-epoch check, distributed-timeout messages and ``allow_tf32``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Callable, Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.registry import STRATEGIES
from mmengine.runner import FlexibleRunner
from mmengine._strategy import BaseStrategy, FSDPStrategy

from surgvista_mm.registry import RUNNERS
from surgvista_mm.utils.config_check import ConfigError
from .lr_scaling import apply_auto_scale_lr
from .optimizers.constructor import record_param_ndims
from .run_guards import RunGuardsMixin


@STRATEGIES.register_module()
class SurgVistaFSDPStrategy(FSDPStrategy):
    """See the module doc. Arguments are ``FSDPStrategy``'s; ``model_wrapper`` defaults to
    ``dict(type='MMFullyShardedDataParallel', use_orig_params=True)`` (a given dict is
    completed with ``use_orig_params=True``; False is refused) and ``state_dict_cfg`` to
    ``'full'``."""

    def __init__(self, *, model_wrapper: Optional[dict] = None, skip_init_weights: bool = False,
                 state_dict_cfg: str = 'full', activation_checkpointing: Optional[dict] = None,
                 work_dir: str = 'work_dirs', experiment_name: Optional[str] = None,
                 env_kwargs: Optional[dict] = None, log_kwargs: Optional[dict] = None,
                 auto_scale_lr: Optional[dict] = None) -> None:
        wrapper = dict(model_wrapper or dict(type='MMFullyShardedDataParallel'))
        if wrapper.setdefault('use_orig_params', True) is not True:
            raise ValueError('SurgVistaFSDPStrategy needs model_wrapper.use_orig_params=True '
                             '(per-parameter weight decay and layer-wise LR groups)')
        if not torch.cuda.is_available():
            wrapper.setdefault('device_id', torch.device('cpu'))
        super().__init__(model_wrapper=wrapper, skip_init_weights=skip_init_weights,
                         state_dict_cfg=state_dict_cfg,
                         activation_checkpointing=activation_checkpointing, work_dir=work_dir,
                         experiment_name=experiment_name, env_kwargs=env_kwargs,
                         log_kwargs=log_kwargs, auto_scale_lr=auto_scale_lr)

    def _wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Record the parameters' shapes, move the whole model to the rank's device (FSDP
        moves only what it manages; the pre-training algorithm's frozen teacher is not a
        registered submodule and follows ``model.to``), then wrap."""
        from mmengine.device import get_device
        record_param_ndims(model)
        model.to(get_device())
        return super()._wrap_model(model)

    def _scale_lr(self) -> None:
        """``auto_scale_lr`` with ``SurgVistaRunner``'s rule: world size x batch x accumulation
        (``engine/lr_scaling.py``); called by ``prepare`` before the schedulers are built."""
        apply_auto_scale_lr(self.optim_wrapper, self._auto_scale_lr, self.world_size,
                            self.dispatch_kwargs['train_micro_batch_size_per_gpu'],
                            getattr(self.optim_wrapper, '_accumulative_counts', 1), self.logger)

    def load_optim_state_dict(self, state_dict: dict) -> None:
        """Load a (full) optimizer state dict into the sharded optimizer (compat item 9)."""
        from surgvista_mm.compat import fsdp_optim_state_dict_to_load
        self.optim_wrapper.load_state_dict(fsdp_optim_state_dict_to_load(
            self.model, self.optim_wrapper.optimizer, state_dict))

    def save_checkpoint(self, filename: str, *, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, extra_ckpt: Optional[dict] = None,
                        callback: Optional[Callable] = None) -> None:
        """``FSDPStrategy.save_checkpoint`` into ``.<name>.tmp``, fsynced and renamed (full
        state dicts; sharded ones are directories and are written as mmengine writes them)."""
        if not self._is_full_state_dict() or '://' in filename:
            return super().save_checkpoint(filename, save_optimizer=save_optimizer,
                                           save_param_scheduler=save_param_scheduler,
                                           extra_ckpt=extra_ckpt, callback=callback)
        tmp = osp.join(osp.dirname(filename), f'.{osp.basename(filename)}.tmp')
        super().save_checkpoint(tmp, save_optimizer=save_optimizer,
                                save_param_scheduler=save_param_scheduler,
                                extra_ckpt=extra_ckpt, callback=callback)
        if is_main_process():
            with open(tmp, 'rb') as f:
                os.fsync(f.fileno())
            os.replace(tmp, filename)


@RUNNERS.register_module()
class SurgVistaFlexibleRunner(RunGuardsMixin, FlexibleRunner):
    """mmengine's ``FlexibleRunner`` (strategies: FSDP, DeepSpeed, ...) with the guards of
    ``SurgVistaRunner`` (``engine/run_guards.py``). A strategy that scales the LR with
    mmengine's rule (no accumulation) is refused when ``auto_scale_lr`` is enabled."""

    def build_strategy(self, strategy: Optional[Union[BaseStrategy, dict]] = None,
                       launcher: str = 'none', randomness: Optional[dict] = None,
                       env_cfg: Optional[dict] = None, experiment_name: Optional[str] = None,
                       log_level: Optional[str] = None) -> BaseStrategy:
        """mmengine's, then the config's ``allow_tf32`` (the strategy set up the environment)."""
        built = super().build_strategy(
            strategy, launcher, randomness,
            dict(dist_cfg=dict(backend='nccl')) if env_cfg is None else env_cfg,
            experiment_name, log_level)
        if (self._auto_scale_lr or {}).get('enable', False) and \
                type(built)._scale_lr is BaseStrategy._scale_lr:
            raise ConfigError(
                f'auto_scale_lr is enabled but the strategy {type(built).__name__} scales the LR '
                'with mmengine\'s rule, which leaves gradient accumulation out; use '
                'SurgVistaFSDPStrategy or set auto_scale_lr.enable=False')
        self._apply_allow_tf32()
        return built
