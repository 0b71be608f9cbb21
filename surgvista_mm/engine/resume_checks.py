"""What a resume keeps from the checkpoint and what from the config, said out loud.

mmengine's resume restores the optimizer's param groups (learning rate, betas, weight decay, ...)
and every LR scheduler's attributes (``base_values``, ``T_max``, ``eta_min``, ``begin``/``end``)
from the checkpoint and builds the model from the config. So a learning rate lowered for the
resume (what the NaN message asks for) was silently ignored, and a model whose config changed
without changing any weight shape (``num_heads`` 4 -> 2) resumed silently.

* :func:`run_config_record` is stored in every checkpoint (``meta['run_config']``): the
  ``model``, ``optim_wrapper.optimizer``, ``optim_wrapper.paramwise_cfg`` and ``param_scheduler``
  configs as plain data (dicts, lists, numbers, strings), which ``torch.load(weights_only=True)``
  reads, and what ``auto_scale_lr`` made of the LR at the launch's clips per optimizer step
  (``engine/lr_scaling.py``: a resume at another world size / batch / accumulation scales the
  config's LR differently, which the checkpoint's LR would silently replace).
* :func:`check_resume_config` compares the record with the config of the resuming run. A changed
  model is an error naming each key and both values unless ``resume_allow_model_change=True``
  (``tools/train.py --resume-allow-model-change``). A changed optimizer / scheduler value is an
  error unless ``resume_override_optim=True`` (``--resume-override-optim``, alias
  ``--resume-override-lr``), which applies the config's values
  (:class:`OptimOverride`): the optimizer keeps its moments, its hyperparameters and the LR
  schedule become those of the config, stepped to the checkpoint's iteration exactly as an
  uninterrupted run with that config would have.
  Weight-file locations (:data:`IGNORED_KEYS`) are not compared. ``load_from`` without resume
  (fine-tuning from weights) is not checked.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .lr_scaling import lr_scaling_record

RECORD_KEY = 'run_config'
#: not what the model computes: where weights are read from (``init_cfg``, ``pretrained``: a
#: resume reads the weights from the checkpoint; ``checkpoint``: e.g. the frozen teacher's file,
#: whose path changes when the data folder moves) and implementation switches of the same function
#: (activation checkpointing, attention / linear kernels)
IGNORED_KEYS = ('init_cfg', 'pretrained', 'checkpoint', 'with_cp', 'fused_attn', 'linear_impl')

Difference = Tuple[str, Any, Any]


class ResumeConfigError(ValueError):
    """The config of a resumed run differs from the checkpoint's in a way that would be lost."""


def plain_config(value: Any) -> Any:
    """``value`` (a config node) as dicts, lists, numbers, strings, booleans and None; any other
    object becomes its ``repr`` (e.g. a class given as ``type=``)."""
    if isinstance(value, dict):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def run_config_record(cfg: Any, world_size: int) -> Dict[str, Any]:
    """The parts of ``cfg`` a resume must agree on, as plain data (see the module docstring),
    for a launch of ``world_size`` processes."""
    optim = cfg.get('optim_wrapper') or {}
    return {'model': plain_config(cfg.get('model')),
            'optimizer': plain_config(optim.get('optimizer')),
            'paramwise_cfg': plain_config(optim.get('paramwise_cfg')),
            'param_scheduler': plain_config(cfg.get('param_scheduler')),
            'auto_scale_lr': plain_config(lr_scaling_record(cfg, world_size))}


_CONFIG_NAMES = {'model': 'model', 'optimizer': 'optim_wrapper.optimizer',
                 'paramwise_cfg': 'optim_wrapper.paramwise_cfg',
                 'param_scheduler': 'param_scheduler', 'auto_scale_lr': 'auto_scale_lr'}


