"""Figures of a benchmark suite's report, in the style of the paper's Figs. 2-5.

* :func:`plot_suite_bars`: one panel per dataset; grouped bars (metrics on the x axis, one bar
  per model) with 95 % CI whiskers and, above each model the reference beats, the P-value mark
  (``*`` p < 0.05, ``**`` p < 0.01, ``***`` p < 0.001, ``ns`` otherwise);
* :func:`plot_suite_scaling`: one panel per dataset; each metric against the model's ``scale``
  (Fig. 5's pre-training settings A-E) as a line with CI whiskers.

Both take the rows of ``results.csv`` (dicts with ``dataset``, ``protocol``, ``protocol_kind``,
``model``, ``label``, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``p_value``).
"""
import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from .figure_io import new_figure

__all__ = ['p_mark', 'plot_suite_bars', 'plot_suite_scaling']


def p_mark(p: float) -> str:
    """Significance mark of a P-value ('' when there is none)."""
    if p is None or not math.isfinite(p):
        return ''
    return '***' if p < 0.001 else '**' if p < 0.01 else '*' if p < 0.05 else 'ns'


def _panels(rows: Sequence[Mapping]) -> Dict[str, List[Mapping]]:
    panels: Dict[str, List[Mapping]] = {}
    for row in rows:
        panels.setdefault(row['dataset'], []).append(row)
    return panels


def _grid(n: int, width: float, height: float) -> Any:
    cols = min(n, 4)
    rows = int(math.ceil(n / cols))
    fig = new_figure((max(width * cols, 7.0), height * rows + 0.8))
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def _panel_title(group: Sequence[Mapping]) -> str:
    first = group[0]
    return f'{first["dataset"]}\n{first["protocol"]} ({first["protocol_kind"]} protocol)'


def plot_suite_bars(rows: Sequence[Mapping], reference: str, title: str = '') -> Any:
    """Grouped bars with CI whiskers and P-value marks, one panel per dataset.

    Returns:
        The figure (one axes per dataset, labelled with the dataset name).
    """
    panels = _panels(rows)
    fig, axes = _grid(len(panels), 4.6, 3.4)
    models = list(dict.fromkeys(r['model'] for r in rows))
    labels = {r['model']: r['label'] for r in rows}
    colors = {m: c for m, c in zip(models, _palette(len(models), models.index(reference)
                                                     if reference in models else -1))}
    for ax, (dataset, group) in zip(axes, panels.items()):
        ax.set_label(dataset)
        metrics = list(dict.fromkeys(r['metric'] for r in group))
        present = [m for m in models if any(r['model'] == m for r in group)]
        width = 0.8 / max(len(present), 1)
        cells = {(r['model'], r['metric']): r for r in group}
        top = 0.0
        for j, model in enumerate(present):
            x, h, lo, hi, marks = [], [], [], [], []
            for i, metric in enumerate(metrics):
                r = cells.get((model, metric))
                if r is None:
                    continue
                x.append(i - 0.4 + width * (j + 0.5))
                h.append(r['value'])
                lo.append(r['value'] - r['ci_low'])
                hi.append(r['ci_high'] - r['value'])
                marks.append(p_mark(r['p_value']) if model != reference else '')
            err = np.clip(np.array([lo, hi]), 0, None)
            ax.bar(x, h, width * 0.95, color=colors[model], label=labels[model],
                   yerr=err, capsize=2, error_kw=dict(elinewidth=0.8, ecolor='0.2'))
            for xi, hi_i, mark in zip(x, np.add(h, err[1]), marks):
                top = max(top, hi_i)
                if mark:
                    ax.text(xi, hi_i + 1.0, mark, ha='center', va='bottom',
                            fontsize=6 if mark == 'ns' else 8)
        ax.set_xticks(range(len(metrics)), metrics, rotation=20, fontsize=8)
        ax.set_ylim(0, max(100.0, top) + 10.0)
        ax.set_ylabel('percent', fontsize=8)
        ax.set_title(_panel_title(group), fontsize=9)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc='outside lower center', ncol=min(len(names), 5), fontsize=8,
               frameon=False)
    fig.suptitle((title + '\n' if title else '') + 'mean over seeds, 95 % CI (bootstrap over '
                 'videos)\nmarks: one-sided Wilcoxon signed-rank over videos that '
                 f'{labels.get(reference, reference)} is better\n(* p<0.05, ** p<0.01, '
                 '*** p<0.001, ns not significant)', fontsize=8)
    return fig


def plot_suite_scaling(rows: Sequence[Mapping], scales: Mapping[str, float],
                       title: str = '') -> Any:
    """Each metric against the pre-training data scale, with CI whiskers, one panel per dataset.

    Args:
        rows: ``results.csv`` rows.
        scales: the x value of each model (e.g. hours or videos of pre-training data).
        title: figure title.
    """
    panels = _panels(rows)
    fig, axes = _grid(len(panels), 4.2, 3.2)
    for ax, (dataset, group) in zip(axes, panels.items()):
        ax.set_label(dataset)
        metrics = list(dict.fromkeys(r['metric'] for r in group))
        for metric, color in zip(metrics, _palette(len(metrics), -1)):
            pts = sorted((scales[r['model']], r['value'], r['ci_low'], r['ci_high'], r['label'])
                         for r in group if r['metric'] == metric)
            x = [p[0] for p in pts]
            y = np.array([p[1] for p in pts])
            err = np.clip(np.array([y - [p[2] for p in pts], np.array([p[3] for p in pts]) - y]),
                          0, None)
            ax.errorbar(x, y, yerr=err, marker='o', ms=4, capsize=2, color=color, label=metric)
        ticks = sorted({(scales[r['model']], r['label']) for r in group})
        ax.set_xticks([t[0] for t in ticks], [t[1] for t in ticks], rotation=20, fontsize=8)
        ax.set_ylabel('percent', fontsize=8)
        ax.set_title(_panel_title(group), fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle((title + '\n' if title else '') + 'mean over seeds with 95 % CI (bootstrap '
                 'over videos)\nagainst the pre-training data scale', fontsize=8)
    return fig


def _palette(n: int, highlight: int) -> List[Any]:
    """``n`` colours from tab10; ``highlight`` (the reference) gets a strong red."""
    from matplotlib import colormaps
    cmap = colormaps['tab10']
    others = [cmap(i % 10) for i in range(10) if i != 3]
    out, k = [], 0
    for i in range(n):
        if i == highlight:
            out.append(cmap(3))
        else:
            out.append(others[k % len(others)])
            k += 1
    return out
