"""Loading configs with errors that name the file, and catching bad keys and values early.

Everything here runs before the Runner is built (and so before it logs the config dump):

* :func:`load_config` reads the file and applies ``--cfg-options``, checking each override's
  value against the type of the value it replaces (:func:`check_cfg_options`);
* :func:`check_config` catches misspelt top-level keys, a non-positive ``max_epochs`` /
  ``max_iters``, and misspelt arguments inside ``model``, datasets, pipelines, evaluators,
  hooks, loops and the optimizer, by comparing each ``dict(type=...)``'s keys with the target
  class's constructor (:func:`check_module_keys`); the nearest valid name is suggested
  (difflib).
"""
from __future__ import annotations

import argparse
import difflib
import inspect
import os
from typing import Any, Iterable, List, Mapping, Optional

from mmengine.config import Config, DictAction

# Top-level keys that mmengine's Runner.from_cfg and this project's tools read.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'cfg', 'custom_imports', 'runner_type', 'model_wrapper_cfg',
    'vis_backends', 'compile', 'allow_partial_resume', 'resume_allow_model_change',
    'resume_override_optim', 'allow_tf32', 'strategy')
# keys a registry's build function consumes itself (never passed to the constructor)
_BUILDER_KEYS = {'type', '_scope_'}


class ConfigError(ValueError):
    """A config file is missing, unreadable or holds a misspelt key or a mistyped value."""


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` with an error naming an item that is not ``KEY=VALUE``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        for item in values if isinstance(values, list) else [values]:
            key = item.split('=', 1)[0]
            if '=' not in item or not key.strip():
                parser.error(f'{option_string or "--cfg-options"}: {item!r} is not KEY=VALUE '
                             '(e.g. optim_wrapper.optimizer.lr=1e-4)')
        super().__call__(parser, namespace, values, option_string)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` plus checked ``--cfg-options``, then the settings the config follows
    (``${name}``, ``classes``, the schedule's length: ``config_follow.follow_settings``); errors
    name the file or the key."""
    return apply_cfg_options(read_config(path), cfg_options, path)


def read_config(path: str) -> Config:
    """``Config.fromfile`` with a :class:`ConfigError` naming a missing or unreadable file; the
    file as written (no options, no followed settings: :func:`apply_cfg_options` does those)."""
    if not os.path.isfile(path):
        raise ConfigError(f'config file not found: {path!r}')
    try:
        return Config.fromfile(path)
    except Exception as exc:
        raise ConfigError(f'could not read config {path!r}: {type(exc).__name__}: {exc}') from exc


def apply_cfg_options(cfg: Config, cfg_options: Optional[dict], path: str) -> Config:
    """The rest of :func:`load_config` on a :func:`read_config` result (changed in place and
    returned): check and merge ``cfg_options`` (unused top-level variables refused), then
    follow the settings. Callers that parse a file once and apply several sets of options
    (benchmark suites) pass a copy of the parsed file."""
    from .config_follow import check_unused_options, follow_settings, schedule_lengths
    before = schedule_lengths(cfg)
    if cfg_options:
        cfg_options = check_cfg_options(cfg, cfg_options)
        check_unused_options(cfg, cfg_options, RUNNER_KEYS, path)
        cfg.merge_from_dict(cfg_options)
    follow_settings(cfg, path, before)
    return cfg


# --------------------------------------------------------------------------- --cfg-options
_MISSING = object()


def _lookup(cfg: Any, key: str) -> tuple:
    """``(value or _MISSING, deepest existing parent, its dotted path, first missing part)``."""
    node = cfg if isinstance(cfg, Mapping) else {k: cfg[k] for k in cfg.keys()}  # a Config
    path: List[str] = []
    parent: Any = node
    for part in key.split('.'):
        if isinstance(node, Mapping) and part in node:
            parent, node = node, node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            parent, node = node, node[int(part)]
        else:
            return _MISSING, node, '.'.join(path), part
        path.append(part)
    return node, parent, '.'.join(path[:-1]), path[-1]


def _describe(value: Any) -> str:
    return f'{type(value).__name__} {value!r}'


def _checked_value(key: str, old: Any, new: Any) -> Any:
    """``new`` (a string for a string entry) or a ConfigError naming the expected type."""
    if old is None or new is None:
        return new
    if key == 'classes' and isinstance(new, (str, list, tuple)):
        return new  # names or a classes file (config_follow.read_class_setting)
    expected = None
    if isinstance(old, bool):
        expected = None if isinstance(new, bool) else 'true or false'
    elif isinstance(old, int):
        expected = None if isinstance(new, int) and not isinstance(new, bool) else 'an integer'
    elif isinstance(old, float):
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
        expected = None if ok else 'a number'
    elif isinstance(old, str):
        if isinstance(new, (int, float)) and not isinstance(new, bool):
            return str(new)  # the command line cannot spell a numeric-looking string otherwise
        expected = None if isinstance(new, str) else 'a string'
    elif isinstance(old, (list, tuple)):
        expected = None if isinstance(new, (list, tuple)) else 'a list, e.g. [1,2]'
    elif isinstance(old, Mapping):
        expected = None if isinstance(new, Mapping) else 'a dict (or None)'
    if expected is not None:
        raise ConfigError(f'--cfg-options {key}: expected {expected} (the config has '
                          f'{old!r}), got {_describe(new)}')
    return new


def check_cfg_options(cfg: Any, options: Mapping[str, Any]) -> dict:
    """Check ``--cfg-options`` against ``cfg`` before they are merged.

    An override must have the type of the value it replaces (an int may replace a float; any
    value may replace None, None any value; a number given for a string entry becomes that
    string). A new key next to a similar existing one of an untyped dict (``env_cfg.dist_cgf``)
    is reported with the existing name; keys of ``dict(type=...)`` entries are checked against
    the class's constructor by :func:`check_config` instead (``dtype`` next to ``type`` is
    fine for ``AmpOptimWrapper``).

    Returns:
        the options, with numbers given for string entries turned into strings.

    Raises:
        ConfigError: naming the key, the expected type and the given value.
    """
    out = {}
    for key, new in options.items():
        old, parent, parent_path, part = _lookup(cfg, key)
        if old is _MISSING:
            if isinstance(parent, Mapping) and 'type' not in parent:
                close = difflib.get_close_matches(part, [str(k) for k in parent], n=1,
                                                  cutoff=0.75)
                if close:
                    where = parent_path or 'the top level'
                    raise ConfigError(f'--cfg-options {key}: {where} has no key {part!r}; did '
                                      f'you mean {close[0]!r}?')
            out[key] = new
            continue
        out[key] = _checked_value(key, old, new)
    return out


# --------------------------------------------------------------------------- whole config
def check_config(cfg: Any, path: str = '<config>') -> None:
    """Raise :class:`ConfigError` for a config the Runner would misread or fail on late.

    * a top-level key within a small edit distance of a Runner key (``optim_wraper``): the
      Runner would silently ignore it (configs may define other helper variables at top level);
    * ``train_cfg.max_epochs`` / ``max_iters`` that is not a positive integer;
    * an argument inside ``model``, the datasets and their pipelines, the evaluators or the hooks
      that the target class does not take (:func:`check_module_keys`).
    """
    for key in cfg.keys():
        if key in RUNNER_KEYS:
            continue
        close = difflib.get_close_matches(key, RUNNER_KEYS, n=1, cutoff=0.85)
        if close:
            raise ConfigError(f'{path}: top-level key {key!r} is not used by the runner; did you '
                              f'mean {close[0]!r}?')
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        value = train_cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value <= 0):
            raise ConfigError(f'{path}: train_cfg.{key} must be a positive integer, got '
                              f'{value!r}')
    check_module_keys(cfg, path)


def _constructor_args(obj: Any) -> Optional[List[str]]:
    """Keyword names ``obj`` (a class or function) accepts, or None when it takes ``**kwargs``."""
    try:
        sig = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError):
        return None
    params = [p for p in sig.parameters.values() if p.name != 'self']
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _resolve(registry: Any, type_name: Any) -> Any:
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    try:
        return registry.get(type_name)
    except Exception:  # unknown or not importable here: building will report it
        return None


def _check_module(spec: Any, registry: Any, where: str, path: str,
                  nested: Optional[Mapping[str, Any]] = None,
                  builder_keys: Iterable[str] = ()) -> None:
    """Check ``spec`` (a ``dict(type=...)``) against its class; recurse into ``nested`` keys
    (key -> registry) and, for models, into every sub-dict with a ``type``."""
    if not isinstance(spec, Mapping) or 'type' not in spec:
        return
    target = _resolve(registry, spec['type'])
    if target is None:
        return
    args = _constructor_args(target)
    if args is not None:
        for key in spec:
            if key in _BUILDER_KEYS or key in args or key in builder_keys:
                continue
            close = difflib.get_close_matches(str(key), args, n=1, cutoff=0.6)
            hint = f'did you mean {close[0]!r}?' if close else f'it takes {sorted(args)}'
            raise ConfigError(f'{path}: {where}.{key}: {spec["type"]} has no argument {key!r}; '
                              f'{hint}')
    for key, value in spec.items():
        if key == 'init_cfg':  # weight initialisers live in another registry
            continue
        sub = (nested or {}).get(key, registry if nested is None else None)
        if sub is None:
            continue
        items: Iterable = value if isinstance(value, (list, tuple)) else [value]
        for i, item in enumerate(items):
            suffix = f'[{i}]' if isinstance(value, (list, tuple)) else ''
            _check_module(item, sub, f'{where}.{key}{suffix}', path, nested)


def check_module_keys(cfg: Any, path: str = '<config>') -> None:
    """Compare every ``dict(type=...)`` of the model, the datasets, pipelines, samplers,
    evaluators, hooks, loops, the optimizer wrapper and its optimizer with the constructor of
    the class it names.

    Classes taking ``**kwargs`` and types that do not resolve are skipped (the build reports
    those); ``init_cfg`` is not inspected. Raises :class:`ConfigError` naming the config path of
    the unknown argument and the nearest valid one.
    """
    from mmengine.registry import LOOPS, OPTIMIZERS

    from surgvista_mm import registry as reg
    datasets = dict(dataset=reg.DATASETS, datasets=reg.DATASETS, pipeline=reg.TRANSFORMS,
                    transforms=reg.TRANSFORMS)
    _check_module(cfg.get('model'), reg.MODELS, 'model', path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        spec = cfg.get(loader) or {}
        if isinstance(spec, Mapping):
            _check_module(spec.get('dataset'), reg.DATASETS, f'{loader}.dataset', path,
                          datasets)
            _check_module(spec.get('sampler'), reg.DATA_SAMPLERS, f'{loader}.sampler', path, {})
    for evaluator in ('val_evaluator', 'test_evaluator'):
        spec = cfg.get(evaluator)
        for i, metric in enumerate(spec if isinstance(spec, (list, tuple)) else [spec]):
            _check_module(metric, reg.METRICS, f'{evaluator}[{i}]' if isinstance(
                spec, (list, tuple)) else evaluator, path, {})
    # the optimizer-wrapper builder consumes constructor / paramwise_cfg itself
    _check_module(cfg.get('optim_wrapper'), reg.OPTIM_WRAPPERS, 'optim_wrapper', path,
                  dict(optimizer=OPTIMIZERS), builder_keys=('constructor', 'paramwise_cfg'))
    for loop in ('train_cfg', 'val_cfg', 'test_cfg'):
        _check_module(cfg.get(loop), LOOPS, loop, path, {})
    for name, hook in (cfg.get('default_hooks') or {}).items():
        _check_module(hook, reg.HOOKS, f'default_hooks.{name}', path, {})
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        _check_module(hook, reg.HOOKS, f'custom_hooks[{i}]', path, {})


def check_init_checkpoints(cfg: Any, path: str = '<config>') -> None:
    """Every ``init_cfg=dict(type='Pretrained', checkpoint=FILE)`` in ``model`` names an existing
    file: checked before the Runner is built (and logs the config), not at ``init_weights``."""
    def walk(node: Any, where: str) -> None:
        if isinstance(node, Mapping):
            init = node.get('init_cfg')
            if isinstance(init, Mapping) and init.get('type') == 'Pretrained':
                ckpt = init.get('checkpoint')
                if isinstance(ckpt, str) and '://' not in ckpt and not os.path.isfile(ckpt):
                    # a template's `pretrained = ...` setting (``${pretrained}``) is named as such
                    key = ('pretrained' if cfg.get('pretrained') == ckpt
                           else f'{where}.init_cfg.checkpoint')
                    raise ConfigError(
                        f'{path}: {where}.init_cfg.checkpoint: file not found: {ckpt!r} (give '
                        f'--cfg-options {key}=PATH, or {where}.init_cfg=None to start from '
                        'random weights)')
            for key, value in node.items():
                walk(value, f'{where}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{where}.{i}')
    walk(cfg.get('model'), 'model')
