"""Settings that the rest of a config follows at load time: ``${name}`` references, the class
list, the manifest pattern and the LR schedule's length.

:func:`follow_settings` runs in :func:`surgvista_mm.utils.load_config` after ``--cfg-options``
are merged, so an option given on the command line reaches every place that follows it:

* ``${name}`` in a string is replaced by the top-level setting ``name`` (``data_root='${data_root}'``
  takes the value itself, ``'${data_root}/maps.txt'`` the formatted string); a reference to a
  setting that is None or missing is an error naming the key that uses it;
* a dataset ``manifest`` holding ``*`` (``'manifests/*.json'``) is the one file it matches under
  the dataset's ``data_root``;
* the top-level ``classes`` (names, a ``classes.txt`` with one name per line, or a triplet map
  whose rows are the classes) fills every class count left None or unset: the datasets'
  ``classes`` / ``num_classes``, ``model.cls_head.num_classes``, the mixup / cutmix
  ``num_classes`` and the evaluators' ``num_classes``; a count set explicitly that differs is an
  error naming both keys (also without a ``classes`` setting: two different explicit counts);
* when ``train_cfg.max_epochs`` (``max_iters``) was changed by an option, every scheduler that
  ended at the old length ends at the new one (``T_max`` too); a schedule that still ends
  elsewhere than the training is logged as a warning with both numbers.

:func:`check_unused_options` reports ``--cfg-options`` that set a top-level variable nothing
reads once the file is built (``max_epochs``, ``data_root`` of a dataset base), with the keys to
set instead.
"""
from __future__ import annotations

import glob
import logging
import os.path as osp
import re
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

from mmengine.logging import print_log

from .config_check import ConfigError

_REF = re.compile(r'\$\{(\w+)\}')
# top-level variables this project's tools read besides the Runner's keys
TOOL_KEYS = ('total_batch', 'test_pipeline', 'classes')
_HINTS = {
    'max_epochs': 'train_cfg.max_epochs (the LR schedule follows it)',
    'max_iters': 'train_cfg.max_iters (the LR schedule follows it)',
    'num_classes': 'classes (names or a classes.txt; every class count follows it)',
}


class FollowError(ConfigError):
    """A setting cannot be followed, or an option sets nothing (see the module doc)."""


# --------------------------------------------------------------------------- walking a config
def _walk(node: Any, path: str = '') -> Iterator[Tuple[str, Any, Any, Any]]:
    """``(dotted path, container, key, value)`` for every leaf and branch below ``node``."""
    if isinstance(node, Mapping):
        items = [(str(k), k, v) for k, v in node.items()]
    elif isinstance(node, list):
        items = [(str(i), i, v) for i, v in enumerate(node)]
    else:
        return
    for name, key, value in items:
        sub = f'{path}.{name}' if path else name
        yield sub, node, key, value
        yield from _walk(value, sub)


def _top(cfg: Any) -> dict:
    return {k: cfg[k] for k in cfg.keys()} if not isinstance(cfg, dict) else cfg


def referenced_settings(cfg: Any) -> set:
    """Names used as ``${name}`` anywhere in ``cfg``."""
    names = set()
    for _, _, _, value in _walk(_top(cfg)):
        if isinstance(value, str):
            names.update(_REF.findall(value))
    return names


# --------------------------------------------------------------------------- ${name}
def _substitute(cfg: Any, path: str) -> None:
    top = _top(cfg)
    for where, parent, key, value in list(_walk(top)):
        if not isinstance(value, str) or '${' not in value:
            continue
        names = _REF.findall(value)
        for name in names:
            if top.get(name) is None:
                raise FollowError(
                    f'{path}: {where} uses ${{{name}}} but {name} is not set: give it with '
                    f'--cfg-options {name}=...')
        whole = _REF.fullmatch(value)
        new = top[whole.group(1)] if whole else _REF.sub(lambda m: str(top[m.group(1)]), value)
        if parent is top:
            cfg[key] = top[key] = new
        else:
            parent[key] = new


# --------------------------------------------------------------------------- manifests
def _loader_datasets(cfg: Any) -> Iterator[Tuple[str, Any]]:
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        spec = cfg.get(loader)
        ds = spec.get('dataset') if isinstance(spec, Mapping) else None
        if isinstance(ds, Mapping) and 'type' in ds:
            yield f'{loader}.dataset', ds


