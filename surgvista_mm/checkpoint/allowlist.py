"""Loading weight files with ``weights_only=True`` and a small allow-list of plain-data globals.

A checkpoint written by this project's own runs (mmengine 0.10.x ``epoch_N.pth`` / ``best_*.pth``)
holds, next to its ``state_dict``, a ``message_hub`` of ``HistoryBuffer`` objects and NumPy
arrays/scalars, which ``torch.load(weights_only=True)`` refuses. :func:`load_checkpoint_allowlisted`
reads such files **without** general unpickling: it lists the globals the file names, refuses any
that is not in :data:`ALLOWED_GLOBALS`, and loads with ``weights_only=True`` and exactly those
globals allowed. ``builtins.getattr`` (which mmengine's ``HistoryBuffer`` pickles to restore its
statistics methods) is replaced by :func:`_history_buffer_getattr`, which only returns public
functions of ``HistoryBuffer`` itself.

Plain tensor files and published checkpoints (tensors, plain values, ``argparse.Namespace``) load
exactly as with :func:`surgvista_mm.compat.load_external_weights`.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
from typing import Any, Callable, Dict, List, Tuple, Union

import torch

__all__ = ['ALLOWED_GLOBALS', 'load_checkpoint_allowlisted']

_HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'

#: Globals a weight file may name (plain data only). ``builtins.getattr`` is substituted.
ALLOWED_GLOBALS: Tuple[str, ...] = (
    'argparse.Namespace',
    _HISTORY_BUFFER,
    'builtins.getattr',
    'numpy.ndarray',
    'numpy.dtype',
    'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'numpy._core.multiarray.scalar',
    'collections.OrderedDict',
)


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public functions of mmengine's ``HistoryBuffer`` class."""
    from mmengine.logging import HistoryBuffer
    if obj is not HistoryBuffer or name.startswith('_'):
        raise pickle_error(f'getattr({obj!r}, {name!r}) is not allowed')
    value = getattr(HistoryBuffer, name)
    if not inspect.isfunction(value):
        raise pickle_error(f'HistoryBuffer.{name} is not a function')
    return value


def pickle_error(message: str) -> Exception:
    import pickle
    return pickle.UnpicklingError(message)


def _resolve(name: str) -> Any:
    if name == 'builtins.getattr':
        return (_history_buffer_getattr, 'builtins.getattr')
    if name.startswith('numpy.dtypes.') and name.endswith('DType'):
        import numpy.dtypes as np_dtypes
        return getattr(np_dtypes, name.rsplit('.', 1)[1])
    if name == 'argparse.Namespace':
        return argparse.Namespace
    module, attr = name.rsplit('.', 1)
    return getattr(importlib.import_module(module), attr)


def _is_allowed(name: str) -> bool:
    return name in ALLOWED_GLOBALS or (name.startswith('numpy.dtypes.')
                                       and name.endswith('DType'))


def load_checkpoint_allowlisted(path: str, map_location: Union[str, torch.device] = 'cpu'
                                ) -> Dict[str, Any]:
    """Load ``path`` with ``weights_only=True``, allowing only the plain-data globals above.

    Returns:
        The loaded object (for an mmengine checkpoint: a dict with ``state_dict``, ``meta``,
        ``message_hub``, ...).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        RuntimeError: naming the file and the refused global(s), or the load error.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'weight file not found: {path!r}')
    try:
        names: List[str] = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # not a zip checkpoint (legacy format) or a damaged file
        raise RuntimeError(f'cannot read {path!r} as a torch checkpoint ({type(exc).__name__}: '
                           f'{exc})') from exc
    refused = [n for n in names if not _is_allowed(n)]
    if refused:
        raise RuntimeError(f'{path!r} names globals outside the allow-list of plain data '
                           f'({", ".join(sorted(refused))}); it is not loaded. Convert it with '
                           'tools/convert_checkpoint.py in an environment you trust.')
    allowed: List[Union[Callable, Tuple[Callable, str]]] = [_resolve(n) for n in names]
    if any(n.startswith('numpy.') for n in names):  # a dtype's class is built, never named
        import numpy.dtypes as np_dtypes
        allowed += [getattr(np_dtypes, n) for n in dir(np_dtypes) if n.endswith('DType')]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise RuntimeError(f'could not load {path!r} with weights_only=True '
                           f'({type(exc).__name__}: {exc})') from exc
