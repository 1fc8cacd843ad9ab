"""Finite differences in pure Array-API code: the engine behind ``AutoFiniteDiff``.

The engine computes in the caller's own namespace and on its device: every array it creates
takes ``dtype`` and ``device`` from ``x``, and nothing is written by index (except a private
copy of an eager, mutable ``x`` that no AD engine tracks, in the coordinate sweep), so numpy,
array-api-strict (any device), torch, JAX and dask arrays all work natively, and an AD engine
tracking ``x`` can differentiate through the results (steps are constants, points are built
out of place). Since nothing
leaves the caller's namespace, this package has no caller-array adapter (no ``io.py`` with a
``CallerIO``, unlike the JAX, torch and autograd engines).

Modules
-------
``engine``
    :class:`FiniteDiffEngine`, which picks a plan for each operator.
``first``
    First-order plans (pushforward, gradient, Jacobian), their steps and accuracy.
``second``
    Fused second-order stencils (second derivative, hvp, Hessian), loaded on first use.
``evaluate``
    Evaluating ``f`` at many points: stacked when ``f`` is batchable, else in a loop.

It imports no engine package, so it is safe to import with the library (it still loads on
the first use of ``AutoFiniteDiff`` only).
"""

from .engine import FiniteDiffEngine

__all__ = ["FiniteDiffEngine"]