def _resolve_manifests(cfg: Any, path: str) -> None:
    for where, ds in _loader_datasets(cfg):
        manifest = ds.get('manifest')
        if not isinstance(manifest, str) or '*' not in manifest:
            continue
        root = ds.get('data_root')
        pattern = osp.join(root, manifest) if root and not osp.isabs(manifest) else manifest
        found = sorted(glob.glob(pattern))
        if len(found) != 1:
            what = 'no file' if not found else f'{len(found)} files ({", ".join(found)})'
            raise FollowError(f'{path}: {where}.manifest {manifest!r} matches {what} under '
                              f'{root!r}; give the one to use: --cfg-options '
                              f'{where}.manifest=manifests/NAME.json (and for the other loaders)')
        ds['manifest'] = osp.relpath(found[0], root) if root and not osp.isabs(manifest) \
            else found[0]


# --------------------------------------------------------------------------- classes
def read_class_setting(value: Any, key: str = 'classes') -> Tuple[Optional[List[str]], int]:
    """``(names or None, count)`` of a ``classes`` setting.

    Args:
        value: a list of names; a path to a text file with one name per line (blank lines
            skipped; names may contain spaces); or a triplet map (rows ``IVT,I,V,T,IV,IT``,
            one class per row, no names).
        key: the config key, for errors.
    """
    if isinstance(value, (list, tuple)):
        names = [str(v) for v in value]
    elif isinstance(value, str):
        if not osp.isfile(value):
            raise FollowError(f'{key}: class file not found: {value!r}')
        with open(value, encoding='utf-8-sig') as f:
            lines = [ln.strip() for ln in f.read().splitlines()]
        data = [ln.split('#', 1)[0].strip() for ln in lines]
        data = [d for d in data if d]
        if data and all(re.fullmatch(r'\d+(\s*,\s*\d+){5}', d) for d in data):
            from surgvista_mm.evaluation.functional.triplet import load_triplet_map
            try:
                return None, len(load_triplet_map(value))
            except ValueError as e:
                raise FollowError(f'{key}: {e}') from None
        names = [ln for ln in lines if ln]
    else:
        raise FollowError(f'{key}: expected a list of class names or a path to a classes.txt, '
                          f'got {value!r}')
    if not names or len(set(names)) != len(names):
        raise FollowError(f'{key}: expected distinct class names, got {names!r}')
    return names, len(names)


def _accepts(registry: Any, spec: Mapping, arg: str) -> Tuple[bool, Any]:
    """Whether ``spec``'s class takes ``arg``, and its default (None when required)."""
    import inspect

    from .config_check import _resolve
    target = _resolve(registry, spec.get('type'))
    if target is None:
        return False, None
    try:
        fn = target.__init__ if inspect.isclass(target) else target
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False, None
    if arg not in params:
        return False, None
    default = params[arg].default
    return True, None if default is inspect.Parameter.empty else default


def _class_sites(cfg: Any) -> List[Tuple[str, Any, str, str, Any]]:
    """``(key, container, field, 'names' | 'count', constructor default)`` of every place that
    holds a class list or count."""
    from surgvista_mm import registry as reg
    sites = []
    for where, ds in _loader_datasets(cfg):
        for field, kind in (('classes', 'names'), ('num_classes', 'count')):
            ok, default = _accepts(reg.DATASETS, ds, field)
            if ok:
                sites.append((f'{where}.{field}', ds, field, kind, default))
                break
    model = cfg.get('model')
    head = model.get('cls_head') if isinstance(model, Mapping) else None
    if isinstance(head, Mapping) and 'type' in head and _accepts(reg.MODELS, head,
                                                                 'num_classes')[0]:
        sites.append(('model.cls_head.num_classes', head, 'num_classes', 'count', None))
    pre = model.get('data_preprocessor') if isinstance(model, Mapping) else None
    blending = pre.get('blending') if isinstance(pre, Mapping) else None
    if isinstance(blending, Mapping):
        augments = blending.get('augments')
        items = (list(enumerate(augments)) if isinstance(augments, (list, tuple))
                 else [(None, blending)])
        for i, aug in items:
            if not isinstance(aug, Mapping):
                continue
            if 'num_classes' in aug or ('type' in aug
                                        and _accepts(reg.MODELS, aug, 'num_classes')[0]):
                where = ('model.data_preprocessor.blending' if i is None
                         else f'model.data_preprocessor.blending.augments.{i}')
                sites.append((f'{where}.num_classes', aug, 'num_classes', 'count', None))
    for name in ('val_evaluator', 'test_evaluator'):
        spec = cfg.get(name)
        metrics = spec if isinstance(spec, (list, tuple)) else [spec]
        for i, metric in enumerate(metrics):
            if not isinstance(metric, Mapping) or 'type' not in metric:
                continue
            where = f'{name}.{i}' if isinstance(spec, (list, tuple)) else name
            ok, default = _accepts(reg.METRICS, metric, 'num_classes')
            if ok:
                sites.append((f'{where}.num_classes', metric, 'num_classes', 'count', default))
            if metric.get('class_names') is not None:
                sites.append((f'{where}.class_names', metric, 'class_names', 'names', None))
    return sites


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (list, tuple)) else int(value)


