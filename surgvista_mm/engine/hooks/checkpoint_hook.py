"""``CheckpointHook`` that never deletes a checkpoint before its successor is safely on disk."""
from __future__ import annotations

import glob
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Iterator, List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from surgvista_mm.registry import HOOKS
from surgvista_mm.utils.io import atomic_write_text

STALE_PATTERNS = ('.*.pth.tmp', '.last_checkpoint.*.tmp')


class _DeferredRemoval:
    """A file backend whose ``remove``/``rmtree`` only record the path (other calls pass on)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[str] = []

    def remove(self, path: str) -> None:
        self.pending.append(path)

    def rmtree(self, path: str) -> None:
        self.pending.append(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class SurgVistaCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with a safe order of operations.

    mmengine 0.10.7 removes the oldest kept checkpoint (``max_keep_ckpts``) and the previous best
    one *before* writing the new file, so a crash or a full disk during the save leaves nothing to
    resume from. Here, for local folders:

    1. the new checkpoint is written (``SurgVistaRunner.save_checkpoint``: temporary file, fsync,
       rename; an ``OSError`` names the path),
    2. ``last_checkpoint`` is rewritten atomically to name it,
    3. only then are the checkpoints that fall out of ``max_keep_ckpts`` (and a superseded best
       checkpoint) removed — only files in this run's own checkpoint folder: a run resumed from
       another run's checkpoint inherits that run's ``best_ckpt`` path, which is kept.

    ``before_train`` also removes temporary files (``.*.pth.tmp``) that an interrupted save left in
    the checkpoint folder, naming them in the log.
    """

    def before_train(self, runner) -> None:  # noqa: ANN001
        super().before_train(runner)
        if not is_main_process() or '://' in str(self.out_dir):
            return
        stale = sorted({p for folder in {self.out_dir, runner.work_dir}
                        for pattern in STALE_PATTERNS
                        for p in glob.glob(osp.join(folder, pattern))})
        for path in stale:
            os.remove(path)
        if stale:
            runner.logger.warning(f'removed {len(stale)} temporary file(s) left by an '
                                  f'interrupted checkpoint save: {stale}')

    @contextmanager
    def _deferred_removal(self) -> Iterator[_DeferredRemoval]:
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            yield deferred
        finally:
            self.file_backend = backend

    def _remove(self, runner, paths: List[str]) -> None:  # noqa: ANN001
        for path in paths:
            if not self._in_own_folder(path):
                # e.g. the best checkpoint of the run this one resumed from (--resume other/...):
                # its path comes from the checkpoint's message hub; never touch another run's files
                runner.logger.info(f'kept {path}: not in this run\'s checkpoint folder '
                                   f'{self.out_dir}')
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed writes folders
                self.file_backend.rmtree(path)
            else:
                continue
            runner.logger.info(f'removed the superseded checkpoint {path}')

    def _in_own_folder(self, path: str) -> bool:
        """``path`` lies in this run's checkpoint folder (``out_dir``; links resolved). Remote
        folders compare as strings."""
        if '://' in str(self.out_dir):
            return str(path).startswith(str(self.out_dir).rstrip('/') + '/')
        folder = osp.realpath(str(self.out_dir))
        return osp.dirname(osp.realpath(str(path))) == folder

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:  # noqa: ANN001
        superseded: List[str] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                old = self.keep_ckpt_ids.popleft()
                superseded.append(self.file_backend.join_path(self.out_dir,
                                                              self.filename_tmpl.format(old)))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), str(self.last_ckpt))
        self._remove(runner, [p for p in superseded if p != self.last_ckpt])

    def _save_best_checkpoint(self, runner, metrics) -> None:  # noqa: ANN001
        with self._deferred_removal() as deferred:
            super()._save_best_checkpoint(runner, metrics)
        if is_main_process():
            current = {getattr(self, 'best_ckpt_path', None),
                       *getattr(self, 'best_ckpt_path_dict', {}).values()}
            self._remove(runner, [p for p in deferred.pending if p not in current])
