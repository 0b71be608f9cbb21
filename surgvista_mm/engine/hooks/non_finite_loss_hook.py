"""Stop training on a non-finite loss or ruined weights, naming the last sound checkpoint."""
from __future__ import annotations

import glob
import os
import os.path as osp
from typing import Any, List, Optional, Tuple

import torch
from mmengine.hooks import Hook

from surgvista_mm.registry import HOOKS

#: ``checkpoint['meta'][WEIGHTS_CHECK_KEY]``: the weight check made when the file was saved
WEIGHTS_CHECK_KEY = 'weights_check'


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss became NaN / infinite, or the weights or gradients became
    non-finite or larger than the hook's bounds."""


def _bound(value: Optional[float], name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f'{name} must be a positive number or None, got {value!r}')
    return float(value)


def read_checkpoint_meta(path: str) -> Optional[dict]:
    """``meta`` of a checkpoint, read with ``weights_only=True`` and ``mmap`` (the tensors are
    not read); None when the file cannot be read."""
    from surgvista_mm.checkpoint.safe_load import MMENGINE_SAFE_GLOBALS
    try:
        with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
            ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:  # truncated, foreign or unsafe: not a candidate
        return None
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return meta if isinstance(meta, dict) else None


def last_sound_checkpoint(folders: List[str]) -> Tuple[Optional[str], List[str]]:
    """The newest ``*.pth`` in ``folders`` whose weights were finite and within the bound when
    it was saved (``meta['weights_check']['sound']``), and the newer ones that were not.

    Files saved before the check existed count as sound only when no checked file is found.

    Returns:
        ``(path or None, [newer unsound paths])``.
    """
    paths = sorted({p for folder in folders for p in glob.glob(osp.join(folder, '*.pth'))},
                   key=osp.getmtime, reverse=True)
    unsound: List[str] = []
    unchecked = None
    for path in paths:
        meta = read_checkpoint_meta(path)
        if meta is None:
            continue
        check = meta.get(WEIGHTS_CHECK_KEY)
        if not isinstance(check, dict):
            unchecked = unchecked or path
        elif check.get('sound'):
            return path, unsound
        else:
            unsound.append(path)
    return unchecked, unsound


