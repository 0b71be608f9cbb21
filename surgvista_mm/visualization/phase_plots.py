"""Phase-recognition figure: per-video colour ribbons and per-phase Jaccard bars.

Each video gets two thin horizontal ribbons, ground truth above and prediction below, one colour
per phase (run-length segments drawn with ``broken_barh``, so short flickers stay visible and
vector outputs stay exact). Below them, a bar per phase of the protocol's per-phase Jaccard, in the
phase's colour, with the std over videos as error bars when given.
"""
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .figure_io import new_figure

__all__ = ['phase_colors', 'plot_phase_ribbons', 'RIBBON_GIDS']

#: ``gid`` suffixes of the two ribbon collections of a video (``f'{video}/{suffix}'``).
RIBBON_GIDS: Tuple[str, str] = ('gt', 'pred')


def phase_colors(num_classes: int) -> List[Tuple[float, float, float, float]]:
    """Distinct RGBA colours: ``tab10`` up to 10 phases, ``tab20`` up to 20, ``turbo`` beyond."""
    from matplotlib import colormaps

    if num_classes <= 10:
        cmap = colormaps['tab10']
        return [cmap(i) for i in range(num_classes)]
    if num_classes <= 20:
        cmap = colormaps['tab20']
        return [cmap(i) for i in range(num_classes)]
    cmap = colormaps['turbo']
    return [cmap(x) for x in np.linspace(0.05, 0.95, num_classes)]


