"""Training curves from a :class:`~.scalar_log.ScalarLog`: losses against iteration, ``lr`` on a
second axis, validation scalars (if asked for) in a panel of their own."""
from typing import Any, List, Optional, Sequence

from .figure_io import new_figure
from .scalar_log import ScalarLog

__all__ = ['default_keys', 'plot_training_curves']


def default_keys(log: ScalarLog) -> List[str]:
    """Every training key containing ``loss`` (sorted, ``loss`` first), plus ``lr`` if logged."""
    losses = sorted((k for k in log.train if 'loss' in k), key=lambda k: (k != 'loss', k))
    return losses + (['lr'] if 'lr' in log.train else [])


def plot_training_curves(log: ScalarLog, keys: Optional[Sequence[str]] = None,
                         title: str = '', log_y: bool = False) -> Any:
    """Plot the chosen scalars against iteration.

    ``lr`` (and ``base_lr``) go on a second y axis; keys found only in validation rows get a
    second panel against the logged ``step`` (epoch for epoch-based loops). Resume points of
    concatenated runs are marked with dotted vertical lines.

    Args:
        log: The scalars (:func:`~.scalar_log.load_scalar_log`).
        keys: Keys to plot (default :func:`default_keys`).
        title: Figure title.
        log_y: Log scale for the loss axis.

    Returns:
        The :class:`~matplotlib.figure.Figure`; axes labelled ``'train'`` (and ``'val'``), one
        line per key with the key as its label.

    Raises:
        ValueError: a key is in no row (the message lists the available keys), or nothing to plot.
    """
    keys = list(keys) if keys else default_keys(log)
    if not keys:
        raise ValueError('no key containing "loss" and no lr in ' + ', '.join(log.files)
                         + f'; available: {sorted(set(log.train) | set(log.val))}')
    missing = [k for k in keys if k not in log.train and k not in log.val]
    if missing:
        raise ValueError(f'keys {missing} are not in ' + ', '.join(log.files)
                         + f'; available: {sorted(set(log.train) | set(log.val))}')
    lr_keys = [k for k in keys if k in log.train and k in ('lr', 'base_lr')]
    train_keys = [k for k in keys if k in log.train and k not in lr_keys]
    val_keys = [k for k in keys if k not in log.train]

    fig = new_figure((9.0, 4.5 + (3.0 if val_keys else 0.0)))
    axes = fig.subplots(2 if val_keys else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    ax.set_label('train')
    for key in train_keys:
        xs, ys = zip(*log.train[key])
        ax.plot(xs, ys, label=key, linewidth=1.3)
    handles, labels = ax.get_legend_handles_labels()
    if lr_keys:
        twin = ax.twinx() if train_keys else ax
        for key in lr_keys:
            xs, ys = zip(*log.train[key])
            twin.plot(xs, ys, '--', color='0.45', label=key, linewidth=1.0)
        twin.set_ylabel('learning rate')
        twin.ticklabel_format(axis='y', style='sci', scilimits=(-3, 3))
        if twin is not ax:
            h2, l2 = twin.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        else:
            handles, labels = ax.get_legend_handles_labels()
    for start in log.run_starts:
        ax.axvline(start, color='0.6', linestyle=':', linewidth=1)
    if train_keys:
        ax.set_ylabel('loss' if all('loss' in k for k in train_keys) else 'value')
        if log_y:
            ax.set_yscale('log')
    ax.set_xlabel('iteration')
    ax.grid(alpha=0.3)
    if handles:
        ax.legend(handles, labels, fontsize=8, loc='upper right', frameon=False)
    if val_keys:
        vx = axes[1]
        vx.set_label('val')
        for key in val_keys:
            xs, ys = zip(*log.val[key])
            vx.plot(xs, ys, '-o', label=key, markersize=3)
        vx.set_xlabel('step (as logged: epoch, or iteration for iteration-based loops)')
        vx.set_ylabel('validation')
        vx.grid(alpha=0.3)
        vx.legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