def config_differences(old: Any, new: Any, where: str) -> List[Difference]:
    """``(key, old value, new value)`` of every leaf that differs (lists compared by index)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: List[Difference] = []
        for key in list(old) + [k for k in new if k not in old]:
            if key in IGNORED_KEYS:
                continue
            out += config_differences(old.get(key, '<absent>'), new.get(key, '<absent>'),
                                      f'{where}.{key}')
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new))
                for d in config_differences(a, b, f'{where}[{i}]')]
    if old == new or (_is_number(old) and _is_number(new)
                      and (float(old) == float(new) or old != old and new != new)):  # 1 == 1.0, NaN
        return []
    return [(where, old, new)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _listing(diffs: Sequence[Difference]) -> str:
    return '; '.join(f'{k}: checkpoint {a!r}, config {b!r}' for k, a, b in diffs)


def check_resume_config(cfg: Any, checkpoint: dict, filename: str, logger: Any,
                        world_size: int) -> List[Difference]:
    """Compare the checkpoint's :func:`run_config_record` with ``cfg`` launched on
    ``world_size`` processes. Records written before ``auto_scale_lr`` was recorded are compared
    without it.

    Returns:
        the optimizer / scheduler differences to apply (only when ``resume_override_optim``).

    Raises:
        ResumeConfigError: a model difference without ``resume_allow_model_change``, or an
            optimizer / scheduler difference without ``resume_override_optim``; the message
            names every key and both values, and the option.
    """
    record = (checkpoint.get('meta') or {}).get(RECORD_KEY)
    if not isinstance(record, dict):
        logger.warning(f'{filename} holds no run_config (written before it was recorded): the '
                       'model, optimizer and LR schedule configs cannot be compared with this '
                       'config; the optimizer and scheduler values of the checkpoint are used')
        return []
    current = run_config_record(cfg, world_size)
    model = config_differences(record.get('model'), current['model'], 'model')
    if model:
        if not cfg.get('resume_allow_model_change', False):
            raise ResumeConfigError(
                f'cannot resume from {filename}: the model config differs from the one it was '
                f'trained with ({_listing(model)}). Resuming would continue training a different '
                'model with the old weights. Restore the model config, start a new run from '
                f'these weights (--cfg-options resume=False load_from={filename}), or resume '
                'anyway with tools/train.py --resume-allow-model-change '
                '(resume_allow_model_change=True)')
        logger.warning(f'resuming {filename} with a changed model (resume_allow_model_change): '
                       f'{_listing(model)}')
    keys = ('optimizer', 'paramwise_cfg', 'param_scheduler') + (
        ('auto_scale_lr',) if 'auto_scale_lr' in record else ())
    optim = [d for key in keys
             for d in config_differences(record.get(key), current[key], _CONFIG_NAMES[key])]
    scaled = any(k.startswith('auto_scale_lr') for k, _, _ in optim)
    if optim and not cfg.get('resume_override_optim', False):
        raise ResumeConfigError(
            f'cannot resume from {filename}: the optimizer / LR schedule config differs from '
            f'the checkpoint\'s ({_listing(optim)})'
            + (' (auto_scale_lr scales the LR to the clips per optimizer step = world size x '
               'batch x accumulation)' if scaled else '')
            + ', and a resume restores the checkpoint\'s values, so the change would be ignored. '
            'To apply the config\'s values (the optimizer keeps its moments; the schedule '
            'continues from the checkpoint\'s iteration as if this config had been used from the '
            'start) add --resume-override-optim (resume_override_optim=True); otherwise restore '
            'the config' + (' or the launch\'s clips per optimizer step' if scaled else ''))
    if optim:
        logger.warning(f'resuming {filename} with the optimizer / LR schedule values of the '
                       f'config (resume_override_optim): {_listing(optim)}')
    return optim


class OptimOverride:
    """Keeps the freshly built optimizer hyperparameters and scheduler states of a run, to put
    them back after mmengine's resume loaded the checkpoint's (see the module docstring)."""

    def __init__(self, runner: Any) -> None:
        self.groups = [[{k: copy.deepcopy(v) for k, v in g.items() if k != 'params'}
                        for g in groups] for groups in self._param_groups(runner)]
        self.schedulers = [copy.deepcopy(s.state_dict()) for s in self._schedulers(runner)]

    @staticmethod
    def _param_groups(runner: Any) -> list:
        """The param groups the schedulers step: each optim wrapper's, which include its
        ``base_param_settings`` (the logged ``base_lr``) besides the optimizer's groups."""
        wrapper = runner.optim_wrapper
        wrappers = list(wrapper.values()) if hasattr(wrapper, 'values') else [wrapper]
        return [w.param_groups for w in wrappers]

    @staticmethod
    def _schedulers(runner: Any) -> list:
        scheds = runner.param_schedulers or []
        if isinstance(scheds, dict):
            return [s for group in scheds.values() for s in group]
        return list(scheds)

    def apply(self, runner: Any, epoch_length: Optional[int]) -> None:
        """Restore the config's hyperparameters and schedules, then step the schedulers through
        the ``runner.iter`` iterations (and ``runner.epoch`` epochs) already trained, in the order
        mmengine's ``ParamSchedulerHook`` steps them."""
        for groups, fresh in zip(self._param_groups(runner), self.groups):
            for group, values in zip(groups, fresh):
                group.update(copy.deepcopy(values))
        schedulers = self._schedulers(runner)
        for sched, state in zip(schedulers, self.schedulers):
            sched.load_state_dict(copy.deepcopy(state))
        by_iter = [s for s in schedulers if not s.by_epoch]
        by_epoch = [s for s in schedulers if s.by_epoch]
        epochs_done = 0
        for it in range(runner.iter):
            for sched in by_iter:
                sched.step()
            if by_epoch and epoch_length and (it + 1) % epoch_length == 0 \
                    and epochs_done < runner.epoch:
                for sched in by_epoch:
                    sched.step()
                epochs_done += 1
        for _ in range(epochs_done, runner.epoch if by_epoch else 0):
            for sched in by_epoch:
                sched.step()
