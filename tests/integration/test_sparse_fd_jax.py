"""Sparse finite differences on JAX arrays: preparation that does not grow with ``n``.

For JAX callers the sparse plan compiles its dense call and decompression into one program.
Finite differences of a function that cannot take stacked points used to evaluate it in a
Python loop, which under that trace put one copy of ``f`` per evaluation point into the
program (``4 n`` per color): XLA then took minutes to compile a 50-variable Hessian. JAX's
``vmap`` now maps ``f`` over each chunk of points, so the program holds a number of copies
of ``f`` that does not depend on ``n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

jax = pytest.importorskip("jax")
jnp = jax.numpy

SPARSE_FD = di.AutoSparse(di.AutoFiniteDiff())


class Traced:
    """``sum(sin(x)^2) + sum(x[1:] x[:-1])`` (one point at a time: stacked points are summed
    together), counting the calls that JAX traces into a program."""

    def __init__(self) -> None:
        self.traced = 0

    def __call__(self, x: Any) -> Any:
        if isinstance(x, jax.core.Tracer):
            self.traced += 1
        xp = array_namespace(x)
        return xp.sum(xp.sin(x) ** 2) + xp.sum(x[1:] * x[:-1])


def tridiagonal_hessian(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    return np.diag(2 * np.cos(2 * x)) + np.eye(n, k=1) + np.eye(n, k=-1)


def dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.todense()) if hasattr(matrix, "todense") else np.asarray(matrix)


def test_sparse_fd_hessian_on_jax_arrays_at_n_50() -> None:
    with jax.enable_x64(True):
        f = Traced()
        x = jnp.linspace(0.1, 2.0, 50)
        prep = di.prepare_hessian(f, SPARSE_FD, x)
        assert prep.plan.ncolors == 3  # a tridiagonal pattern: three Hessian-vector products
        H = dense(di.hessian(f, SPARSE_FD, x, prep=prep))
        np.testing.assert_allclose(H, tridiagonal_hessian(np.asarray(x)), atol=1e-6)
        _, g, H = di.value_gradient_and_hessian(f, SPARSE_FD, x, prep=prep)
        np.testing.assert_allclose(dense(H), tridiagonal_hessian(np.asarray(x)), atol=1e-6)
        xn = np.asarray(x)
        grad = np.sin(2 * xn) + np.concatenate([xn[1:], [0.0]]) + np.concatenate([[0.0], xn[:-1]])
        np.testing.assert_allclose(np.asarray(g), grad, atol=1e-8)


def test_traced_copies_of_f_do_not_grow_with_n() -> None:
    """The compiled program evaluates ``f`` through a map, not once per point."""
    counts = []
    with jax.enable_x64(True):
        for n in (10, 40):
            f = Traced()
            di.prepare_hessian(f, SPARSE_FD, jnp.linspace(0.1, 2.0, n))
            counts.append(f.traced)
    assert counts[0] == counts[1]
    assert counts[0] < 40  # a handful of maps per color, not 4 * n evaluations


def test_sparse_fd_jacobian_on_jax_arrays() -> None:
    def f(x: Any) -> Any:  # one point only (a stacked input would mix points)
        xp = array_namespace(x)
        return xp.sin(x) * xp.sum(x[:1])  # column 0 full, diagonal elsewhere

    with jax.enable_x64(True):
        x = jnp.linspace(0.1, 2.0, 30)
        J = dense(di.jacobian(f, SPARSE_FD, x))
        xn = np.asarray(x)
        expected = np.diag(np.cos(xn) * xn[0])
        expected[:, 0] += np.sin(xn)
        np.testing.assert_allclose(J, expected, atol=1e-8)
