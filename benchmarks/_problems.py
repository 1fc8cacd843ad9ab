"""Benchmark functions, written once against the Array API (the same f on every side).

The definitions follow the project's performance notes: ``sumsq`` (memory-bound),
``rosenbrock`` (tridiagonal Hessian), ``logsumexp`` (no stop-gradient) and ``diffusion``
(tridiagonal Jacobian, zero Dirichlet boundaries).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

__all__ = ["diffusion", "logsumexp", "rosenbrock", "sumsq"]


def sumsq(x: Any) -> Any:
    """``sum(x**2)``."""
    xp = array_namespace(x)
    return xp.sum(x * x)


def rosenbrock(x: Any) -> Any:
    """``sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``."""
    xp = array_namespace(x)
    a, b = x[1:], x[:-1]
    return xp.sum(100.0 * (a - b * b) ** 2 + (1.0 - b) ** 2)


def logsumexp(x: Any) -> Any:
    """``m + log(sum(exp(x - m)))`` with ``m = max(x)``."""
    xp = array_namespace(x)
    m = xp.max(x)
    return m + xp.log(xp.sum(xp.exp(x - m)))


def diffusion(u: Any) -> Any:
    """``u[i-1] - 2 u[i] + u[i+1] + u (1 - u)`` with zero Dirichlet boundaries."""
    xp = array_namespace(u)
    zero = xp.zeros((1,), dtype=u.dtype)
    padded = xp.concat([zero, u, zero])
    return padded[:-2] - 2.0 * u + padded[2:] + u * (1.0 - u)
