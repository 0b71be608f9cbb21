"""Surgical action triplet recognition AP (CholecT50 and alike), metrics-spec §2.

Components I, V, T, IV, IT take, per frame, the **maximum** score and label over the triplets that
map to each component class; a component's classes are the distinct ids of its column of the map,
in ascending order (CholecT50: 100 / 6 / 10 / 15 / 26 / 59 classes). AP is
:func:`~surgvista_mm.evaluation.functional.ranking.average_precision` (NaN without positives).

* video-wise mAP (the benchmark number): per video and class AP, per class mean over videos
  ignoring NaN, then mean over classes ignoring NaN;
* global mAP: all frames pooled, per class AP, mean ignoring NaN;
* ``ignore_null`` drops the null triplet classes (verb and target both null) of the IVT component.
"""
import os
import re
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .ranking import average_precision
from .stats import natural_key, nanmean

__all__ = ['COMPONENTS', 'CHOLECT50_NULL_CLASSES', 'default_map_path', 'load_triplet_map',
           'read_null_classes',
           'component_classes', 'component_projection', 'triplet_metrics']

COMPONENTS = ('i', 'v', 't', 'iv', 'it', 'ivt')
_COLUMNS = {'ivt': 0, 'i': 1, 'v': 2, 't': 3, 'iv': 4, 'it': 5}
#: Null triplets of CholecT50 (one per instrument, verb and target both null).
CHOLECT50_NULL_CLASSES = (94, 95, 96, 97, 98, 99)


