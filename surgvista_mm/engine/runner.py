"""mmengine Runner with trusted resume and atomic checkpoint writes."""
from __future__ import annotations

import os
import os.path as osp
from typing import Callable, Optional, Union

from mmengine.dist import master_only
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from surgvista_mm.compat import load_trusted_checkpoint
from surgvista_mm.registry import RUNNERS


@RUNNERS.register_module()
class SurgVistaRunner(Runner):
    """``mmengine.runner.Runner`` with two changes, both for the run's *own* files.

    * :meth:`resume` loads the checkpoint through :func:`surgvista_mm.compat.load_trusted_checkpoint`
      (mmengine 0.10.7 checkpoints pickle message-hub objects that torch >= 2.6 refuses with
      ``weights_only=True``; see compat item 2). ``load_from`` (weights from elsewhere) still goes
      through mmengine's loader, i.e. torch's default ``weights_only=True``.
    * :meth:`save_checkpoint` writes to a temporary file and renames it, so an interrupted save
      never leaves a truncated checkpoint behind (``last_checkpoint`` only ever names whole files).
    """

    _resuming: bool = False

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        self._resuming = True
        try:
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        finally:
            self._resuming = False

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False, revise_keys: Optional[list] = None):
        revise_keys = [(r'^module.', '')] if revise_keys is None else revise_keys
        if not self._resuming:
            return super().load_checkpoint(filename, map_location, strict, revise_keys)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint to resume from not found: {filename!r}')
        checkpoint = load_trusted_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Resumed from {filename}')
        return checkpoint

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        local = '://' not in out_dir
        if backend_args is not None or file_client_args is not None or not local:
            return super().save_checkpoint(out_dir, filename, file_client_args, save_optimizer,
                                           save_param_scheduler, meta, by_epoch, backend_args)
        tmp_name = f'.{filename}.tmp'
        super().save_checkpoint(out_dir, tmp_name, None, save_optimizer, save_param_scheduler,
                                meta, by_epoch, None)
        tmp_path, final_path = osp.join(out_dir, tmp_name), osp.join(out_dir, filename)
        with open(tmp_path, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, final_path)
