"""Paired comparison figure: per-video scores of two methods joined by lines (a slope chart)."""
from typing import Any, Optional, Sequence

import numpy as np

from surgvista_mm.utils.text import count

from .figure_io import new_figure

__all__ = ['plot_paired_scores']

_BETTER, _WORSE, _TIE = '#1b7837', '#b2182b', '0.5'


def plot_paired_scores(videos: Sequence[str], scores_a: Sequence[float],
                       scores_b: Sequence[float], label_a: str = 'A', label_b: str = 'B',
                       metric: str = 'score', title: str = '',
                       means: Optional[Sequence[float]] = None) -> Any:
    """Draw each video's A and B values as two dots joined by a line.

    Lines are green where A > B, red where A < B, grey for ties; the videos with the largest
    absolute differences are labelled. Optional ``means`` (A, B) are drawn as black bars.

    Args:
        videos: Video ids ``[V]``.
        scores_a: Per-video values of method A ``[V]``.
        scores_b: Per-video values of method B ``[V]``.
        label_a: Name of A (x tick).
        label_b: Name of B (x tick).
        metric: Name of the metric (y label).
        title: Figure title.
        means: Optional ``(mean_a, mean_b)`` markers.

    Returns:
        The :class:`~matplotlib.figure.Figure` (one axes labelled ``'paired'``, one line per
        video with ``gid`` equal to the video id).
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if not (a.shape == b.shape == (len(videos),)):
        raise ValueError(f'{len(videos)} videos but {a.size} values for A and {b.size} for B')
    fig = new_figure((6.5, 6.0))
    ax = fig.add_subplot()
    ax.set_label('paired')
    diff = a - b
    for vid, va, vb, d in zip(videos, a, b, diff):
        color = _BETTER if d > 0 else _WORSE if d < 0 else _TIE
        ax.plot([0, 1], [va, vb], '-o', color=color, alpha=0.75, markersize=4, linewidth=1.2,
                gid=str(vid))
    _label_largest(ax, videos, b, diff)
    if means is not None:
        ax.plot([0, 1], list(means), '_', color='black', markersize=28, markeredgewidth=2.5,
                label='mean over videos')
        ax.legend(loc='best', fontsize=8, frameon=False)
    ax.set_xticks([0, 1], [label_a, label_b])
    ax.set_xlim(-0.35, 1.6)
    ax.set_ylabel(metric)
    ax.grid(axis='y', alpha=0.3)
    wins = int(np.sum(diff > 0))
    losses = int(np.sum(diff < 0))
    ax.set_title(f'{count(len(videos), "video")}: A > B in {wins}, A < B in {losses} '
                 f'(green: A better, red: B better)', fontsize=8)
    for side in ('top', 'right'):
        ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _label_largest(ax: Any, videos: Sequence[str], b: np.ndarray, diff: np.ndarray,
                   count: int = 5) -> None:
    """Name the videos with the largest |A - B| next to their B dot, skipping crowded labels."""
    values = b[np.isfinite(b)]
    min_gap = 0.03 * (float(np.ptp(values)) if values.size else 1.0)
    placed: list = []
    for i in np.argsort(-np.abs(np.nan_to_num(diff)))[:min(count, len(videos))]:
        if not np.isfinite(b[i]) or any(abs(b[i] - y) < min_gap for y in placed):
            continue
        placed.append(b[i])
        ax.annotate(str(videos[i]), (1, b[i]), xytext=(6, 0), textcoords='offset points',
                    va='center', fontsize=7, color='0.3')