def default_map_path() -> str:
    """Path of the CholecT50 map shipped with the package (``evaluation/data``)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data',
                        'cholect50_maps.txt')


def load_triplet_map(path: Optional[str] = None) -> np.ndarray:
    """Load a triplet map: one line per triplet, columns IVT, I, V, T, IV, IT (``#`` comments).

    Args:
        path: Map file; default the CholecT50 map shipped with the package.

    Returns:
        ``[C, 6]`` int64 rows sorted by triplet id; triplet ids must be exactly ``0..C-1``.
    """
    path = default_map_path() if path is None else path
    rows = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, start=1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            fields = [x for x in line.replace(',', ' ').split()]
            if len(fields) != 6:
                raise ValueError(f'{path}:{lineno}: expected 6 columns IVT,I,V,T,IV,IT, got '
                                 f'{len(fields)}')
            try:
                rows.append([int(x) for x in fields])
            except ValueError:
                raise ValueError(f'{path}:{lineno}: non-integer id in {line!r}') from None
    if not rows:
        raise ValueError(f'{path}: empty triplet map')
    table = np.asarray(rows, dtype=np.int64)
    table = table[np.argsort(table[:, 0], kind='stable')]
    if not np.array_equal(table[:, 0], np.arange(len(table))):
        raise ValueError(f'{path}: triplet ids must be 0..{len(table) - 1}, each exactly once')
    if table.min() < 0:
        raise ValueError(f'{path}: negative component id')
    return table


def read_null_classes(path: str, num_triplets: int) -> List[int]:
    """Triplet ids listed one a line in ``path`` (``#`` comments and blank lines ignored).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: ``path:line: ...`` for a line that is not a triplet id ``0..num_triplets-1``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'null_classes file not found: {path}')
    ids = []
    with open(path, encoding='utf-8-sig') as f:
        for lineno, line in enumerate(f, start=1):
            text = line.split('#', 1)[0].strip()
            if not text:
                continue
            if not re.fullmatch(r'[0-9]+', text) or int(text) >= num_triplets:
                raise ValueError(f'{path}:{lineno}: {text!r} is not a triplet id '
                                 f'(0..{num_triplets - 1})')
            ids.append(int(text))
    return ids


def component_classes(mapping: np.ndarray, component: str) -> np.ndarray:
    """Class ids of a component: the distinct ids of its map column, ascending."""
    if component not in _COLUMNS:
        raise ValueError(f'component must be one of {COMPONENTS}, got {component!r}')
    return np.unique(mapping[:, _COLUMNS[component]])


def component_projection(values: np.ndarray, mapping: np.ndarray,
                         component: str) -> Tuple[np.ndarray, np.ndarray]:
    """Max-project triplet scores or labels ``[N, C]`` onto a component's classes.

    Returns:
        ``(classes, projected)``: class ids ``[K]`` and ``[N, K]`` maxima.
    """
    if values.shape[1] != len(mapping):
        raise ValueError(f'{values.shape[1]} triplet columns but the map has {len(mapping)} '
                         'triplets')
    classes = component_classes(mapping, component)
    if component == 'ivt':
        return classes, values
    ids = mapping[:, _COLUMNS[component]]
    order = np.argsort(ids, kind='stable')
    starts = np.searchsorted(ids[order], classes)
    return classes, np.maximum.reduceat(values[:, order], starts, axis=1)


def _check_inputs(targets: np.ndarray, scores: np.ndarray,
                  video_ids: Sequence[Hashable]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    targets, scores = np.asarray(targets), np.asarray(scores)
    video_ids = np.asarray(video_ids)
    if targets.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(f'targets {targets.shape} and scores {scores.shape} must both be [N, C]')
    if video_ids.shape != (targets.shape[0],):
        raise ValueError(f'video_ids must be [N] = [{targets.shape[0]}], got {video_ids.shape}')
    if targets.shape[0] == 0:
        raise ValueError('no frames to evaluate')
    if not np.isin(targets, (0, 1)).all():
        raise ValueError('targets must be multi-hot (0/1)')
    return targets, scores.astype(np.float64), video_ids


def triplet_metrics(targets: np.ndarray,
                    scores: np.ndarray,
                    video_ids: Sequence[Hashable],
                    mapping: Optional[np.ndarray] = None,
                    null_classes: Union[Sequence[int], None, str] = 'default',
                    ignore_null: bool = True,
                    components: Sequence[str] = COMPONENTS) -> Dict[str, Dict]:
    """Video-wise and global AP of every triplet component.

    Args:
        targets: Multi-hot triplet labels ``[N, C]``.
        scores: Triplet probabilities ``[N, C]``.
        video_ids: Video of each frame ``[N]`` (frames of a video need not be contiguous).
        mapping: Triplet map ``[C, 6]`` (:func:`load_triplet_map`); default CholecT50.
        null_classes: Null triplet ids dropped from IVT when ``ignore_null``. ``'default'``: the
            CholecT50 ones when ``mapping`` is the default, otherwise they must be given
            (``None`` or ``[]`` for none).
        ignore_null: Drop the null classes from the IVT component.
        components: Components to compute, among ``('i', 'v', 't', 'iv', 'it', 'ivt')``.

    Returns:
        ``{component: {'video_mAP', 'global_mAP', 'video_AP' [K'], 'global_AP' [K'],
        'classes' [K'], 'per_video_AP' [V, K'], 'videos' [V]}}`` with K' the kept classes and
        the videos in natural order; AP are fractions, NaN where a class has no positives.
    """
    if mapping is None:
        mapping = load_triplet_map()
        if isinstance(null_classes, str) and null_classes == 'default':
            null_classes = CHOLECT50_NULL_CLASSES
    elif isinstance(null_classes, str):
        raise ValueError('null_classes must be given explicitly (a list, or None) with a custom '
                         'triplet map')
    null_classes = () if null_classes is None else tuple(int(c) for c in null_classes)
    if any(c < 0 or c >= len(mapping) for c in null_classes):
        raise ValueError(f'null classes {null_classes} outside 0..{len(mapping) - 1}')
    targets, scores, video_ids = _check_inputs(targets, scores, video_ids)
    videos = sorted(np.unique(video_ids).tolist(), key=natural_key)
    rows = [np.flatnonzero(video_ids == v) for v in videos]

    out: Dict[str, Dict] = {}
    for comp in components:
        classes, comp_scores = component_projection(scores, mapping, comp)
        _, comp_targets = component_projection(targets, mapping, comp)
        keep = np.ones(len(classes), dtype=bool)
        if comp == 'ivt' and ignore_null:
            keep = ~np.isin(classes, null_classes)
        per_video = np.stack([average_precision(comp_targets[r], comp_scores[r])
                              for r in rows])[:, keep]
        video_ap = nanmean(per_video, axis=0)
        global_ap = average_precision(comp_targets, comp_scores)[keep]
        out[comp] = {'video_mAP': float(nanmean(video_ap)),
                     'global_mAP': float(nanmean(global_ap)),
                     'video_AP': video_ap, 'global_AP': global_ap, 'classes': classes[keep],
                     'per_video_AP': per_video, 'videos': videos}
    return out
