"""Small helpers to read state dicts out of weight files of other projects.

Every function raises with a message that names the file (``source``) and the offending keys.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import torch

WRAPPER_KEYS = ('state_dict', 'model', 'module')


def unwrap_state_dict(obj: object, source: str,
                      wrappers: Sequence[str] = WRAPPER_KEYS) -> Dict[str, torch.Tensor]:
    """Return the tensor dict stored under the first of ``wrappers`` present, or ``obj`` itself.

    Raises:
        TypeError: when no tensor dict is found.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f'{source}: expected a dict of tensors, got {type(obj).__name__}')
    for key in wrappers:
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise TypeError(f'{source}: no tensors found (looked under {list(wrappers)} and at the '
                        f'top level; keys: {sorted(obj)[:10]})')
    return tensors


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Remove ``prefix`` from every key that carries it (other keys are kept unchanged)."""
    if not prefix:
        return dict(state)
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def _short(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def check_state_dict(state: Mapping[str, torch.Tensor],
                     target: Mapping[str, torch.Size], source: str,
                     allow_missing: Optional[Iterable[str]] = None) -> List[str]:
    """Check ``state`` against the target shapes: unexpected keys, missing keys, shapes.

    Args:
        state: converted tensors.
        target: expected shape per key (e.g. ``{k: v.shape for k, v in model.state_dict()}``).
        source: file name used in messages.
        allow_missing: target keys that may be absent (returned instead of raising).

    Returns:
        The missing keys that were allowed.

    Raises:
        KeyError: unexpected or (not allowed) missing keys, naming them and the file.
        ValueError: a shape mismatch, naming the key and both shapes.
    """
    allowed = set(allow_missing or ())
    unexpected = set(state) - set(target)
    missing = set(target) - set(state)
    if unexpected:
        raise KeyError(f'{source}: keys not in the target model: {_short(unexpected)}')
    for key, value in state.items():
        if tuple(value.shape) != tuple(target[key]):
            raise ValueError(f'{source}: shape mismatch for {key!r}: file has '
                             f'{tuple(value.shape)}, target model expects {tuple(target[key])}')
    if missing - allowed:
        raise KeyError(f'{source}: keys of the target model missing from the file: '
                       f'{_short(missing - allowed)}')
    return sorted(missing)
