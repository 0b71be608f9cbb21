"""Loading checkpoints with ``torch.load(weights_only=True)``: the one safe loader of the project.

mmengine 0.10.7 pickles three kinds of Python objects into a checkpoint besides tensors: the
message hub's ``HistoryBuffer`` objects (whose pickle even stores bound methods through
``builtins.getattr``), numpy arrays inside them and numpy scalars (e.g. ``eta``, metric values).
``weights_only=True`` refuses all of them. This module

* converts checkpoints to plain containers: :func:`to_plain` turns a checkpoint dict into dicts,
  lists, tuples, tensors, numbers, strings and ``None`` only (``HistoryBuffer`` and arrays become
  tagged dicts of tensors, numpy scalars Python numbers), and :func:`from_plain` turns the tags
  back into the objects mmengine expects; such a file loads with a bare
  ``torch.load(path, weights_only=True)`` anywhere;
* reads every checkpoint with ``weights_only=True`` (:func:`load_checkpoint_file`). Checkpoints in
  mmengine's own format (written by other OpenMMLab projects, or by this project before it wrote
  plain files) are read with ``weights_only=True`` too, allowing exactly the types such a file
  holds (:data:`MMENGINE_SAFE_GLOBALS`) and, instead of ``builtins.getattr``, a function that only
  returns the four statistics methods of ``HistoryBuffer``; published weight files may also hold
  an ``argparse.Namespace`` (plain values). Nothing else is ever unpickled.

It lives in :mod:`surgvista_mm.checkpoint` (no import of ``surgvista_mm.engine`` or
``surgvista_mm.models``) so that the backbone, inference and the engine share it;
:mod:`surgvista_mm.engine.checkpoint_io` re-exports its names.
"""
from __future__ import annotations

import argparse
import os.path as osp
from collections import OrderedDict
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_TAG = '__surgvista_mm_type__'
_HISTORY_METHODS = ('min', 'max', 'current', 'mean')

__all__ = ['to_plain', 'from_plain', 'load_checkpoint_file', 'load_external_weights',
           'CheckpointLoadError', 'MMENGINE_SAFE_GLOBALS']


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


#: published weight files (e.g. SurgVISTA's) also pickle their ``args`` (plain values)
_LOAD_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [argparse.Namespace,
                                                              *MMENGINE_SAFE_GLOBALS]
_ALLOWED_NAMES = {'builtins.getattr', 'argparse.Namespace'}


def _load_weights_only(path: str, map_location: Any, allowed: list, allowed_names: set,
                       what: str) -> Any:
    """``torch.load(path, weights_only=True)`` with exactly the globals ``allowed``.

    Raises:
        FileNotFoundError: naming the file.
        CheckpointLoadError: naming the file and, when the file pickles objects outside
            ``allowed_names`` / ``allowed``, which ones.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        detail = f'{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}'
        try:
            unsafe = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
                            - allowed_names)
        except Exception:  # not a torch zip file (e.g. truncated): report the load error
            unsafe = []
        if unsafe:
            detail = (f'it pickles Python objects that are not weights ({", ".join(unsafe[:8])}'
                      f'{" ..." if len(unsafe) > 8 else ""}); loading them could run code')
        raise CheckpointLoadError(
            f'refused to load {path!r} with weights_only=True: {detail}. Checkpoints written by '
            'surgvista_mm and published weight files load without any option; convert other '
            'files to a plain state dict where they were made.') from exc


def load_checkpoint_file(path: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and undo :func:`to_plain`.

    Plain files (this project's, converted weights, published state dicts) load as they are;
    mmengine-format files load with :data:`MMENGINE_SAFE_GLOBALS` allowed
    (and ``argparse.Namespace``). Any other pickled
    object (code) is refused.

    Raises:
        FileNotFoundError: naming the file.
        CheckpointLoadError: naming the file and, when the file pickles objects, which ones.
    """
    return from_plain(_load_weights_only(path, map_location, _LOAD_GLOBALS, _ALLOWED_NAMES,
                                         'checkpoint'))


def load_external_weights(path: str, map_location: Any = 'cpu') -> Any:
    """Load a weight file obtained from elsewhere (published, converted, a teacher) with
    ``weights_only=True``: tensors and plain values, plus ``argparse.Namespace`` (published
    research checkpoints such as SurgVISTA's store their options as ``args``). mmengine's
    training-state objects are not allowed here; nothing else is unpickled (it could run code).

    Raises:
        FileNotFoundError: naming the file.
        CheckpointLoadError: naming the file and what it pickles.
    """
    return _load_weights_only(path, map_location, [argparse.Namespace], {'argparse.Namespace'},
                              'weight file')