def _segments(labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: starts, lengths and labels of the constant runs."""
    labels = np.asarray(labels).ravel()
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [labels.size]]))
    return starts, lengths, labels[starts]


def _check_inputs(gt_by_video: Mapping[str, np.ndarray], pred_by_video: Mapping[str, np.ndarray],
                  num_classes: int) -> None:
    if not gt_by_video:
        raise ValueError('no videos to plot')
    if set(gt_by_video) != set(pred_by_video):
        missing = sorted(set(gt_by_video) ^ set(pred_by_video))
        raise ValueError(f'ground truth and prediction cover different videos: {missing}')
    for vid, gt in gt_by_video.items():
        gt, pred = np.asarray(gt), np.asarray(pred_by_video[vid])
        if gt.ndim != 1 or gt.shape != pred.shape or gt.size == 0:
            raise ValueError(f'video {vid}: ground truth {gt.shape} and prediction {pred.shape} '
                             'must be non-empty 1-D arrays of the same length')
        for arr in (gt, pred):
            if arr.min() < 0 or arr.max() >= num_classes:
                raise ValueError(f'video {vid}: phase id out of range 0..{num_classes - 1}')


def plot_phase_ribbons(gt_by_video: Mapping[str, np.ndarray],
                       pred_by_video: Mapping[str, np.ndarray],
                       class_names: Optional[Sequence[str]],
                       per_phase_jaccard: Sequence[float],
                       title: str = '',
                       per_phase_jaccard_std: Optional[Sequence[float]] = None,
                       fps: Optional[float] = None) -> Any:
    """Draw ground-truth / prediction ribbons per video and the per-phase Jaccard bars.

    Args:
        gt_by_video: Video id -> ground-truth phase ids ``[N_v]`` (0-based); drawn in this order,
            top to bottom.
        pred_by_video: Video id -> predicted phase ids ``[N_v]``, same videos.
        class_names: Phase names for the legend and the bar labels; ``None``: the ids.
        per_phase_jaccard: The protocol's per-phase Jaccard ``[K]`` (percent; NaN bars are left
            empty and marked "n/a").
        title: Figure title.
        per_phase_jaccard_std: Optional std over videos per phase ``[K]``, drawn as error bars.
        fps: Frame rate of the labels; when given the time axis is in minutes, else in frames.

    Returns:
        The :class:`~matplotlib.figure.Figure` (Agg canvas): axes ``'ribbons'`` and ``'jaccard'``
        (their ``get_label()``); the ribbons are ``PolyCollection`` s with ``gid``
        ``'<video>/gt'`` and ``'<video>/pred'``.
    """
    from matplotlib.patches import Patch

    jac = np.asarray(per_phase_jaccard, dtype=np.float64)
    k = len(class_names) if class_names is not None else jac.size
    if jac.shape != (k,):
        raise ValueError(f'per_phase_jaccard has {jac.size} values for {k} phases')
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    _check_inputs(gt_by_video, pred_by_video, k)
    colors = phase_colors(k)
    videos = list(gt_by_video)
    n_vid = len(videos)

    ribbon_h = max(2.0, 0.42 * n_vid)
    fig = new_figure((11.0, ribbon_h + 3.6))
    grid = fig.add_gridspec(2, 1, height_ratios=[ribbon_h, 3.0])
    ax = fig.add_subplot(grid[0])
    ax.set_label('ribbons')
    scale = 1.0 / (60.0 * fps) if fps else 1.0
    pitch, band, gap = 1.0, 0.34, 0.04  # per video: two bands of height `band`, `gap` apart
    longest = 0.0
    for row, vid in enumerate(videos):
        y_center = -row * pitch
        for which, labels, y0 in (('gt', gt_by_video[vid], y_center + gap / 2),
                                  ('pred', pred_by_video[vid], y_center - gap / 2 - band)):
            starts, lengths, seg_labels = _segments(labels)
            ax.broken_barh(list(zip(starts * scale, lengths * scale)), (y0, band),
                           facecolors=[colors[int(c)] for c in seg_labels], linewidth=0,
                           gid=f'{vid}/{which}')
        longest = max(longest, len(gt_by_video[vid]) * scale)
    ax.set_yticks([-row * pitch for row in range(n_vid)], [str(v) for v in videos],
                  fontsize=8)
    ax.set_ylim(-(n_vid - 1) * pitch - 0.5, 0.5)
    ax.set_xlim(0, longest)
    ax.set_xlabel('time (min)' if fps else 'frame')
    for side in ('top', 'right', 'left'):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis='y', length=0)
    handles = [Patch(facecolor=colors[i], label=names[i]) for i in range(k)]
    ax.legend(handles=handles, loc='lower center', bbox_to_anchor=(0.5, 1.04),
              ncol=min(k, 7 if max(len(n) for n in names) < 14 else 4), fontsize=8,
              frameon=False, title_fontsize=8,
              # the legend sits above the axes, so it carries the caption (no axes title for
              # it to cover)
              title=('phase' if class_names is not None else 'phase id')
              + ' -- per video: ground truth (upper ribbon) / prediction (lower ribbon)')

    bx = fig.add_subplot(grid[1])
    bx.set_label('jaccard')
    _jaccard_bars(bx, jac, per_phase_jaccard_std, names, colors)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _jaccard_bars(ax: Any, jac: np.ndarray, std: Optional[Sequence[float]], names: List[str],
                  colors: List[Tuple[float, float, float, float]]) -> None:
    """Per-phase Jaccard bars with optional std error bars and value labels."""
    x = np.arange(jac.size)
    heights = np.nan_to_num(jac, nan=0.0)
    yerr = None
    if std is not None:
        std = np.asarray(std, dtype=np.float64)
        if std.shape != jac.shape:
            raise ValueError(f'per_phase_jaccard_std has {std.size} values for {jac.size} phases')
        yerr = np.where(np.isnan(std) | np.isnan(jac), 0.0, std)
    ax.bar(x, heights, color=colors, yerr=yerr, capsize=3, edgecolor='none',
           error_kw={'elinewidth': 0.8, 'ecolor': '0.25'})
    tops = heights + (yerr if yerr is not None else 0.0)
    for xi, value, top in zip(x, jac, tops):
        ax.text(xi, top + 1.5, 'n/a' if np.isnan(value) else f'{value:.1f}', ha='center',
                va='bottom', fontsize=7, color='0.2')
    ax.set_xticks(x, names, rotation=30 if max(len(n) for n in names) > 6 else 0,
                  ha='right' if max(len(n) for n in names) > 6 else 'center', fontsize=8,
                  rotation_mode='anchor')
    ax.set_ylim(0, max(112.0, float(np.max(tops)) + 10.0))
    ax.set_ylabel('Jaccard (%)')
    note = ' (error bars: std over videos)' if std is not None else ''
    ax.set_title('per-phase Jaccard of the protocol' + note, fontsize=9)
    ax.grid(axis='y', alpha=0.3)
    ax.set_axisbelow(True)
    for side in ('top', 'right'):
        ax.spines[side].set_visible(False)
