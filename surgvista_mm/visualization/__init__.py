"""Figures for evaluation and training logs (matplotlib, Agg canvas, no pyplot state).

Importing this package does **not** import matplotlib: every plotting function imports it when
called, so ``import surgvista_mm`` stays light on machines that never plot.

* :func:`plot_phase_ribbons`: per-video ground-truth / prediction ribbons and per-phase Jaccard;
* :func:`plot_paired_scores`: per-video scores of two methods, paired by lines;
* :func:`plot_training_curves`: scalars of mmengine's ``vis_data/scalars.json`` against iteration
  (read with :func:`load_scalar_log`);
* :func:`save_figure`: atomic image write (temporary file in the same folder, then rename).
"""
from .compare_plots import plot_paired_scores
from .figure_io import new_figure, save_figure
from .phase_plots import phase_colors, plot_phase_ribbons
from .scalar_log import ScalarLog, find_scalar_files, load_scalar_log
from .training_curves import default_keys, plot_training_curves

__all__ = ['plot_phase_ribbons', 'phase_colors', 'plot_paired_scores', 'plot_training_curves',
           'default_keys', 'ScalarLog', 'find_scalar_files', 'load_scalar_log', 'new_figure',
           'save_figure']