@HOOKS.register_module()
class SurgVistaNonFiniteLossHook(Hook):
    """Stop the run with a clear message on a NaN/Inf loss, on non-finite or too large weights
    (a finite loss can hide weights of 1e34), or on non-finite or too large gradients.

    Without per-step host synchronisation: the loss's finiteness is accumulated on its device
    every iteration; every ``check_interval`` iterations the parameter norm (after the step) and
    the gradient norm (in an optimizer step pre-hook, before the step) are computed on the device
    too, and the flags are read on the host once per ``check_interval`` iterations and at the end
    of each epoch. (mmengine's ``RuntimeInfoHook`` already reads every logged value each
    iteration, so with the default hooks this adds no synchronisation of its own.)

    Raising inside the train loop stops the run before the ``CheckpointHook`` of the current
    epoch runs. Every checkpoint records the check made when it was saved
    (``meta['weights_check']``: ``param_norm``, ``finite``, ``sound``), and the message names the
    newest checkpoint whose weights were sound, skipping newer ones that were not.

    Args:
        check_interval: iterations between host-side checks (>= 1).
        key: the entry of the train step's outputs to check (mmengine's summed ``'loss'``).
        max_param_norm: bound on the L2 norm of all trainable parameters together (a ViT-B
            has a few hundred); None: only finiteness is checked.
        max_grad_norm: bound on the L2 norm of all gradients together, measured before each
            optimizer step of a check iteration (after fp16 unscaling); None: finiteness only.
    """

    priority = 'HIGH'  # run before logging and checkpointing hooks

    def __init__(self, check_interval: int = 1, key: str = 'loss',
                 max_param_norm: Optional[float] = 1e5,
                 max_grad_norm: Optional[float] = 1e6) -> None:
        if int(check_interval) < 1:
            raise ValueError(f'check_interval must be >= 1, got {check_interval}')
        self.check_interval = int(check_interval)
        self.key = key
        self.max_param_norm = _bound(max_param_norm, 'max_param_norm')
        self.max_grad_norm = _bound(max_grad_norm, 'max_grad_norm')
        self._all_finite: Optional[torch.Tensor] = None
        self._param_norm: Optional[torch.Tensor] = None
        self._grad_norm: Optional[torch.Tensor] = None
        self._params: List[torch.Tensor] = []
        self._handles: list = []
        self._runner: Any = None

    # ---------------------------------------------------------------- set-up
    def before_train(self, runner: Any) -> None:
        self._all_finite = self._param_norm = self._grad_norm = None
        self._runner = runner
        model = getattr(runner, 'model', None)
        self._params = ([p for p in model.parameters() if p.requires_grad]
                        if model is not None else [])
        self._remove_handles()
        wrapper = getattr(runner, 'optim_wrapper', None)
        wrappers = list(wrapper.values()) if hasattr(wrapper, 'values') else [wrapper]
        for w in wrappers:
            optimizer = getattr(w, 'optimizer', None)
            if isinstance(optimizer, torch.optim.Optimizer):
                self._handles.append(optimizer.register_step_pre_hook(self._before_step))

    def after_train(self, runner: Any) -> None:
        self._remove_handles()

    def _remove_handles(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _is_check_iter(self, runner: Any) -> bool:
        return (runner.iter + 1) % self.check_interval == 0

    # ---------------------------------------------------------------- measuring (on device)
    @staticmethod
    def _max(old: Optional[torch.Tensor], new: torch.Tensor) -> torch.Tensor:
        return new if old is None else torch.maximum(old, new.to(old.device))  # NaN propagates

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """Optimizer step pre-hook: the gradient norm of a check iteration."""
        if self._runner is None or not self._is_check_iter(self._runner):
            return
        grads = [p.grad for g in optimizer.param_groups for p in g['params']
                 if p.grad is not None]
        if grads:
            norm = torch.nn.utils.get_total_norm(grads).detach().float()
            self._grad_norm = self._max(self._grad_norm, norm)

    def _measure_params(self) -> None:
        if self._params:
            norm = torch.nn.utils.get_total_norm(self._params).detach().float()
            self._param_norm = self._max(self._param_norm, norm)

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if outputs and self.key in outputs:
            value = outputs[self.key]
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value)
            finite = torch.isfinite(value.detach()).all()
            self._all_finite = finite if self._all_finite is None else self._all_finite & finite
        if self._is_check_iter(runner):
            self._measure_params()
            self._check(runner)

    def after_train_epoch(self, runner: Any) -> None:
        # Make sure an epoch never ends (and gets checkpointed) with an unchecked bad value.
        self._measure_params()
        self._check(runner)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Record the weight check in the checkpoint (one host read per save)."""
        if not self._params:
            return
        norm = float(torch.nn.utils.get_total_norm(self._params).detach().float().item())
        finite = norm == norm and norm != float('inf')
        sound = finite and (self.max_param_norm is None or norm <= self.max_param_norm)
        checkpoint.setdefault('meta', {})[WEIGHTS_CHECK_KEY] = dict(
            param_norm=norm, finite=finite, sound=sound, max_param_norm=self.max_param_norm)

    # ---------------------------------------------------------------- deciding (on the host)
    def _problems(self) -> List[str]:
        names, values = [], []
        for name, value in (('loss', self._all_finite), ('param', self._param_norm),
                            ('grad', self._grad_norm)):
            if value is not None:
                names.append(name)
                values.append(value.detach().float().reshape(()).cpu())
        self._all_finite = self._param_norm = self._grad_norm = None
        if not names:
            return []
        read = dict(zip(names, torch.stack(values).tolist()))  # one host synchronisation
        problems = []
        if 'loss' in read and read['loss'] != 1.0:
            problems.append(f'non-finite training loss ({self.key!r})')
        for name, bound, what in (('param', self.max_param_norm, 'parameter'),
                                  ('grad', self.max_grad_norm, 'gradient')):
            if name not in read:
                continue
            norm = read[name]
            if not norm == norm or norm == float('inf'):
                problems.append(f'{what} norm {norm} (non-finite {what}s, or ones too large to '
                                'square in float32)')
            elif bound is not None and norm > bound:
                problems.append(f'{what} norm {norm:.3g} above max_{name}_norm={bound:g} '
                                '(the weights are being ruined even if the loss is finite)')
        return problems

    def _check(self, runner: Any) -> None:
        problems = self._problems()
        if not problems:
            return
        folders = [runner.work_dir]
        ckpt_dir = getattr(runner, 'message_hub', None)
        last = ckpt_dir.get_info('last_ckpt') if ckpt_dir is not None else None
        if isinstance(last, str) and '://' not in last:
            folders.append(osp.dirname(last) or runner.work_dir)
        good, unsound = last_sound_checkpoint(sorted({os.path.abspath(f) for f in folders}))
        skipped = (f' (newer checkpoints saved with ruined weights, not to be used: {unsound})'
                   if unsound else '')
        raise NonFiniteLossError(
            f'{" and ".join(problems)} detected at or before iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}); training stopped. The last checkpoint whose weights were finite '
            f'and within bounds: {good or "none saved yet"}{skipped}. Resume from it with a lower '
            'learning rate (tools/train.py --resume FILE --resume-override-optim --cfg-options '
            'optim_wrapper.optimizer.lr=...), gradient clipping (optim_wrapper.clip_grad), bf16 '
            'autocast or a smaller initial loss scale.')
