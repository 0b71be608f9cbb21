"""What every surgvista_mm runner does around mmengine's training: :class:`RunGuardsMixin`,
shared by ``SurgVistaRunner`` (``mmengine.runner.Runner``) and ``SurgVistaFlexibleRunner``
(``FlexibleRunner``: FSDP), so that a run gets the same checks whichever runner the config names.

* Every checkpoint records the run's config (``meta['run_config']``: model, optimizer, LR
  schedule, the LR after ``auto_scale_lr``) and is made of plain containers (``weights_only=True``
  loads it).
* A resume is checked before any state is loaded: a file without optimizer / scheduler state is
  refused (unless ``allow_partial_resume``) and a config that differs from the record is refused
  naming the keys, or applied (``resume_override_optim``, ``resume_allow_model_change``;
  ``engine/resume_checks.py``).
* Auto-resume falls back to the newest complete checkpoint when ``last_checkpoint`` is missing or
  names a partial file.
* ``train()`` holds the work dir's lock (``engine/work_dir_lock.py``); a training data loader
  without a batch per epoch is an error before training (``engine/loop_checks.py``); a collective
  that times out raises :class:`DistributedTimeoutError` naming ``env_cfg.dist_cfg.timeout``.
* The config's ``allow_tf32`` (default True) is applied.

The mixin goes first in the bases (``class R(RunGuardsMixin, Runner)``); the runner class
provides ``cfg``, ``logger``, ``work_dir``, ``world_size``, ``rank``, ``optim_wrapper``,
``param_schedulers``, ``train_loop`` and mmengine's ``load_or_resume`` / ``resume``.
"""
from __future__ import annotations

import datetime
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from mmengine.optim import OptimWrapper

from .checkpoint_io import find_resume_checkpoint, has_training_state, to_plain
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


def make_plain(checkpoint: dict) -> None:
    """Turn a checkpoint dict into plain containers in place (after every hook edited it), so
    that it loads with ``weights_only=True``."""
    plain = to_plain(dict(checkpoint))
    checkpoint.clear()
    checkpoint.update(plain)


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


class RunGuardsMixin:
    """See the module docstring."""

    cfg: Any
    logger: Any
    _resuming: bool = False
    _resume_file: Optional[str] = None
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

    def _apply_allow_tf32(self) -> None:
        """The config's ``allow_tf32`` (default True): TF32 tensor cores for the float32 CUDA
        matmuls / convolutions left outside autocast (no effect on CPU)."""
        from surgvista_mm.utils.precision import set_tf32
        set_tf32(bool(self.cfg.get('allow_tf32', True)))

    def build_train_loop(self, loop):  # noqa: ANN001, ANN201
        """mmengine's, then refuse a training data loader whose epoch has no batch."""
        loop = super().build_train_loop(loop)
        check_dataloader_yields_batches(loop.dataloader, 'train_dataloader')
        return loop

    # ---------------------------------------------------------------- resuming
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
        """mmengine's, with the checkpoint checked (:meth:`_check_resume_checkpoint`) before its
        state is loaded, and the config's optimizer / schedule values applied afterwards when
        ``resume_override_optim`` is set and they differ."""
        override = (OptimOverride(self) if self.cfg.get('resume_override_optim', False)
                    and isinstance(self.optim_wrapper, OptimWrapper) else None)
        self._resuming, self._resume_file, self._resume_changes = True, filename, []
        try:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        finally:
            self._resuming = False
        if override is not None and self._resume_changes:  # resume_checks.py: apply the config's
            override.apply(self, len(self.train_loop.dataloader))

    def _check_resume_checkpoint(self, checkpoint: Any) -> None:
        """The checks of a resume, on the loaded ``checkpoint`` before any state is restored."""
        filename = self._resume_file
        self._check_resumable(filename, checkpoint)
        self._resume_changes = check_resume_config(self.cfg, checkpoint, filename, self.logger,
                                                   self.world_size)

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

    # ---------------------------------------------------------------- hooks
    def call_hook(self, fn_name: str, **kwargs) -> None:
        """mmengine's; a checkpoint being resumed is checked before the hooks see it, a checkpoint
        being saved gets the run-config record and is made plain after them."""
        if fn_name == 'after_load_checkpoint' and self._resuming:
            self._check_resume_checkpoint(kwargs['checkpoint'])
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':
            checkpoint = kwargs['checkpoint']
            checkpoint.setdefault('meta', {})[RECORD_KEY] = run_config_record(self.cfg,
                                                                              self.world_size)
            make_plain(checkpoint)

    # ---------------------------------------------------------------- running
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
