"""Figures of a test run and of online inference: confusion matrix, per-second phase timeline."""
from typing import Any, Optional, Sequence

import numpy as np

from .figure_io import new_figure
from .phase_plots import _segments, phase_colors

__all__ = ['confusion_matrix', 'plot_confusion_matrix', 'plot_phase_timeline']


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[K, K]``: row = ground-truth phase, column = predicted phase."""
    gt, pred = np.asarray(gt, np.int64).ravel(), np.asarray(pred, np.int64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f'{gt.size} ground-truth labels for {pred.size} predictions')
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def plot_confusion_matrix(gt: np.ndarray, pred: np.ndarray, class_names: Sequence[str],
                          title: str = '') -> Any:
    """Row-normalised confusion matrix (fraction of each ground-truth phase's frames).

    Args:
        gt, pred: phase ids ``[N]`` (0-based).
        class_names: ``K`` names, on both axes.
        title: figure title.

    Returns:
        The figure (axes label ``'confusion'``); cells show the fraction and rows without
        frames are left blank.
    """
    names = list(class_names)
    k = len(names)
    counts = confusion_matrix(gt, pred, k).astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.full_like(counts, np.nan), where=rows > 0)
    size = 2.5 + 0.55 * k
    fig = new_figure((size + 1.5, size))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_label('confusion')
    image = ax.imshow(np.nan_to_num(frac, nan=0.0), vmin=0.0, vmax=1.0, cmap='Blues')
    for i in range(k):
        for j in range(k):
            if np.isfinite(frac[i, j]) and counts[i, j] > 0:
                ax.text(j, i, f'{frac[i, j]:.2f}', ha='center', va='center', fontsize=7,
                        color='white' if frac[i, j] > 0.5 else 'black')
    ax.set_xticks(range(k), names, rotation=45, ha='right', fontsize=8)
    ax.set_yticks(range(k), [f'{n} ({int(c)})' for n, c in zip(names, rows.ravel())],
                  fontsize=8)
    ax.set_xlabel('predicted phase')
    ax.set_ylabel('ground-truth phase (frames)')
    fig.colorbar(image, ax=ax, fraction=0.046, label='fraction of the row')
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_phase_timeline(pred: np.ndarray, confidence: np.ndarray,
                        class_names: Sequence[str], title: str = '',
                        gt: Optional[np.ndarray] = None) -> Any:
    """Predicted phase ribbon over time (seconds) and the per-second confidence below it.

    Args:
        pred: predicted phase per second ``[T]``.
        confidence: probability of the predicted phase per second ``[T]``.
        class_names: ``K`` phase names (legend).
        title: figure title.
        gt: optional ground truth ``[T]``, drawn as a second ribbon above the prediction.

    Returns:
        The figure (axes labels ``'timeline'`` and ``'confidence'``).
    """
    from matplotlib.patches import Patch

    names = list(class_names)
    colors = phase_colors(len(names))
    pred = np.asarray(pred, np.int64).ravel()
    conf = np.asarray(confidence, np.float64).ravel()
    fig = new_figure((10.0, 3.6 if gt is None else 4.2))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.0 if gt is None else 1.6, 1.6])
    ax = fig.add_subplot(grid[0])
    ax.set_label('timeline')
    rows = [('prediction', pred)] if gt is None else [('ground truth', np.asarray(gt)),
                                                      ('prediction', pred)]
    for r, (label, labels) in enumerate(rows):
        starts, lengths, seg = _segments(labels)
        ax.broken_barh(list(zip(starts, lengths)), (-r - 0.4, 0.8),
                       facecolors=[colors[int(c)] for c in seg], linewidth=0, gid=label)
    ax.set_yticks([-r for r in range(len(rows))], [label for label, _ in rows], fontsize=8)
    ax.set_xlim(0, pred.size)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.tick_params(axis='x', labelbottom=False)
    for side in ('top', 'right', 'left'):
        ax.spines[side].set_visible(False)
    present = sorted(set(pred.tolist()) | (set(np.asarray(gt).tolist()) if gt is not None
                                            else set()))
    ax.legend(handles=[Patch(facecolor=colors[i], label=names[i]) for i in present],
              loc='lower center', bbox_to_anchor=(0.5, 1.02), ncol=min(len(present), 4),
              fontsize=8, frameon=False, title=title or None, title_fontsize=9)
    bx = fig.add_subplot(grid[1], sharex=ax)
    bx.set_label('confidence')
    t = np.arange(pred.size) + 0.5
    bx.plot(t, conf, color='0.2', linewidth=1.0)
    bx.set_ylim(0, 1.02)
    bx.set_ylabel('confidence', fontsize=8)
    bx.set_xlabel('time (s)')
    return fig