def follow_classes(cfg: Any, path: str = '<config>') -> Optional[int]:
    """Fill and check every class count from the top-level ``classes`` (see the module doc).

    Returns:
        the number of classes, or None for a config without classes (pre-training).
    """
    sites = _class_sites(cfg)
    setting = cfg.get('classes')
    if setting is not None:
        names, num = read_class_setting(setting, f'{path}: classes')
        told = repr(setting) if isinstance(setting, str) else f'{num} names'
        for key, holder, field, kind, _ in sites:
            value = holder.get(field)
            if value is None:
                if kind == 'names' and names is None:
                    raise FollowError(f'{path}: {key} needs class names but classes '
                                      f'({told}) gives only a count ({num})')
                holder[field] = tuple(names) if kind == 'names' else num
            elif _count(value) != num:
                raise FollowError(
                    f'{path}: {key} has {_count(value)} classes but classes ({told}) has '
                    f'{num}: set {key}=None to follow classes, or make them agree')
        return num
    seen: List[Tuple[str, int]] = []
    for key, holder, field, _, default in sites:
        value = holder[field] if field in holder else default
        if value is None:
            if field in holder and key.startswith('model.'):
                raise FollowError(f'{path}: {key} is None and there is no top-level classes '
                                  'setting for it to follow')
            continue
        seen.append((key, _count(value)))
        for other, n in seen:
            if n != seen[-1][1]:
                raise FollowError(f'{path}: {other} has {n} classes but {key} has '
                                  f'{seen[-1][1]}: set the top-level classes (names or a '
                                  'classes.txt) and None in both to follow it, or make them '
                                  'agree')
    return seen[0][1] if seen else None


# --------------------------------------------------------------------------- schedules
def _schedulers(cfg: Any) -> List[Mapping]:
    spec = cfg.get('param_scheduler')
    if isinstance(spec, Mapping):
        return [spec]
    return [s for s in (spec or []) if isinstance(s, Mapping)]


def follow_schedule(cfg: Any, before: Mapping[str, Any], path: str = '<config>') -> List[str]:
    """Move the schedulers' ``end`` (and ``T_max``) with an overridden ``train_cfg.max_epochs``
    / ``max_iters``; warn when the schedule and the training still end apart.

    Args:
        before: ``train_cfg``'s ``max_epochs`` / ``max_iters`` before the options, and
            ``spans``: ``{i: end - begin}`` of each scheduler then (from
            :func:`schedule_lengths`); a ``T_max`` equal to its span follows the new end.

    Returns:
        the messages logged (changes at INFO, remaining mismatches at WARNING).
    """
    train_cfg = cfg.get('train_cfg') or {}
    notes = []
    for key, by_epoch in (('max_epochs', True), ('max_iters', False)):
        new, old = train_cfg.get(key), before.get(key)
        if new is None:
            continue
        scheds = [(i, s) for i, s in enumerate(_schedulers(cfg))
                  if bool(s.get('by_epoch', True)) == by_epoch]
        spans = before.get('spans') or {}
        if old is not None and new != old:
            for i, s in scheds:
                if s.get('end') != old:
                    continue
                begin = s.get('begin', 0)
                if begin >= new:
                    notes.append(f'{path}: param_scheduler.{i} ({s.get("type")}) begins at '
                                 f'{begin}, not before train_cfg.{key}={new}: it never runs '
                                 '(the run ends inside the warm-up)')
                    print_log(notes[-1], logger='current', level=logging.WARNING)
                    continue
                msg = f'param_scheduler.{i} ({s.get("type")}): end {old} -> {new}'
                s['end'] = new
                t_max = s.get('T_max')
                if t_max is not None and t_max == spans.get(i, old - begin):
                    s['T_max'] = new - begin
                    msg += f', T_max {t_max} -> {new - begin}'
                notes.append(f'{path}: {msg} (follows train_cfg.{key})')
                print_log(notes[-1], logger='current', level=logging.INFO)
        ends = [s['end'] for _, s in scheds if isinstance(s.get('end'), int)]
        if ends and max(ends) != new:
            notes.append(f'{path}: the LR schedule ends at {key[4:]} {max(ends)} but training '
                         f'stops at train_cfg.{key}={new}: the last LR is not the schedule\'s '
                         'final value')
            print_log(notes[-1], logger='current', level=logging.WARNING)
    return notes


