"""Matplotlib figures.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``: nothing is
registered with a GUI backend, so a script or a grid run writes files with ``fig.savefig``
(no backend switch needed) and frees each figure when it is no longer referenced, and a
notebook shows the returned figure inline. Nothing calls ``plt.show``.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

__all__ = ["new_figure"]


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
    figure : matplotlib.figure.Figure
    axes : matplotlib.axes.Axes or numpy.ndarray of them
    """
    figure = Figure(figsize=figsize, layout=subplot_kw.pop("layout", None))
    return figure, figure.subplots(nrows, ncols, **subplot_kw)
