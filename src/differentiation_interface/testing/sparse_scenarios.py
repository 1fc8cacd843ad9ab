"""Sparse scenarios: Jacobians and Hessians with closed-form sparsity patterns and values.

Each :class:`SparseScenario` is a :class:`~differentiation_interface.testing.Scenario` that
also carries its exact sparsity pattern (a boolean ``scipy.sparse.csr_array``), so that
detectors can be checked entry by entry and sparse results compared with the dense
reference. The functions are written against the Array API and evaluate stacked points
(a leading batch axis) correctly, as finite differences like them to.

================================  =============================  ==========================
name                              structure                      optimal colors
================================  =============================  ==========================
``jacobian:tridiagonal``          reaction-diffusion, Dirichlet  3 (columns)
``jacobian:banded``               diagonals 0 and +-2, products  3
                                  with zero padding
``jacobian:stencil2d``            2-D 5-point stencil on a       5
                                  k x k grid (2-D input)
``jacobian:brusselator``          1-D Brusselator, periodic      6
``jacobian:arrow``                dense first row and column     n (no unidirectional gain)
``hessian:rosenbrock``            chain Rosenbrock, tridiagonal  3 (star), 2 (acyclic)
``hessian:arrow``                 ``x0 * sum(x[1:]**2)``         2 (star)
================================  =============================  ==========================
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._array import device_of, namespace_of
from .scenarios import Scenario

__all__ = [
    "SparseScenario",
    "arrow_hessian",
    "arrow_jacobian",
    "banded",
    "brusselator",
    "rosenbrock",
    "sparse_scenarios",
    "stencil2d",
    "tridiagonal",
]


@dataclasses.dataclass(frozen=True, eq=False)
class SparseScenario(Scenario):
    """A :class:`Scenario` that also knows its sparsity pattern.

    Parameters
    ----------
    pattern : scipy.sparse.csr_array, optional
        The exact boolean pattern of the Jacobian (``operator="jacobian"``) or Hessian.
    ncolors : int, optional
        The optimal number of colors (column coloring for Jacobians, star coloring for
        Hessians), when known.

    Examples
    --------
    >>> from differentiation_interface.testing.sparse_scenarios import sparse_scenarios
    >>> s = sparse_scenarios()[0]
    >>> s.name, s.pattern.shape, s.ncolors
    ('jacobian:tridiagonal', (12, 12), 3)
    """

    pattern: Any = None
    ncolors: int | None = None


def _pad(xp: Any, x: Any, width: int) -> Any:
    """``x`` with ``width`` zeros on both ends of its last axis."""
    zeros = xp.zeros((*x.shape[:-1], width), dtype=x.dtype, device=_device(x))
    return xp.concat([zeros, x, zeros], axis=-1)


def _device(x: Any) -> Any:
    return device_of(x)


def tridiagonal(u: Any) -> Any:
    """Reaction-diffusion with zero Dirichlet ends: ``u[i-1] - 2 u[i] + u[i+1] + u (1 - u)``."""
    xp = namespace_of(u)
    p = _pad(xp, u, 1)
    return p[..., :-2] - 2.0 * u + p[..., 2:] + u * (1.0 - u)


def banded(x: Any) -> Any:
    """``x[i-2] * x[i+2] + sin(x[i])`` with zeros beyond the ends."""
    xp = namespace_of(x)
    p = _pad(xp, x, 2)
    return p[..., :-4] * p[..., 4:] + xp.sin(x)


def stencil2d(u: Any) -> Any:
    """2-D 5-point Laplacian (zero boundary) plus ``u**3`` on a square grid ``u``."""
    xp = namespace_of(u)
    k = u.shape[-1]
    zero_row = xp.zeros((*u.shape[:-2], 1, k), dtype=u.dtype, device=_device(u))
    zero_col = xp.zeros((*u.shape[:-2], k + 2, 1), dtype=u.dtype, device=_device(u))
    p = xp.concat([zero_row, u, zero_row], axis=-2)
    p = xp.concat([zero_col, p, zero_col], axis=-1)
    lap = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4.0 * u
    return lap + u**3


def brusselator(x: Any) -> Any:
    """1-D Brusselator, ``x = [u; v]``, periodic (as in performance benchmarks)."""
    xp = namespace_of(x)
    half = x.shape[-1] // 2
    u, v = x[..., :half], x[..., half:]
    a = 0.02
    lu = xp.roll(u, 1, axis=-1) + xp.roll(u, -1, axis=-1) - 2.0 * u
    lv = xp.roll(v, 1, axis=-1) + xp.roll(v, -1, axis=-1) - 2.0 * v
    du = 1.0 + u * u * v - 4.4 * u + a * lu
    dv = 3.4 * u - u * u * v + a * lv
    return xp.concat([du, dv], axis=-1)


def arrow_jacobian(x: Any) -> Any:
    """``[sum(x**2), x0 * x1, ..., x0 * x_{n-1}]``: a dense first row and column."""
    xp = namespace_of(x)
    head = xp.sum(x**2, axis=-1, keepdims=True)
    return xp.concat([head, x[..., :1] * x[..., 1:]], axis=-1)


def rosenbrock(x: Any) -> Any:
    """Chain Rosenbrock ``sum(100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2)``."""
    xp = namespace_of(x)
    return xp.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2, axis=-1)


def arrow_hessian(x: Any) -> Any:
    """``x0 * sum(x[1:]**2) + sum(x**4) / 4``: an arrow-shaped Hessian."""
    xp = namespace_of(x)
    return x[..., 0] * xp.sum(x[..., 1:] ** 2, axis=-1) + xp.sum(x**4, axis=-1) / 4.0


def _pattern(dense: Any) -> Any:
    import scipy.sparse as sp

    return sp.csr_array(np.asarray(dense) != 0)


def _references(n: int, k: int, dtype: Any) -> list[dict[str, Any]]:
    out = []
    u = np.linspace(0.1, 0.4, n).astype(dtype)
    jac = np.diag(1.0 - 2.0 * u - 2.0) + np.eye(n, k=1) + np.eye(n, k=-1)
    out.append({"name": "jacobian:tridiagonal", "f": tridiagonal, "x": u, "res": jac, "ncolors": 3})

    x = np.linspace(0.5, 1.5, n).astype(dtype)
    jac = np.diag(np.cos(x))
    for i in range(n):
        if i - 2 >= 0 and i + 2 < n:
            jac[i, i - 2] = x[i + 2]
            jac[i, i + 2] = x[i - 2]
    out.append({"name": "jacobian:banded", "f": banded, "x": x, "res": jac, "ncolors": 3})

    grid = np.linspace(0.2, 0.9, k * k).reshape(k, k).astype(dtype)
    one = np.eye(k, k=1) + np.eye(k, k=-1)
    lap = np.kron(np.eye(k), one) + np.kron(one, np.eye(k)) - 4.0 * np.eye(k * k)
    jac = lap + np.diag(3.0 * grid.reshape(-1) ** 2)
    out.append({"name": "jacobian:stencil2d", "f": stencil2d, "x": grid, "res": jac, "ncolors": 5})

    half = n // 2
    xb = np.linspace(0.5, 1.5, 2 * half).astype(dtype)
    uu, vv = xb[:half], xb[half:]
    a = 0.02
    ring = np.roll(np.eye(half), 1, axis=1) + np.roll(np.eye(half), -1, axis=1)
    lap1 = a * (ring - 2.0 * np.eye(half))
    jac = np.block(
        [
            [np.diag(2 * uu * vv - 4.4) + lap1, np.diag(uu * uu)],
            [np.diag(3.4 - 2 * uu * vv), np.diag(-uu * uu) + lap1],
        ]
    )
    out.append(
        {"name": "jacobian:brusselator", "f": brusselator, "x": xb, "res": jac, "ncolors": 6}
    )

    xa = np.linspace(0.5, 1.5, n).astype(dtype)
    jac = np.zeros((n, n))
    jac[0, :] = 2 * xa
    jac[1:, 0] = xa[1:]
    jac[np.arange(1, n), np.arange(1, n)] = xa[0]
    out.append({"name": "jacobian:arrow", "f": arrow_jacobian, "x": xa, "res": jac, "ncolors": n})

    xr = np.linspace(-1.0, 1.5, n).astype(dtype)
    grad = np.zeros(n)
    d = xr[1:] - xr[:-1] ** 2
    grad[:-1] += -400.0 * d * xr[:-1] - 2.0 * (1.0 - xr[:-1])
    grad[1:] += 200.0 * d
    hess = np.zeros((n, n))
    diag = np.zeros(n)
    diag[:-1] += 1200.0 * xr[:-1] ** 2 - 400.0 * xr[1:] + 2.0
    diag[1:] += 200.0
    hess[np.arange(n), np.arange(n)] = diag
    off = -400.0 * xr[:-1]
    hess[np.arange(n - 1), np.arange(1, n)] = off
    hess[np.arange(1, n), np.arange(n - 1)] = off
    out.append(
        {
            "name": "hessian:rosenbrock",
            "f": rosenbrock,
            "x": xr,
            "grad": grad,
            "res": hess,
            "ncolors": 3,
        }
    )

    xh = np.linspace(0.5, 1.5, n).astype(dtype)
    grad = xh**3
    grad[0] += np.sum(xh[1:] ** 2)
    grad[1:] += 2.0 * xh[0] * xh[1:]
    hess = np.diag(3.0 * xh**2)
    hess[np.arange(1, n), np.arange(1, n)] += 2.0 * xh[0]
    hess[0, 1:] = hess[1:, 0] = 2.0 * xh[1:]
    out.append(
        {
            "name": "hessian:arrow",
            "f": arrow_hessian,
            "x": xh,
            "grad": grad,
            "res": hess,
            "ncolors": 2,
        }
    )
    return out


def sparse_scenarios(*, n: int = 12, k: int = 4, dtype: Any = np.float64) -> list[SparseScenario]:
    """Jacobian and Hessian scenarios with closed-form patterns and values (numpy arrays).

    Parameters
    ----------
    n : int
        Input size of the 1-D problems (even).
    k : int
        Side of the grid of the 2-D stencil (``k * k`` inputs).
    dtype : numpy dtype
        Floating dtype of the inputs.

    Returns
    -------
    list of SparseScenario

    Examples
    --------
    >>> from differentiation_interface.testing.sparse_scenarios import sparse_scenarios
    >>> [s.name for s in sparse_scenarios()][:3]
    ['jacobian:tridiagonal', 'jacobian:banded', 'jacobian:stencil2d']
    """
    scenarios = []
    for ref in _references(n, k, dtype):
        operator = ref["name"].split(":")[0]
        res = np.asarray(ref["res"], dtype=dtype)
        first, second = (res, None) if operator == "jacobian" else (ref["grad"], res)
        scenarios.append(
            SparseScenario(
                ref["f"],
                ref["x"],
                operator=operator,
                name=ref["name"],
                res1=np.asarray(first, dtype=dtype),
                res2=second,
                pattern=_pattern(ref["res"]),
                ncolors=ref["ncolors"],
            )
        )
    return scenarios
