"""Creating figures on the Agg canvas and writing them atomically.

Figures are built with :class:`matplotlib.figure.Figure` and an explicit Agg canvas rather than
``pyplot``: no global backend switch, no figure registry to leak memory in long processes.
"""
import os
from typing import Any, Tuple

from surgvista_mm.utils.io import atomic_writer

__all__ = ['new_figure', 'save_figure']


def new_figure(figsize: Tuple[float, float]) -> Any:
    """A constrained-layout :class:`~matplotlib.figure.Figure` attached to an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str, dpi: int = 150) -> None:
    """Write ``fig`` to ``path`` atomically (format from the extension: png, pdf, svg, ...).

    The image goes to a temporary file in the same folder, which is then renamed over ``path``, so
    a reader never sees a half-written image. The folder is created if needed.

    Raises:
        ValueError: ``path`` has no extension matplotlib can write.
        OSError: the folder is not writable.
    """
    ext = os.path.splitext(path)[1].lower().lstrip('.')
    supported = fig.canvas.get_supported_filetypes()
    if ext not in supported:
        raise ValueError(f'{path}: unsupported image type {ext!r} (use one of '
                         f'{", ".join(sorted(supported))})')
    with atomic_writer(path, 'wb') as f:
        fig.savefig(f, format=ext, dpi=dpi)