def schedule_lengths(cfg: Any) -> dict:
    """What :func:`follow_schedule` compares with: ``train_cfg``'s ``max_epochs`` /
    ``max_iters`` and each scheduler's ``end - begin`` (``spans``), before the options."""
    train_cfg = cfg.get('train_cfg') or {}
    spans = {i: s['end'] - s.get('begin', 0) for i, s in enumerate(_schedulers(cfg))
             if isinstance(s.get('end'), int)}
    return dict(max_epochs=train_cfg.get('max_epochs'), max_iters=train_cfg.get('max_iters'),
                spans=spans)


# --------------------------------------------------------------------------- the entry point
def follow_settings(cfg: Any, path: str = '<config>',
                    before: Optional[Mapping[str, Any]] = None) -> None:
    """Apply every followed setting to ``cfg`` in place (see the module docstring).

    Args:
        cfg: the config, ``--cfg-options`` merged.
        path: the config file, for errors.
        before: :func:`schedule_lengths` before the options (None: they changed nothing).

    Raises:
        FollowError: naming the key(s) and the values.
    """
    _substitute(cfg, path)
    _resolve_manifests(cfg, path)
    follow_classes(cfg, path)
    follow_schedule(cfg, before or {}, path)


def check_unused_options(cfg: Any, options: Mapping[str, Any], runner_keys: Sequence[str],
                         path: str = '<config>') -> None:
    """Refuse an option that sets a top-level variable nothing reads once the file is built.

    A config file's helper variables (``max_epochs = 50``, ``data_root = ...``) are used while
    the file is read; afterwards only the Runner's keys, :data:`TOOL_KEYS` and ``${name}``
    references read them, so ``--cfg-options max_epochs=2`` would change nothing.

    Raises:
        FollowError: naming the option and the keys to set instead.
    """
    top = _top(cfg)
    used = set(runner_keys) | set(TOOL_KEYS) | referenced_settings(cfg)
    for key in options:
        if '.' in key or key not in top or key in used or key.startswith('_'):
            continue
        old = top[key]
        paths = [(p, k, v) for p, _, k, v in _walk(top) if '.' in p and not p.startswith('_')]
        where = [p for p, k, v in paths if str(k) == key and v == old]
        if isinstance(old, str) and old:  # the same string, or a path under it
            where += [p for p, k, v in paths if str(k) != key and isinstance(v, str)
                      and (v == old or v.startswith(old + '/'))]
        hint = _HINTS.get(key) or (', '.join(where[:6]) + (' ...' if len(where) > 6 else '')
                                   if where else 'the keys that hold its value')
        raise FollowError(f'{path}: --cfg-options {key}: `{key}` is a variable of the config '
                          f'file, not used after the file was built (changing it changes '
                          f'nothing); set {hint} instead')


def replace_sources(cfg: Any, manifests: Sequence[str], path: str = '<config>') -> List[dict]:
    """Replace a pre-training config's ``train_dataloader.dataset.sources`` with one source per
    manifest (``tools/train.py --sources``): ``dict(name=<file stem>, manifest=<absolute path>)``,
    every video of each manifest (no include / exclude; the benchmark test-video check still runs
    for a manifest named after a benchmark).

    Raises:
        FollowError: the config has no ``sources`` (not a pre-training config), a manifest file
            is missing, or two manifests have the same file stem.
    """
    ds = (cfg.get('train_dataloader') or {}).get('dataset')
    if not isinstance(ds, Mapping) or 'sources' not in ds:
        raise FollowError(f'{path}: --sources replaces train_dataloader.dataset.sources, which '
                          'this config does not have (a pre-training config has)')
    out, names = [], {}
    for m in manifests:
        if not osp.isfile(m):
            raise FollowError(f'--sources: manifest not found: {m!r} (tools/build_manifest.py or '
                              'tools/data/extract_frames.py write one)')
        name = osp.splitext(osp.basename(m))[0]
        if name == 'manifest':  # extract_frames.py's DIR/manifest.json: name it by its folder
            name = osp.basename(osp.dirname(osp.abspath(m)))
        if name in names:
            raise FollowError(f'--sources: {m!r} and {names[name]!r} would both be source '
                              f'{name!r}; rename one')
        names[name] = m
        out.append(dict(name=name, manifest=osp.abspath(m)))
    ds['sources'] = out
    ds['data_root'] = None  # it only prefixed the replaced sources' relative paths
    return out
