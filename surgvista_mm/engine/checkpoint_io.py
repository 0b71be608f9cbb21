"""Training checkpoints that load with ``torch.load(weights_only=True)``; finding a resumable one.

mmengine 0.10.7 pickles three kinds of Python objects into a checkpoint besides tensors: the
message hub's ``HistoryBuffer`` objects (whose pickle even stores bound methods through
``builtins.getattr``), numpy arrays inside them and numpy scalars (e.g. ``eta``, metric values).
``weights_only=True`` refuses all of them. This module

* writes checkpoints as plain containers: :func:`to_plain` turns a checkpoint dict into dicts,
  lists, tuples, tensors, numbers, strings and ``None`` only (``HistoryBuffer`` and arrays become
  tagged dicts of tensors, numpy scalars Python numbers), and :func:`from_plain` turns the tags
  back into the objects mmengine expects; such a file loads with a bare
  ``torch.load(path, weights_only=True)`` anywhere;
* reads every checkpoint with ``weights_only=True`` (:func:`load_checkpoint_file`). Checkpoints in
  mmengine's own format (written by other OpenMMLab projects, or by this project before it wrote
  plain files) are read with ``weights_only=True`` too, allowing exactly the types such a file
  holds (:data:`MMENGINE_SAFE_GLOBALS`) and, instead of ``builtins.getattr``, a function that only
  returns the four statistics methods of ``HistoryBuffer``. Nothing else is ever unpickled.
* :func:`is_complete_checkpoint` and :func:`find_resume_checkpoint` pick the checkpoint that an
  auto-resume uses when ``last_checkpoint`` is missing, empty or names a truncated file.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_TAG = '__surgvista_mm_type__'
_HISTORY_METHODS = ('min', 'max', 'current', 'mean')

__all__ = ['to_plain', 'from_plain', 'load_checkpoint_file', 'CheckpointLoadError',
           'MMENGINE_SAFE_GLOBALS', 'is_complete_checkpoint', 'find_resume_checkpoint',
           'has_training_state']


class CheckpointLoadError(RuntimeError):
    """A checkpoint is missing, truncated, or holds objects ``weights_only=True`` refuses."""


# --------------------------------------------------------------------------- plain containers
def to_plain(obj: Any, where: str = 'checkpoint') -> Any:
    """A copy of ``obj`` made of plain containers, tensors, numbers, strings and None.

    ``HistoryBuffer`` -> ``{tag: 'HistoryBuffer', 'max_length', 'log_history' (float64 tensor),
    'count_history' (int64 tensor)}``; ``numpy.ndarray`` -> ``{tag: 'ndarray', 'data': tensor}``;
    numpy scalars -> Python numbers; ``OrderedDict`` stays (``weights_only`` allows it), other
    mappings become dicts.

    Raises:
        TypeError: naming the entry (``where``) for any other kind of object, so a checkpoint
            that could not be loaded safely is never written.
    """
    if isinstance(obj, np.generic):  # before float: numpy.float64 subclasses float
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, complex, torch.Tensor,
                                       torch.dtype, torch.device, torch.Size)):
        return obj
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {_TAG: 'HistoryBuffer', 'max_length': int(obj.max_length),
                'log_history': torch.from_numpy(np.array(log, dtype=np.float64)),
                'count_history': torch.from_numpy(np.array(count, dtype=np.int64))}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return [to_plain(v, f'{where}[{i}]') for i, v in enumerate(obj.tolist())]
        return {_TAG: 'ndarray', 'data': torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, dict):
        items = [(k, to_plain(v, f'{where}[{k!r}]')) for k, v in obj.items()]
        return _same_mapping(obj, items, lambda m: to_plain(m, f'{where}._metadata'))
    if isinstance(obj, (list, tuple)):
        out = [to_plain(v, f'{where}[{i}]') for i, v in enumerate(obj)]
        return tuple(out) if isinstance(obj, tuple) else out
    if isinstance(obj, (set, frozenset)):
        return [to_plain(v, where) for v in sorted(obj, key=repr)]
    raise TypeError(f'{where}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be stored '
                    'in a checkpoint that loads with weights_only=True; store plain values '
                    '(numbers, strings, lists, dicts, tensors) instead')


def from_plain(obj: Any) -> Any:
    """Inverse of :func:`to_plain` for the tagged entries (other values are returned as is)."""
    if isinstance(obj, dict):
        tag = obj.get(_TAG)
        if tag == 'HistoryBuffer':
            # .cpu(): a resume loads with map_location='cuda'
            log = obj['log_history'].cpu().numpy().astype(np.float64)
            count = obj['count_history'].cpu().numpy().astype(np.int64)
            return HistoryBuffer(log.tolist(), count.tolist(), int(obj['max_length']))
        if tag == 'ndarray':
            return obj['data'].cpu().numpy()
        items = [(k, from_plain(v)) for k, v in obj.items()]
        return _same_mapping(obj, items, from_plain)
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(from_plain(v) for v in obj)
    return obj


def _same_mapping(obj: dict, items: list, convert: Callable[[Any], Any]) -> dict:
    """A dict (an ``OrderedDict`` for one, keeping a state dict's ``_metadata``) of ``items``."""
    if not isinstance(obj, OrderedDict):
        return dict(items)
    out = OrderedDict(items)
    if hasattr(obj, '_metadata'):  # module versions, read by nn.Module.load_state_dict
        out._metadata = convert(obj._metadata)  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- safe loading
def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling an mmengine checkpoint: mmengine's
    ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``;
    nothing else may be looked up."""
    if obj is HistoryBuffer and name in _HISTORY_METHODS:
        return getattr(HistoryBuffer, name)
    raise CheckpointLoadError(f'refusing getattr({obj!r}, {name!r}) in a checkpoint: only the '
                              f'statistics methods {_HISTORY_METHODS} of HistoryBuffer may be '
                              'named')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    try:  # numpy >= 2 (files written with numpy 1.x name 'numpy.core.multiarray')
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    out: List[Union[Callable, Tuple[Callable, str]]] = [np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        fn = getattr(multiarray, name)
        out += [(fn, f'numpy._core.multiarray.{name}'), (fn, f'numpy.core.multiarray.{name}')]
    # numpy >= 1.25 may pickle a dtype through its class, e.g. numpy.dtypes.Float64DType
    dtypes = getattr(np, 'dtypes', None)
    out += [getattr(dtypes, n) for n in dir(dtypes or object) if n.endswith('DType')
            and isinstance(getattr(dtypes, n), type)]
    return out


#: the exact globals an mmengine 0.10 checkpoint pickles, allowed when reading one
MMENGINE_SAFE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


def load_checkpoint_file(path: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and undo :func:`to_plain`.

    Plain files (this project's, converted weights, published state dicts) load as they are;
    mmengine-format files load with :data:`MMENGINE_SAFE_GLOBALS` allowed. Any other pickled
    object (code) is refused.

    Raises:
        FileNotFoundError: naming the file.
        CheckpointLoadError: naming the file and, when the file pickles objects, which ones.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path!r}')
    try:
        with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
            raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        detail = f'{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}'
        try:
            unsafe = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
                            - {'builtins.getattr'})
        except Exception:  # not a torch zip file (e.g. truncated): report the load error
            unsafe = []
        if unsafe:
            detail = (f'it pickles Python objects that are not weights ({", ".join(unsafe[:8])}'
                      f'{" ..." if len(unsafe) > 8 else ""}); loading them could run code')
        raise CheckpointLoadError(
            f'refused to load {path!r} with weights_only=True: {detail}. Checkpoints written by '
            'surgvista_mm and published weight files load without any option; convert other '
            'files to a plain state dict where they were made.') from exc
    return from_plain(raw)


# --------------------------------------------------------------------------- finding one
def is_complete_checkpoint(path: str) -> bool:
    """True when ``path`` is a whole torch zip checkpoint (its central directory is readable and
    it holds a ``data.pkl``); a file cut short by a crash or a full disk is not."""
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith('/data.pkl') or n == 'data.pkl' for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


_STEP = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint an auto-resume should use, and a note when ``last_checkpoint`` was unusable.

    ``work_dir/last_checkpoint`` names the latest checkpoint; when it is missing, empty, or names
    a missing or truncated file, the newest complete ``epoch_*.pth`` / ``iter_*.pth`` in
    ``work_dir`` (and in the folder ``last_checkpoint`` points to) is used instead: the highest
    number, or the latest written when both kinds are present.

    Returns:
        ``(path or None, note or None)``: no path means there is nothing to resume from.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip()
        if named and is_complete_checkpoint(named):
            return named, None
        problem = (f'{pointer} is empty' if not named else
                   f'{pointer} names {named!r}, which '
                   + ('does not exist' if not osp.exists(named) else 'is incomplete (truncated)'))
    else:
        problem = f'no {pointer}'
    folders = {osp.abspath(work_dir)}
    if named:
        folders.add(osp.abspath(osp.dirname(named) or work_dir))
    candidates = []
    for folder in sorted(folders):
        for path in glob.glob(osp.join(folder, '*.pth')):
            m = _STEP.match(osp.basename(path))
            if m and is_complete_checkpoint(path):
                candidates.append((m.group(1), int(m.group(2)), osp.getmtime(path), path))
    if not candidates:
        return None, (problem + ' and no complete epoch_*.pth / iter_*.pth'
                      if named or osp.isfile(pointer) else None)
    if len({kind for kind, *_ in candidates}) > 1:
        best = max(candidates, key=lambda c: (c[2], c[1]))
    else:
        best = max(candidates, key=lambda c: (c[1], c[2]))
    return best[3], f'{problem}; resuming from the newest complete checkpoint {best[3]}'


def has_training_state(checkpoint: dict) -> List[str]:
    """Names of the training-state entries (``optimizer``, ``param_schedulers``, ``meta``
    epoch/iter) a checkpoint lacks; empty when it can be resumed exactly."""
    missing = [k for k in ('optimizer', 'param_schedulers') if k not in checkpoint]
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'epoch' not in meta or 'iter' not in meta:
        missing.append("meta['epoch'/'iter']")
    return missing
