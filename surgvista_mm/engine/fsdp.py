"""Sharded training (FSDP) with mmengine's ``FlexibleRunner``: the config switch of
``configs/pretrain/surgvista_vitl_fsdp.py`` (docs/benchmarks.md, "Larger students").

* :class:`SurgVistaFSDPStrategy`: mmengine's ``FSDPStrategy`` with ``use_orig_params=True``
  (parameter names and per-parameter groups survive wrapping), the parameters' original
  ``ndim`` recorded before wrapping (so 1-D parameters keep no weight decay although FSDP
  flattens every shard to 1-D: ``optimizers.constructor.record_param_ndims``), a full (rank 0,
  CPU-offloaded) state dict by default — checkpoints in the same one-file format as DDP's —
  written atomically, and a CPU device on machines without CUDA (gloo; used by the tests).
* :class:`SurgVistaFlexibleRunner`: ``FlexibleRunner`` whose checkpoints are plain containers
  (``weights_only=True`` loads them, as ``SurgVistaRunner``'s).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Callable, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.registry import STRATEGIES
from mmengine.runner import FlexibleRunner
from mmengine._strategy import FSDPStrategy

from surgvista_mm.registry import RUNNERS
from .optimizers.constructor import record_param_ndims
from .runner import make_plain


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
class SurgVistaFlexibleRunner(FlexibleRunner):
    """mmengine's ``FlexibleRunner`` (strategies: FSDP, DeepSpeed, ...) whose checkpoints hold
    plain containers only, so that they load with ``weights_only=True``."""

    def call_hook(self, fn_name: str, **kwargs) -> None:
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':
            make_plain(kwargs['checkpoint'])
