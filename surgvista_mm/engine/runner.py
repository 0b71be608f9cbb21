"""mmengine Runner whose checkpoints load with ``weights_only=True`` and are never lost."""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Callable, Optional, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from surgvista_mm.registry import RUNNERS
from .checkpoint_io import load_checkpoint_file
from .lr_scaling import apply_auto_scale_lr, config_batch_and_accumulation
from .run_guards import (DEFAULT_DIST_TIMEOUT_S, DistributedTimeoutError,  # noqa: F401 (API)
                         RunGuardsMixin, _is_timeout, dist_timeout_seconds, make_plain)


@RUNNERS.register_module()
class SurgVistaRunner(RunGuardsMixin, Runner):
    """``mmengine.runner.Runner`` whose checkpoints are safe to load and are never lost.

    * Every checkpoint it reads — resume (``--resume FILE`` or auto), ``load_from`` — goes
      through :func:`surgvista_mm.engine.checkpoint_io.load_checkpoint_file`: ``weights_only=True``,
      nothing but tensors and plain values (and the exact mmengine message-hub types) is ever
      unpickled.
    * Every checkpoint it writes is made of plain containers (``checkpoint_io.to_plain``), so it
      loads with a bare ``torch.load(path, weights_only=True)``; it is written to a temporary
      file, fsynced and renamed (``last_checkpoint`` only ever names whole files); a failed write
      (e.g. a full disk) raises an ``OSError`` naming the path and leaves the previous files.
    * Auto-resume uses ``last_checkpoint`` when it names a complete file, else the newest complete
      ``epoch_*.pth`` / ``iter_*.pth`` in the work dir, and says so.
    * Resuming from a file without optimizer and scheduler state (``best_*.pth``, converted
      weights) is an error unless the config sets ``allow_partial_resume = True``: it would
      silently restart the LR schedule and the optimizer moments.
    * ``train()`` holds the work dir's lock file (``train.lock``, ``engine/work_dir_lock.py``):
      a second training in the same work dir fails at start naming the first.
    * A training data loader without a batch per epoch (``batch_size`` > samples with
      ``drop_last``) is an error naming both before training (``engine/loop_checks.py``).
    * Every checkpoint records the model, optimizer and LR-schedule configs
      (``meta['run_config']``); a resume whose config differs is an error naming the keys unless
      ``resume_allow_model_change`` / ``resume_override_optim`` (which applies the config's
      optimizer and schedule values) is set (``engine/resume_checks.py``).
    * A collective that times out (a rank stopped responding) raises
      :class:`DistributedTimeoutError` naming ``env_cfg.dist_cfg.timeout``.
    """

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False, revise_keys: Optional[list] = None):
        """Load ``filename`` with ``weights_only=True`` into the model (and return it).

        Remote URLs (``s3://``, ``http://``...) go through mmengine's loaders, which call
        ``torch.load`` with torch's default, ``weights_only=True``.
        """
        self._refuse_unsafe_torch_load()
        revise_keys = [(r'^module.', '')] if revise_keys is None else revise_keys
        if '://' in str(filename):
            return super().load_checkpoint(filename, map_location, strict, revise_keys)
        checkpoint = load_checkpoint_file(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'{"resumed" if self._resuming else "loaded weights"} from {filename}')
        return checkpoint

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """mmengine's save, to ``.<filename>.tmp`` then fsync and rename (local folders).

        Raises:
            OSError: the write failed (e.g. ENOSPC); names the checkpoint path. The temporary
                file is removed and earlier checkpoints are untouched.
        """
        local = '://' not in out_dir
        if backend_args is not None or file_client_args is not None or not local:
            return super().save_checkpoint(out_dir, filename, file_client_args, save_optimizer,
                                           save_param_scheduler, meta, by_epoch, backend_args)
        tmp_name = f'.{filename}.tmp'
        tmp_path, final_path = osp.join(out_dir, tmp_name), osp.join(out_dir, filename)
        try:
            super().save_checkpoint(out_dir, tmp_name, None, save_optimizer,
                                    save_param_scheduler, meta, by_epoch, None)
            with open(tmp_path, 'rb') as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, final_path)
            dir_fd = os.open(out_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise OSError(exc.errno, f'could not write the checkpoint {final_path} '
                          f'({exc.strerror or exc}); earlier checkpoints in {out_dir} are left '
                          'intact', final_path) from exc

    # ---------------------------------------------------------------- environment
    def setup_env(self, env_cfg: dict) -> None:
        """mmengine's, plus the config's ``allow_tf32`` (default True): TF32 tensor cores for the
        float32 CUDA matmuls / convolutions left outside autocast (no effect on CPU)."""
        super().setup_env(env_cfg)
        self._apply_allow_tf32()

    # ---------------------------------------------------------------- learning rate
    def scale_lr(self, optim_wrapper: Any, auto_scale_lr: Optional[dict] = None) -> None:
        """mmengine's linear LR scaling rule, counting gradient accumulation.

        With ``auto_scale_lr=dict(enable=True, base_batch_size=N)`` every parameter group's LR
        (written for ``N`` clips per optimizer step) is multiplied by ``world_size x batch_size x
        accumulative_counts / N``, the clips per optimizer step of this launch (mmengine's own
        rule leaves accumulation out). Called once, before the schedulers are built, so
        ratio-based schedule ends (``eta_min_ratio``) follow.
        """
        apply_auto_scale_lr(optim_wrapper, auto_scale_lr, self.world_size,
                            *config_batch_and_accumulation(self.cfg), self.logger)
