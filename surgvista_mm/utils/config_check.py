"""Loading configs with errors that name the file, and catching top-level key typos."""
from __future__ import annotations

import difflib
import os
from typing import Any, Optional

from mmengine.config import Config

# Top-level keys that mmengine's Runner.from_cfg and this project's tools read.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'cfg', 'custom_imports', 'runner_type', 'model_wrapper_cfg',
    'vis_backends', 'compile', 'allow_partial_resume')


class ConfigError(ValueError):
    """A config file is missing, unreadable or holds a misspelt key."""


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` with an error that names the file when it is missing or broken."""
    if not os.path.isfile(path):
        raise ConfigError(f'config file not found: {path!r}')
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:
        raise ConfigError(f'could not read config {path!r}: {type(exc).__name__}: {exc}') from exc
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_config(cfg: Any, path: str = '<config>') -> None:
    """Raise :class:`ConfigError` for a top-level key that looks like a misspelt Runner key.

    Configs may define helper variables at top level (``img_size = 224``), so unknown keys are
    fine; a key within a small edit distance of a Runner key (``optim_wraper``) is not, because
    the Runner would silently ignore it.
    """
    for key in cfg.keys():
        if key in RUNNER_KEYS:
            continue
        close = difflib.get_close_matches(key, RUNNER_KEYS, n=1, cutoff=0.85)
        if close:
            raise ConfigError(f'{path}: top-level key {key!r} is not used by the runner; did you '
                              f'mean {close[0]!r}?')
