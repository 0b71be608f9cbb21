"""Statistics shared by the surgical metrics: NaN-aware means, natural order, bootstrap, Wilcoxon.

Conventions (metrics-spec §0 and §5):

* standard deviations are sample standard deviations (N - 1), as MATLAB's ``std`` computes them;
  one value has a standard deviation of 0 (MATLAB's convention) and no value gives NaN;
* confidence intervals resample **videos**, never frames;
* the paired test is a one-sided Wilcoxon signed-rank test on per-video differences A - B.
"""
import re
import warnings
from typing import Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.stats import wilcoxon

__all__ = ['natural_key', 'natural_sorted', 'nanmean', 'sample_std', 'nan_sample_std',
           'safe_divide', 'bootstrap_ci', 'paired_wilcoxon']

_DIGITS = re.compile(r'(\d+)')


def natural_key(value: Hashable) -> Tuple:
    """Sort key that orders ``video2`` before ``video10`` (numbers compare as numbers).

    Args:
        value: A video id (string, integer or anything with a ``str``).

    Returns:
        A tuple usable as a sort key.
    """
    parts = _DIGITS.split(str(value))
    return tuple((0, int(p), '') if p.isdigit() else (1, 0, p) for p in parts)


def natural_sorted(values: Sequence[Hashable]) -> List[Hashable]:
    """Return ``values`` sorted in natural order (see :func:`natural_key`)."""
    return sorted(values, key=natural_key)


def nanmean(x: np.ndarray, axis: Optional[int] = None) -> np.ndarray:
    """Mean ignoring NaN; an all-NaN (or empty) slice gives NaN without a warning."""
    x = np.asarray(x, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return np.nanmean(x, axis=axis)


def sample_std(x: np.ndarray) -> float:
    """Sample standard deviation (N - 1) of a 1-D array; NaN values propagate (MATLAB ``std``).

    One value gives 0.0 and an empty array NaN, as MATLAB does.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return float('nan')
    if x.size == 1:
        return 0.0 if np.isfinite(x[0]) else float('nan')
    return float(np.std(x, ddof=1))


def nan_sample_std(x: np.ndarray) -> float:
    """:func:`sample_std` of the non-NaN values (MATLAB / Octave ``nanstd``)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return sample_std(x[~np.isnan(x)])


def safe_divide(num: np.ndarray, den: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """Element-wise ``num / den``, ``zero`` where ``den == 0`` (scikit-learn's zero_division)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def bootstrap_ci(statistic: Callable[[np.ndarray], Mapping[str, float]],
                 num_videos: int,
                 n_resamples: int = 1000,
                 seed: int = 0,
                 level: float = 0.95) -> Dict[str, Tuple[float, float]]:
    """Percentile bootstrap confidence intervals over videos.

    Args:
        statistic: Function of an index array (``[num_videos]`` ints, a resample of the videos
            with replacement) returning a mapping of metric name to value.
        num_videos: Number of videos.
        n_resamples: Number of resamples (metrics-spec §5: 1000).
        seed: Seed of the NumPy generator (default 0).
        level: Confidence level; the interval is the ``(1-level)/2`` and ``(1+level)/2``
            percentiles (2.5 and 97.5 for 0.95).

    Returns:
        Mapping of each metric name to ``(low, high)``. Resamples in which a metric is NaN (e.g. a
        phase absent from every drawn video) are left out of that metric's percentiles.
    """
    if num_videos < 1:
        raise ValueError('bootstrap_ci needs at least one video')
    if n_resamples < 1:
        raise ValueError(f'n_resamples must be positive, got {n_resamples}')
    if not 0.0 < level < 1.0:
        raise ValueError(f'level must be in (0, 1), got {level}')
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_videos, size=(n_resamples, num_videos))
    samples: Dict[str, List[float]] = {}
    for idx in draws:
        for key, value in statistic(idx).items():
            samples.setdefault(key, []).append(float(value))
    q = [100.0 * (1.0 - level) / 2.0, 100.0 * (1.0 + level) / 2.0]
    out = {}
    for key, values in samples.items():
        arr = np.asarray(values)
        arr = arr[~np.isnan(arr)]
        if arr.size == 0:
            out[key] = (float('nan'), float('nan'))
        else:
            low, high = np.percentile(arr, q)
            out[key] = (float(low), float(high))
    return out


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> Dict[str, float]:
    """Paired one-sided Wilcoxon signed-rank test that method A beats method B over videos.

    Runs ``scipy.stats.wilcoxon(a - b, alternative='greater', zero_method='wilcox')``.

    Args:
        a: Per-video values of method A (same videos, same order as ``b``).
        b: Per-video values of method B.

    Returns:
        ``{'statistic', 'pvalue', 'num_videos'}``.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f'paired test needs the same videos: got {a.size} and {b.size} values')
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError('paired test got NaN or infinite per-video values')
    diff = a - b
    if not np.any(diff != 0):
        raise ValueError('paired test: every per-video difference is zero')
    res = wilcoxon(diff, alternative='greater', zero_method='wilcox')
    return {'statistic': float(res.statistic), 'pvalue': float(res.pvalue),
            'num_videos': int(a.size)}
