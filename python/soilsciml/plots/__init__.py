"""Matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``: nothing is
registered with a GUI backend, so a script or a grid run writes files with ``fig.savefig``
(no backend switch needed) and frees each figure when it is no longer referenced. In Jupyter
the returned figure shows itself inline (:class:`InlineFigure` renders as PNG), with or
without ``%matplotlib inline``. Nothing calls ``plt.show``.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

__all__ = ["InlineFigure", "new_figure"]


class InlineFigure(Figure):
    """A figure that Jupyter shows as a PNG image although no pyplot backend manages it."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **subplot_kw: Any
) -> tuple[Figure, Any]:
    """A figure and its grid of axes, as :func:`matplotlib.pyplot.subplots` but without pyplot.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    figsize : tuple of float
        Width and height in inches.
    **subplot_kw
        ``layout`` (e.g. ``"constrained"``) goes to the figure; the rest (``sharex``,
        ``sharey``, ...) to :meth:`matplotlib.figure.Figure.subplots`.

    Returns
    -------
    figure : InlineFigure
        A :class:`matplotlib.figure.Figure` that also shows itself in a notebook.
    axes : matplotlib.axes.Axes or numpy.ndarray of them
    """
    figure = InlineFigure(figsize=figsize, layout=subplot_kw.pop("layout", None))
    return figure, figure.subplots(nrows, ncols, **subplot_kw)
