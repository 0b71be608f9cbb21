"""mmengine Runner whose checkpoints load with ``weights_only=True`` and are never lost."""
from __future__ import annotations

import datetime
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from surgvista_mm.registry import RUNNERS
from .checkpoint_io import (find_resume_checkpoint, has_training_state, load_checkpoint_file,
                            to_plain)
from .loop_checks import check_dataloader_yields_batches
from .resume_checks import RECORD_KEY, OptimOverride, check_resume_config, run_config_record
from .work_dir_lock import work_dir_lock

#: process-group timeout (seconds) when ``env_cfg.dist_cfg`` sets none (torch's gloo default)
DEFAULT_DIST_TIMEOUT_S = 1800


class DistributedTimeoutError(RuntimeError):
    """A collective operation waited longer than ``env_cfg.dist_cfg.timeout`` for another rank."""


def dist_timeout_seconds(cfg: Any) -> float:
    """``env_cfg.dist_cfg.timeout`` of a config (seconds), :data:`DEFAULT_DIST_TIMEOUT_S` if unset.

    Raises:
        ValueError: the timeout is not a positive number.
    """
    dist_cfg = ((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
    timeout = dist_cfg.get('timeout', DEFAULT_DIST_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f'env_cfg.dist_cfg.timeout must be a positive number of seconds, got '
                         f'{timeout!r}')
    return float(timeout)


def _is_timeout(exc: BaseException) -> bool:
    """A collective that timed out: gloo raises a plain ``RuntimeError`` from its transport
    (``gloo/transport/... Timed out waiting 3000ms for recv``); NCCL / c10d raise ``DistError``
    subclasses. Other timeouts (e.g. a DataLoader's) are not matched."""
    import torch.distributed as dist
    text = str(exc).lower()
    timed_out = 'timed out' in text or 'timeout' in text
    dist_error = getattr(dist, 'DistError', ())
    return timed_out and ((dist_error and isinstance(exc, dist_error))
                          or 'gloo' in text or 'nccl' in text or 'watchdog' in text)


@RUNNERS.register_module()
class SurgVistaRunner(Runner):
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

    _resuming: bool = False
    _resume_changes: Sequence = ()  # optimizer / scheduler config changes of the current resume

    @staticmethod
    def _refuse_unsafe_torch_load() -> None:
        """torch would unpickle code in mmengine's own loaders (``init_cfg`` Pretrained, remote
        ``load_from``), which call ``torch.load`` without ``weights_only``."""
        if os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '0').lower() in ('1', 'y', 'yes',
                                                                               'true'):
            raise RuntimeError('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set: checkpoints could run '
                               'code when loaded. Unset it; surgvista_mm loads every checkpoint '
                               'with weights_only=True')

    def build_train_loop(self, loop):  # noqa: ANN001, ANN201
        """mmengine's, then refuse a training data loader whose epoch has no batch."""
        loop = super().build_train_loop(loop)
        check_dataloader_yields_batches(loop.dataloader, 'train_dataloader')
        return loop

    # ---------------------------------------------------------------- loading
    def load_or_resume(self) -> None:
        """Like mmengine's, but auto-resume falls back to the newest complete checkpoint."""
        if self._has_loaded:
            return None
        if not (self._resume and self._load_from is None):
            return super().load_or_resume()
        path, note = find_resume_checkpoint(self.work_dir)
        if note:
            self.logger.warning(f'auto-resume: {note}')
        if path is None:
            self.logger.info(f'auto-resume: no checkpoint in {self.work_dir}; training starts '
                             'from the beginning')
            return None
        self.logger.info(f'auto-resume from {path}')
        self.resume(path)
        self._has_loaded = True
        return None

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        self._resuming = True
        override = (OptimOverride(self) if self.cfg.get('resume_override_optim', False)
                    and isinstance(self.optim_wrapper, OptimWrapper) else None)
        self._resume_changes = []
        try:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        finally:
            self._resuming = False
        if override is not None and self._resume_changes:  # resume_checks.py: apply the config's
            override.apply(self, len(self.train_loop.dataloader))

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
        if self._resuming:
            self._check_resumable(filename, checkpoint)
            self._resume_changes = check_resume_config(self.cfg, checkpoint, filename, self.logger)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'{"resumed" if self._resuming else "loaded weights"} from {filename}')
        return checkpoint

    def _check_resumable(self, filename: str, checkpoint: Any) -> None:
        if not isinstance(checkpoint, dict):
            raise ValueError(f'cannot resume from {filename}: not a training checkpoint')
        missing = has_training_state(checkpoint)
        if self.param_schedulers is None:  # a run without schedulers saves none
            missing = [m for m in missing if m != 'param_schedulers']
        meta_missing = any(m.startswith('meta') for m in missing)
        if not missing or (not meta_missing and self.cfg.get('allow_partial_resume', False)):
            if missing:
                self.logger.warning(f'resuming from {filename} without its {missing}: '
                                    '(allow_partial_resume=True) the optimizer and/or the LR '
                                    'schedule start afresh')
            return
        raise ValueError(
            f'cannot resume from {filename}: it has no {" / ".join(missing)} (best_*.pth and '
            'converted weight files hold weights only). Resuming from it would restart the LR '
            'schedule and the optimizer moments. Resume from an epoch_*.pth / iter_*.pth '
            'instead; to train from these weights with a fresh schedule use '
            f'--cfg-options resume=False load_from={filename}'
            + ('' if meta_missing else '; to resume anyway set allow_partial_resume=True'))

    # ---------------------------------------------------------------- saving
    def call_hook(self, fn_name: str, **kwargs) -> None:
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':
            # after every hook edited it: store plain containers only (weights_only=True loads)
            checkpoint = kwargs['checkpoint']
            checkpoint.setdefault('meta', {})[RECORD_KEY] = run_config_record(self.cfg)
            plain = to_plain(dict(checkpoint))
            checkpoint.clear()
            checkpoint.update(plain)

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

    # ---------------------------------------------------------------- distributed timeouts
    @contextmanager
    def _explain_dist_timeouts(self) -> Iterator[None]:
        self._refuse_unsafe_torch_load()
        try:
            yield
        except RuntimeError as exc:
            if self.world_size <= 1 or not _is_timeout(exc) or isinstance(
                    exc, DistributedTimeoutError):
                raise
            timeout = dist_timeout_seconds(self.cfg)
            raise DistributedTimeoutError(
                f'rank {self.rank} of {self.world_size}: a collective operation waited more than '
                f'{datetime.timedelta(seconds=timeout)} (env_cfg.dist_cfg.timeout={timeout:g} s) '
                'for another rank, which has stopped responding (stopped, hung or killed). Check '
                f'that rank\'s log; the run can be resumed from the last checkpoint. Original '
                f'error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}') from exc

    def train(self):  # noqa: ANN201
        """mmengine's, holding the work dir's lock (``engine/work_dir_lock.py``)."""
        with self._explain_dist_timeouts(), work_dir_lock(self.work_dir, self.logger.warning):
            return super().train()

    def val(self):  # noqa: ANN201
        with self._explain_dist_timeouts():
            return super().val()

    def test(self):  # noqa: ANN201
        with self._explain_dist_timeouts():
            return super().test()
