"""Helpers shared by the registered metrics: reading data samples, de-duplication, tables."""
import math
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import BaseDataElement

from ..functional.stats import natural_key

_MISSING = object()


def get_field(sample: Any, name: str, default: Any = _MISSING) -> Any:
    """Read ``name`` from a data sample given as a dict (``to_dict()``) or a data element.

    Metainfo and data fields are both searched. Without ``default`` a missing field raises.
    """
    value = _MISSING
    if isinstance(sample, dict):
        value = sample.get(name, _MISSING)
        if value is _MISSING and isinstance(sample.get('metainfo'), dict):
            value = sample['metainfo'].get(name, _MISSING)
    elif isinstance(sample, BaseDataElement):
        if name in sample:
            value = sample.get(name)
    else:
        raise TypeError(f'data samples must be dicts or data elements, got {type(sample)}')
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise KeyError(f'data sample has no {name!r} (fields: '
                           f'{sorted(sample.keys()) if hasattr(sample, "keys") else "?"})')
        return default
    return value


def to_numpy(value: Any) -> np.ndarray:
    """Tensor, array, sequence or number to a NumPy array (on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def to_key(value: Any) -> Hashable:
    """A hashable, picklable python value for ids (tensors and NumPy scalars unwrapped)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size == 1:
            return value.item()
        raise ValueError(f'an id must be a scalar, got shape {tuple(value.shape)}')
    if isinstance(value, np.generic):
        return value.item()
    return value


def scalar_label(value: Any, name: str = 'gt_label') -> int:
    """An integer class id from a tensor / array / number holding exactly one value."""
    arr = to_numpy(value).ravel()
    if arr.size != 1:
        raise ValueError(f'{name} must hold one class id, got {arr.size} values')
    return int(arr[0])


def predicted_label(sample: Any) -> int:
    """Arg-max of ``pred_score`` when present, else ``pred_label``."""
    score = get_field(sample, 'pred_score', None)
    if score is not None:
        return int(np.argmax(to_numpy(score).ravel()))
    return scalar_label(get_field(sample, 'pred_label'), 'pred_label')


def deduplicate(results: Sequence[Dict], key_fields: Sequence[str],
                compare: Sequence[str] = ()) -> List[Dict]:
    """Drop repeated samples (padding of a distributed sampler) and sort them.

    Args:
        results: Per-sample result dicts.
        key_fields: Fields identifying a sample, e.g. ``('video_id', 'frame_index')``.
        compare: Fields that must agree between repeats (ground truth); a conflict raises.

    Returns:
        One result per key (the first seen), sorted in natural order of the key.
    """
    unique: Dict[Tuple, Dict] = {}
    for res in results:
        key = tuple(res[f] for f in key_fields)
        first = unique.setdefault(key, res)
        if first is not res:
            for field in compare:
                if not np.array_equal(np.asarray(first[field]), np.asarray(res[field])):
                    raise ValueError(f'sample {dict(zip(key_fields, key))} occurs twice with '
                                     f'different {field}')
    return [unique[k] for k in sorted(unique, key=lambda k: tuple(natural_key(x) for x in k))]


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return 'nan' if math.isnan(value) else f'{value:.2f}'
    return str(value)


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                 title: Optional[str] = None) -> str:
    """A plain-text table (floats with two decimals) for ``print_log``."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ['  '.join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in cells]
    rule = '-' * len(lines[0])
    body = [rule, lines[0], rule] + lines[1:] + [rule]
    return '\n'.join(([title] if title else []) + body)
