"""Coloring: greedy colorings of a sparsity pattern, and decompression of compressed results.

``orders`` sorts the vertices of a graph for the greedy algorithms, ``greedy`` colors the
column-intersection graph of a Jacobian (column or row coloring) or the adjacency graph of a
Hessian (star or acyclic coloring), ``decompression`` turns a coloring into the 0/1 seeds
and the gather (or substitution) that recovers the nonzeros from the compressed results;
``bicoloring`` splits a Jacobian between pushforwards and pullbacks (``di.MixedMode``).

``kernels`` decides when the compiled loops of ``compiled_loops`` (numba, imported only for
large graphs and only when installed) replace the Python loops; they compute the same colors.

Imports: numpy, scipy, numba (``compiled_loops`` only), ``differentiation_interface._array``,
``differentiation_interface.errors`` and the shared leaf ``sparse._pattern`` only; never the
tracer (``sparse._tracer``), the glue modules of ``sparse`` nor ``operators``, ``backends`` or
``testing``.

The orders are imported eagerly (the ``GreedyColoringAlgorithm`` selector validates its
``order`` at ``import differentiation_interface``); the colorings and decompression import
scipy, so their names are loaded on first access, keeping that import free of scipy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .orders import ORDERS, Order, vertex_order

if TYPE_CHECKING:
    from .bicoloring import Bicoloring, bicoloring, mixed_seeds
    from .decompression import (
        ColoringError,
        column_index,
        count_colors,
        row_index,
        seeds,
        star_index,
        substitution,
    )
    from .greedy import (
        acyclic_coloring,
        best_coloring,
        column_coloring,
        column_graph,
        star_coloring,
        symmetric_graph,
    )

__all__ = [
    "ORDERS",
    "Bicoloring",
    "ColoringError",
    "Order",
    "acyclic_coloring",
    "best_coloring",
    "bicoloring",
    "column_coloring",
    "column_graph",
    "column_index",
    "count_colors",
    "mixed_seeds",
    "row_index",
    "seeds",
    "star_coloring",
    "star_index",
    "substitution",
    "symmetric_graph",
    "vertex_order",
]

#: the names loaded on first access, by submodule
_LAZY = (
    dict.fromkeys(
        (
            "ColoringError",
            "column_index",
            "count_colors",
            "row_index",
            "seeds",
            "star_index",
            "substitution",
        ),
        "decompression",
    )
    | dict.fromkeys(
        (
            "acyclic_coloring",
            "best_coloring",
            "column_coloring",
            "column_graph",
            "star_coloring",
            "symmetric_graph",
        ),
        "greedy",
    )
    | dict.fromkeys(("Bicoloring", "bicoloring", "mixed_seeds"), "bicoloring")
)


def __getattr__(name: str) -> Any:
    """Load a coloring or decompression name on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
