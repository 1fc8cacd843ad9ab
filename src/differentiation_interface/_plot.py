"""Pictures: a sparsity pattern with its coloring, and a benchmark as grouped bars.

matplotlib (the ``[plot]`` extra) is imported only when a picture is drawn, so importing
the package never needs it. :func:`plot_sparsity` draws on the caller's axes (or new ones
from pyplot, so that notebooks show them); the command line's ``bench --plot`` uses
:func:`plot_benchmark`, which draws on a bare ``Figure`` and needs no display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["plot_benchmark", "plot_sparsity"]

_INSTALL = 'pip install "differentiation-interface[plot]"'

#: Qualitative colors (matplotlib's tab10), one per color class, cycled.
_PALETTE = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)
_EMPTY = np.array([245, 245, 245], dtype=np.uint8)
_UNCOLORED = np.array([40, 40, 40], dtype=np.uint8)


def _matplotlib(what: str) -> Any:
    try:
        import matplotlib
    except ImportError as err:
        msg = f"{what} needs matplotlib, which is not installed. Install it with: {_INSTALL}"
        raise ImportError(msg, name="matplotlib") from err
    return matplotlib


def _dense_pattern(pattern: Any) -> np.ndarray:
    """A boolean numpy matrix from a scipy sparse matrix, an array or a nested list."""
    to_dense = getattr(pattern, "toarray", None)
    dense = to_dense() if to_dense is not None else pattern
    from ._array import is_array, to_numpy  # the array layer: any namespace's arrays

    matrix = np.asarray(to_numpy(dense) if is_array(dense) else dense)
    if matrix.ndim != 2:
        msg = f"plot_sparsity takes a 2-D pattern; got shape {matrix.shape}."
        raise ValueError(msg)
    nonzero: np.ndarray = np.not_equal(matrix, 0)
    return nonzero


def _pattern_and_colors(source: Any, colors: Any) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """``(pattern, colors, partition, kind)`` from a preparation or a bare pattern."""
    sparsity = getattr(source, "sparsity", None)
    if sparsity is not None:  # an AutoSparse preparation (its plan's attributes)
        found = getattr(source, "colors", None) if colors is None else colors
        partition = getattr(source, "partition", None) or "column"
        kind = "Hessian" if getattr(source, "operator", "") == "hessian" else "Jacobian"
        return _dense_pattern(sparsity), _as_colors(found), partition, kind
    return _dense_pattern(source), _as_colors(colors), "column", "pattern"


def _as_colors(colors: Any) -> np.ndarray | None:
    return None if colors is None else np.asarray(colors, dtype=np.int64).ravel()


def _image(pattern: np.ndarray, colors: np.ndarray | None, partition: str) -> np.ndarray:
    """An RGB image: nonzeros painted with their column's (or row's) color class."""
    rows, cols = pattern.shape
    image = np.empty((rows, cols, 3), dtype=np.uint8)
    image[:] = _EMPTY
    if colors is None:
        image[pattern] = _UNCOLORED
        return image
    along = cols if partition == "column" else rows
    if colors.size != along:
        msg = (
            f"plot_sparsity: {colors.size} colors for a pattern with {along} "
            f"{partition}s; pass one color per {partition}."
        )
        raise ValueError(msg)
    shades = _PALETTE[colors % len(_PALETTE)]
    painted = np.broadcast_to(
        shades[None, :, :] if partition == "column" else shades[:, None, :], (rows, cols, 3)
    )
    image[pattern] = painted[pattern]
    return image


def plot_sparsity(
    prep_or_pattern: Any, ax: Any = None, *, colors: Any = None, title: str | None = None
) -> Any:
    """Draw a sparsity pattern, each nonzero painted with the color class of its column.

    Parameters
    ----------
    prep_or_pattern : Prep, sparse matrix or 2-D array
        A preparation of :class:`~differentiation_interface.AutoSparse` (its ``sparsity``
        and ``colors``: columns for forward-mode Jacobians and Hessians, rows for
        reverse-mode Jacobians, whose nonzeros take their row's color), or a pattern
        (a scipy sparse matrix, or an array whose nonzeros are the pattern).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure from ``matplotlib.pyplot``.
    colors : array of int, optional
        One color class per column, for a bare pattern (a preparation brings its own).
    title : str, optional
        Default: the kind, shape, number of nonzeros and of colors.

    Returns
    -------
    matplotlib Axes
        The axes drawn on. Nonzeros sharing a color never share a row (columns of one
        color are structurally orthogonal): that is what lets one compressed product
        recover them all. Without colors, nonzeros are dark gray.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install "differentiation-interface[plot]"``).

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import differentiation_interface as di
    >>> from array_api_compat import array_namespace
    >>> def f(x):  # a tridiagonal Jacobian: three colors
    ...     xp = array_namespace(x)
    ...     padded = xp.concat([xp.zeros(1), x, xp.zeros(1)])
    ...     return padded[:-2] - 2.0 * x + padded[2:] + x**2
    >>> prep = di.prepare_jacobian(f, di.AutoSparse(di.AutoFiniteDiff()), np.zeros(12))
    >>> ax = di.plot_sparsity(prep)
    >>> ax.get_title().splitlines()
    ['Jacobian sparsity, 12 x 12', '34 nonzeros, 3 colors (columns)']
    """
    _matplotlib("plot_sparsity")
    pattern, found, partition, kind = _pattern_and_colors(prep_or_pattern, colors)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(_image(pattern, found, partition), interpolation="nearest")
    rows, cols = pattern.shape
    if title is None:
        title = f"{kind} sparsity, {rows} x {cols}\n{int(pattern.sum())} nonzeros"
        if found is not None:
            title += f", {int(found.max(initial=-1)) + 1} colors ({partition}s)"
    ax.set_title(title, fontsize="medium")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if max(rows, cols) <= 60:  # small patterns: a thin grid shows the cells
        ax.set_xticks(np.arange(-0.5, cols, 1.0), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1.0), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.8)
        ax.tick_params(which="minor", length=0)
    ax.set_xlabel("column (input index)")
    ax.set_ylabel("row (output index)")
    return ax


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def plot_benchmark(
    rows: Sequence[Any], path: str, *, names: Mapping[str, str] | None = None
) -> None:
    """Write grouped bars of a benchmark to ``path`` (the extension picks the format).

    One panel per kind of timing (prepared call, unprepared call, preparation), operators
    along the horizontal axis, one bar per backend, time on a log scale (the geometric mean
    over the operator's scenarios, as the command line's tables). ``rows`` are
    :class:`~differentiation_interface.testing.BenchmarkRow`; failed rows are left out.
    """
    _matplotlib("bench --plot")
    from matplotlib.figure import Figure

    names = dict(names or {})
    operators = list(dict.fromkeys(r.operator for r in rows))
    backends = list(dict.fromkeys(r.backend for r in rows))
    panels: list[tuple[str, bool, str]] = [  # (title, prepared rows?, field)
        ("time per prepared call", True, "seconds"),
        ("time per unprepared call", False, "seconds"),
        ("preparation time", True, "preparation_seconds"),
    ]
    figure = Figure(figsize=(max(6.0, 1.1 * len(operators) + 3.0), 9.0), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True)
    width = 0.8 / max(len(backends), 1)
    positions = np.arange(len(operators))
    for ax, (title, prepared, field) in zip(axes, panels, strict=True):
        for k, backend in enumerate(backends):
            heights = []
            for op in operators:
                mine = [
                    getattr(r, field)
                    for r in rows
                    if r.backend == backend
                    and r.operator == op
                    and r.prepared is prepared
                    and r.status == "ok"
                ]
                heights.append(_geomean(mine))
            label = names.get(backend, backend)
            ax.bar(
                positions + (k - (len(backends) - 1) / 2) * width,
                heights,
                width,
                label=label,
                color=_PALETTE[k % len(_PALETTE)] / 255,
            )
        ax.set_yscale("log")
        ax.set_ylabel("seconds")
        ax.set_title(title, fontsize="medium")
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[-1].set_xticks(positions, operators, rotation=20)
    axes[0].legend(fontsize="small", ncols=min(4, len(backends)), loc="upper left")
    figure.savefig(path, dpi=120)
