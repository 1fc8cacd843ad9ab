"""Properties every engine must satisfy on random functions and points (hypothesis).

Random smooth functions ``f(x) = A @ g(B @ x) + x[0] / 2`` and ``s(x) = w . g(B @ x) +
x . C x / 2`` (``g`` one of a few nonlinearities, bound with ``functools.partial``; ``A``,
``B``, ``C`` passed as ``Constant`` contexts) are differentiated by every engine, and the
results must satisfy identities that do not depend on any engine being right: the
dot-product test of pushforward against pullback, symmetry of Hessians, agreement of every
variant (value-and, stacked tangents, Jacobian against pushforwards, Hessian against hvp,
prepared against unprepared), and agreement with finite differences. The number of
examples is bounded (``derandomize`` makes CI runs reproducible); set
``HYPOTHESIS_PROFILE=thorough`` for a longer local search.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

import differentiation_interface as di

pytest.importorskip("jax")
pytest.importorskip("torch")
pytest.importorskip("autograd")
hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given, settings = hypothesis.given, hypothesis.settings

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=200, deadline=None)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FD = di.AutoFiniteDiff()
ENGINES = [
    FD,
    di.AutoJAX(),
    di.AutoJAX(mode="forward"),
    di.AutoTorch(),
    di.AutoTorch(mode="forward"),
    di.AutoAutograd(),
    di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX()),
    di.SecondOrder(FD, di.AutoTorch()),
]


def _tolerance(backend: Any) -> float:
    return 1e-5 if "FiniteDiff" in repr(backend) else 1e-9


def _g(xp: Any, kind: int, u: Any) -> Any:
    if kind == 0:
        return xp.sin(u)
    if kind == 1:
        return xp.tanh(u)
    if kind == 2:
        return xp.exp(-(u**2) / 4)
    return u**3 / 6


def _vector(x: Any, A: Any, B: Any, *, kind: int) -> Any:
    xp = array_namespace(x)
    return A @ _g(xp, kind, B @ x) + 0.5 * x[0]


def _scalar(x: Any, B: Any, C: Any, *, kind: int) -> Any:
    xp = array_namespace(x)
    w = xp.linspace(0.5, 1.5, B.shape[0], dtype=x.dtype)
    return xp.sum(w * _g(xp, kind, B @ x)) + 0.5 * (x @ (C @ x))


@st.composite
def problems(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    m = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {
        "x": rng.uniform(-1.5, 1.5, n),
        "v": rng.normal(size=n),
        "w": rng.normal(size=m),
        "A": rng.normal(size=(m, n)) / np.sqrt(n),
        "B": rng.normal(size=(n, n)) / np.sqrt(n),
        "C": rng.normal(size=(n, n)),
        "kind": draw(st.integers(0, 3)),
    }


def _vector_problem(p: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """``f`` (the nonlinearity bound) and its contexts."""
    return partial(_vector, kind=p["kind"]), (di.Constant(p["A"]), di.Constant(p["B"]))


def _scalar_problem(p: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    return partial(_scalar, kind=p["kind"]), (di.Constant(p["B"]), di.Constant(p["C"]))


def _close(a: Any, b: Any, rtol: float) -> None:
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
@PROFILE
@given(p=problems())
def test_dot_product_pushforward_against_pullback(backend: Any, p: dict[str, Any]) -> None:
    """<J v, w> = <v, J^T w>, and both agree with finite differences."""
    vector_f, contexts = _vector_problem(p)
    (jv,) = di.pushforward(vector_f, backend, p["x"], (p["v"],), *contexts)
    (jtw,) = di.pullback(vector_f, backend, p["x"], (p["w"],), *contexts)
    tol = _tolerance(backend)
    lhs, rhs = float(np.dot(jv, p["w"])), float(np.dot(p["v"], jtw))
    assert abs(lhs - rhs) <= tol * max(1.0, abs(lhs), abs(rhs))
    J = di.jacobian(vector_f, FD, p["x"], *contexts)
    _close(jv, J @ p["v"], 1e-5)
    _close(jtw, J.T @ p["w"], 1e-5)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
@PROFILE
@given(p=problems())
def test_jacobian_agrees_with_stacked_pushforwards_and_pullbacks(
    backend: Any, p: dict[str, Any]
) -> None:
    vector_f, contexts = _vector_problem(p)
    x, n = p["x"], p["x"].size
    tol = _tolerance(backend)
    y, J = di.value_and_jacobian(vector_f, backend, x, *contexts)
    _close(y, vector_f(x, p["A"], p["B"]), 1e-12)
    basis = tuple(np.eye(n))
    columns = di.pushforward(vector_f, backend, x, basis, *contexts)
    _close(J, np.stack(columns, axis=1), tol)
    rows = di.pullback(vector_f, backend, x, tuple(np.eye(y.size)), *contexts)
    _close(J, np.stack(rows, axis=0), tol)
    prep = di.prepare_jacobian(vector_f, backend, x + 0.25, *contexts)
    _close(di.jacobian(vector_f, backend, x, *contexts, prep=prep), J, tol)


@pytest.mark.parametrize("backend", ENGINES, ids=repr)
@PROFILE
@given(p=problems())
def test_hessians_are_symmetric_and_agree_with_hvp_and_gradient(
    backend: Any, p: dict[str, Any]
) -> None:
    scalar_f, contexts = _scalar_problem(p)
    x = p["x"]
    tol = _tolerance(backend)
    y, grad, H = di.value_gradient_and_hessian(scalar_f, backend, x, *contexts)
    _close(H, H.T, max(tol, 1e-12) * 10)
    _close(grad, di.gradient(scalar_f, backend, x, *contexts), tol)
    _close(y, di.value_and_gradient(scalar_f, backend, x, *contexts)[0], 1e-12)
    (hv,) = di.hvp(scalar_f, backend, x, (p["v"],), *contexts)
    _close(hv, H @ p["v"], max(tol, 1e-9) * 10)
    g2, (hv2,) = di.gradient_and_hvp(scalar_f, backend, x, (p["v"],), *contexts)
    _close(g2, grad, tol)
    _close(hv2, hv, max(tol, 1e-9) * 10)
    _close(H, di.hessian(scalar_f, FD, x, *contexts), 1e-4)
