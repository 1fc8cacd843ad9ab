"""Torch graphs (API section 11): attached results, no silent zeros, torch errors translated.

* **Attached**: when ``x`` or a ``Constant`` requires grad, or the call runs under a
  ``torch.func`` transform, the operators' results stay on the caller's graph, so the caller
  differentiates through them. Every value is checked against a closed form: for
  ``f(x) = sum(x**3)``, ``grad = 3 x**2``, ``H = diag(6 x)``, so a gradient penalty
  ``sum(grad**2) = 9 sum(x**4)`` has derivative ``36 x**3``, and so on.
* **Detached** otherwise: nothing requires grad, no graph is built.
* **No silent zeros**: a cut graph raises ``DisconnectedGraphError`` in both modes and every
  operator, unless ``AutoTorch(allow_unused=True)``; partial dependence is not a cut graph.
* **Torch errors**: numpy inside ``f`` becomes ``UntraceableFunctionError`` chained from
  torch's error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

torch = pytest.importorskip("torch")

import differentiation_interface as di  # noqa: E402

REVERSE = di.AutoTorch()
FORWARD = di.AutoTorch(mode="forward")
TORCH = [REVERSE, FORWARD]
ENGINES = [*TORCH, di.AutoFiniteDiff()]
IDS = ["reverse", "forward", "finite_diff"]
MODES = pytest.mark.parametrize("backend", TORCH, ids=IDS[:2])
ALL = pytest.mark.parametrize("backend", ENGINES, ids=IDS)
PREPARED = pytest.mark.parametrize("prepared", [False, True], ids=["unprepared", "prepared"])

X = [0.5, -1.25, 2.0]
T = [1.0, 0.5, -2.0]


def _tol(backend: Any) -> dict[str, float]:
    """AD engines are exact to rounding; central differences to about 1e-6 relative."""
    if isinstance(backend, di.AutoFiniteDiff):
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": 1e-12, "atol": 1e-12}


def _leaf(values: list[float] = X) -> Any:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def _const(values: list[float] = T) -> Any:
    return torch.tensor(values, dtype=torch.float64)


def close(actual: Any, expected: Any, backend: Any) -> None:
    a = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(a, e, **_tol(backend))


def cube_sum(x: Any) -> Any:
    return array_namespace(x).sum(x**3)


def cube(x: Any) -> Any:
    return x**3


def weighted(x: Any, theta: Any) -> Any:
    return array_namespace(x).sum(theta * x**2)


def _call(
    operator: str, f: Callable[..., Any], backend: Any, x: Any, *rest: Any, prepared: bool
) -> Any:
    """``di.<operator>(f, backend, x, *rest)``, with a preparation made on a detached copy."""
    call = getattr(di, operator)
    if not prepared:
        return call(f, backend, x, *rest)
    plain = tuple(r.detach() if isinstance(r, torch.Tensor) else r for r in rest)
    prep = getattr(di, f"prepare_{operator}")(f, backend, x.detach(), *plain)
    return call(f, backend, x, *rest, prep=prep)


# --- attached: through the caller's tape --------------------------------------------------------


@ALL
@PREPARED
def test_gradient_penalty(backend: Any, prepared: bool) -> None:
    """d/dx sum(grad f(x)**2) = d/dx 9 sum(x**4) = 36 x**3, by torch.autograd.grad."""
    x = _leaf()
    g = _call("gradient", cube_sum, backend, x, prepared=prepared)
    assert g.requires_grad
    close(g, 3 * x**2, backend)
    (dpenalty,) = torch.autograd.grad((g**2).sum(), x)
    close(dpenalty, 36 * x**3, backend)


@MODES
def test_gradient_penalty_by_backward_with_value(backend: Any) -> None:
    """``value_and_gradient``: both results on the graph; ``.backward()`` fills ``x.grad``."""
    x = _leaf()
    y, g = di.value_and_gradient(cube_sum, backend, x)
    assert y.requires_grad
    assert g.requires_grad
    (y + (g**2).sum()).backward()
    close(x.grad, 3 * x**2 + 36 * x**3, backend)


@ALL
@PREPARED
def test_meta_learning_step(backend: Any, prepared: bool) -> None:
    """d/dx L(x - lr grad f(x)) = (1 - 6 lr x) * 3 x1**2 with x1 = x - 3 lr x**2."""
    lr = 0.1
    x = _leaf()
    x1 = x - lr * _call("gradient", cube_sum, backend, x, prepared=prepared)
    (dx,) = torch.autograd.grad(cube_sum(x1), x)
    xd = x.detach()
    x1d = xd - 3 * lr * xd**2
    close(dx, (1 - 6 * lr * xd) * 3 * x1d**2, backend)


@ALL
@PREPARED
def test_derivative_of_gradient_wrt_a_constant(backend: Any, prepared: bool) -> None:
    """grad_x sum(theta x**2) = 2 theta x, so d/dtheta sum(grad_x) = 2 x (theta a Constant)."""
    x, theta = _const(X), _leaf(T)
    g = _call("gradient", weighted, backend, x, di.Constant(theta), prepared=prepared)
    close(g, 2 * theta * x, backend)
    (dtheta,) = torch.autograd.grad(g.sum(), theta)
    close(dtheta, 2 * x, backend)


@MODES
def test_context_depending_on_x_gives_the_partial_derivative(backend: Any) -> None:
    """theta = 2 x: the operator differentiates with respect to x alone (theta held), and
    the caller's graph then carries the dependence of theta on x."""
    x = _leaf()
    theta = 2 * x
    g = di.gradient(weighted, backend, x, di.Constant(theta))
    close(g, 2 * theta * x, backend)  # partial: 2 theta x = 4 x**2, not 6 x**2
    (dx,) = torch.autograd.grad(g.sum(), x)  # d/dx sum(4 x**2) = 8 x
    close(dx, 8 * x, backend)


@MODES
@PREPARED
@pytest.mark.parametrize(
    ("operator", "f", "rest", "result", "through"),
    [
        # (result at x, d/dx sum(result)) in closed form, for t = T
        ("pushforward", cube, "t", lambda x, t: 3 * x**2 * t, lambda x, t: 6 * x * t),
        ("pullback", cube, "t", lambda x, t: 3 * x**2 * t, lambda x, t: 6 * x * t),
        ("jacobian", cube, "", lambda x, t: torch.diag(3 * x**2), lambda x, t: 6 * x),
        ("hvp", cube_sum, "t", lambda x, t: 6 * x * t, lambda x, t: 6 * t),
        ("hessian", cube_sum, "", lambda x, t: torch.diag(6 * x), lambda x, t: 0 * x + 6),
    ],
)
def test_operators_stay_attached(
    backend: Any, prepared: bool, operator: str, f: Any, rest: str, result: Any, through: Any
) -> None:
    x, t = _leaf(), _const()
    args = ((t,),) if rest else ()
    out = _call(operator, f, backend, x, *args, prepared=prepared)
    out = out[0] if rest else out
    xd = x.detach()
    close(out, result(xd, t), backend)
    (dx,) = torch.autograd.grad(out.sum(), x)
    close(dx, through(xd, t), backend)


@MODES
@pytest.mark.parametrize(
    ("operator", "value", "through"),
    [
        ("derivative", lambda x: 3 * x**2, lambda x: 6 * x),
        ("second_derivative", lambda x: 6 * x, lambda x: 6 + 0 * x),
    ],
)
def test_scalar_operators_stay_attached(
    backend: Any, operator: str, value: Any, through: Any
) -> None:
    x = torch.tensor(0.75, dtype=torch.float64, requires_grad=True)
    out = getattr(di, operator)(cube, backend, x)
    close(out, value(x.detach()), backend)
    (dx,) = torch.autograd.grad(out, x)
    close(dx, through(x.detach()), backend)


@MODES
def test_two_argument_function_and_cache_stay_attached(backend: Any) -> None:
    """f(y, x) writing x**2, and a Cache buffer: d/dx sum(J) = d/dx sum(2 x) = 2."""
    x = _leaf()

    def square_into(y: Any, v: Any) -> None:
        y[...] = v * v

    def through_cache(v: Any, c: Any) -> Any:
        c[...] = v * v
        return array_namespace(v).sum(c)

    jac = di.jacobian(square_into, backend, x, y=torch.zeros(3, dtype=torch.float64))
    close(jac, torch.diag(2 * x), backend)
    close(torch.autograd.grad(jac.sum(), x)[0], np.full(3, 2.0), backend)
    g = di.gradient(through_cache, backend, x, di.Cache(torch.zeros(3, dtype=torch.float64)))
    close(torch.autograd.grad(g.sum(), x)[0], np.full(3, 2.0), backend)


@MODES
def test_pytree_gradient_penalty(backend: Any) -> None:
    """f = sum(a**2) b**2: the penalty |grad_a|**2 + grad_b**2 = 4 b**4 |a|**2 + 4 b**2 |a|**4
    has d/da = 8 b**4 a + 16 b**2 |a|**2 a."""
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    g = di.gradient(lambda t: (t["a"] ** 2).sum() * t["b"] ** 2, backend, {"a": a, "b": b})
    (da,) = torch.autograd.grad((g["a"] ** 2).sum() + g["b"] ** 2, a)
    a0, b0 = a.detach(), b.detach()
    close(da, 8 * b0**4 * a0 + 16 * b0**2 * (a0**2).sum() * a0, backend)


def test_prepared_pytree_gradient_stays_attached() -> None:
    """A prep made on detached leaves (the tape's native tree route) serves later calls on
    leaves that require grad, or inside torch.func.grad, on the caller's graph: the same
    penalty as above, and torch.func.grad of sum(grad_a) = 2 b**2 (one per entry of a)."""
    backend = di.AutoTorch()

    def f(t: Any) -> Any:
        return (t["a"] ** 2).sum() * t["b"] ** 2

    a0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    b0 = torch.tensor(3.0, dtype=torch.float64)
    prep = di.prepare_gradient(f, backend, {"a": a0, "b": b0})
    a, b = a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    g = di.gradient(f, backend, {"a": a, "b": b}, prep=prep)
    assert g["a"].requires_grad
    (da,) = torch.autograd.grad((g["a"] ** 2).sum() + g["b"] ** 2, a)
    close(da, 8 * b0**4 * a0 + 16 * b0**2 * (a0**2).sum() * a0, backend)

    def total(v: Any) -> Any:
        return di.gradient(f, backend, {"a": v, "b": b0}, prep=prep)["a"].sum()

    close(torch.func.grad(total)(a0), 2 * b0**2 * torch.ones(2, dtype=torch.float64), backend)
    g = di.gradient(f, backend, {"a": a0, "b": b0}, prep=prep)  # detached again
    assert not g["a"].requires_grad
    close(g["a"], 2 * a0 * b0**2, backend)


# --- attached: under torch.func transforms ----------------------------------------------------


@ALL
@PREPARED
def test_torch_func_grad_through_gradient(backend: Any, prepared: bool) -> None:
    """torch.func.grad(x -> sum(grad f(x))) = 6 x; a prep made outside serves the call."""
    x = _const(X)
    prep = di.prepare_gradient(cube_sum, backend, x) if prepared else None

    def total(v: Any) -> Any:
        return di.gradient(cube_sum, backend, v, prep=prep).sum()

    close(torch.func.grad(total)(x), 6 * x, backend)


@MODES
def test_vmap_jvp_and_jacrev_of_gradient(backend: Any) -> None:
    """vmap gives per-row gradients 3 X**2; jvp gives H t = 6 x t; jacrev gives diag(6 x)."""
    x, t = _const(X), _const()
    rows = torch.stack([x, 2 * x])

    def grad(v: Any) -> Any:
        return di.gradient(cube_sum, backend, v)

    close(torch.func.vmap(grad)(rows), 3 * rows**2, backend)
    _, tangent = torch.func.jvp(grad, (x,), (t,))
    close(tangent, 6 * x * t, backend)
    close(torch.func.jacrev(grad)(x), torch.diag(6 * x), backend)
    hessians = torch.func.vmap(lambda v: di.hessian(cube_sum, backend, v))(rows)
    close(hessians, torch.stack([torch.diag(6 * r) for r in rows]), backend)


@MODES
def test_torch_func_grad_through_hvp_and_jacobian(backend: Any) -> None:
    x, t = _const(X), _const()

    def hv(v: Any) -> Any:
        return di.hvp(cube_sum, backend, v, (t,))[0].sum()

    def jac(v: Any) -> Any:
        return di.jacobian(cube, backend, v).sum()

    close(torch.func.grad(hv)(x), 6 * t, backend)
    close(torch.func.grad(jac)(x), 6 * x, backend)


@MODES
def test_nested_autotorch_calls_compose(backend: Any) -> None:
    """An AutoTorch gradient inside a function another AutoTorch call differentiates:
    d/dx sum(3 x**2) = 6 x."""
    x = _const(X).numpy()
    outer = di.gradient(
        lambda v: array_namespace(v).sum(di.gradient(cube_sum, backend, v)), REVERSE, x
    )
    np.testing.assert_allclose(outer, 6 * x, rtol=1e-12)


def test_dual_numbers_of_the_callers_forward_ad_are_refused() -> None:
    """The caller's own forward_ad level does not compose with the engine: an error that
    points to torch.func.jvp (which does, above), not a silently lost tangent."""
    fwad = torch.autograd.forward_ad
    di.gradient(cube_sum, REVERSE, _const(X))  # the engine loads forward AD's rules quietly
    with fwad.dual_level():
        dual = fwad.make_dual(_const(X), _const(T))
        with pytest.raises(di.UnsupportedOperationError, match=r"torch\.func\.jvp"):
            di.gradient(cube_sum, REVERSE, dual)


# --- detached otherwise -------------------------------------------------------------------------


@ALL
def test_detached_when_nothing_requires_grad(backend: Any) -> None:
    x = _const(X)
    for g in (di.gradient(cube_sum, backend, x), di.hvp(cube_sum, backend, x, (x,))[0]):
        assert not g.requires_grad
        assert g.grad_fn is None
    for off in (torch.no_grad, torch.inference_mode):  # grad mode off: no graph wanted
        with off():
            g = di.gradient(cube_sum, backend, _leaf())
        assert not g.requires_grad
        close(g, 3 * x**2, backend)


# --- no silent zeros ----------------------------------------------------------------------------


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))

    def forward(self, inputs: Any) -> Any:
        return (self.w * inputs).sum() ** 2


MODEL = _Model()
INPUTS = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)


def loss_vector_to_parameters(p: Any) -> Any:
    """The loss written with vector_to_parameters, which writes ``.data``: the graph is cut."""
    torch.nn.utils.vector_to_parameters(p, MODEL.parameters())
    return MODEL(INPUTS)


def loss_functional_call(p: Any) -> Any:
    """The fix: torch.func.functional_call keeps the graph."""
    return torch.func.functional_call(MODEL, {"w": p}, (INPUTS,))


CUT = {
    "asarray": lambda x: array_namespace(x).asarray([x[0] * x[1], x[2] ** 2]),
    "detach": lambda x: x.detach() ** 2,
    "numpy_round_trip": lambda x: torch.from_numpy(np.sin(x.detach().numpy())),
    "vector_to_parameters": lambda x: torch.stack([loss_vector_to_parameters(x)]),
}
HINTS = {
    "asarray": r"xp\.stack",
    "detach": r"`\.detach\(\)`",
    "numpy_round_trip": r"`\.detach\(\)`.*numpy",
    "vector_to_parameters": r"`\.data`.*functional_call",
}
# Every operator, on a vector-valued f (reduced by sum where the operator needs a scalar).
OPERATORS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "pushforward": lambda f, b, x: di.pushforward(f, b, x, (x,)),
    "pullback": lambda f, b, x: di.pullback(f, b, x, (f(x.detach()),)),
    "jacobian": di.jacobian,
    "gradient": lambda f, b, x: di.gradient(lambda v: f(v).sum(), b, x),
    "hvp": lambda f, b, x: di.hvp(lambda v: f(v).sum(), b, x, (x,)),
    "hessian": lambda f, b, x: di.hessian(lambda v: f(v).sum(), b, x),
    "derivative": lambda f, b, x: di.derivative(lambda s: f(s * x), b, x[0]),
    "second_derivative": lambda f, b, x: di.second_derivative(lambda s: f(s * x).sum(), b, x[0]),
}


@MODES
@pytest.mark.parametrize("cut", list(CUT))
@pytest.mark.parametrize("operator", list(OPERATORS))
def test_cut_graph_raises_in_every_mode_and_operator(backend: Any, cut: str, operator: str) -> None:
    x = _const(X)
    with pytest.raises(di.DisconnectedGraphError, match=HINTS[cut]) as info:
        OPERATORS[operator](CUT[cut], backend, x)
    assert "allow_unused" in str(info.value) or cut == "asarray"


@MODES
def test_vector_to_parameters_fix_matches_finite_differences(backend: Any) -> None:
    """The documented fix gives the gradient finite differences give on the cut loss."""
    p = _const(X)
    fd = di.gradient(loss_vector_to_parameters, di.AutoFiniteDiff(), p)
    w = (p * INPUTS).sum()
    close(fd, 2 * w * INPUTS, di.AutoFiniteDiff())  # the closed form: d/dp (p . u)**2
    close(di.gradient(loss_functional_call, backend, p), 2 * w * INPUTS, backend)
    with pytest.raises(di.DisconnectedGraphError):
        di.gradient(loss_vector_to_parameters, backend, p)


@MODES
def test_allow_unused_returns_zeros_for_constant_functions(backend: Any) -> None:
    x = _const(X)

    def constant(v: Any) -> Any:
        return array_namespace(v).ones((2,), dtype=v.dtype)

    allowed = dataclasses.replace(backend, allow_unused=True)
    assert allowed.allow_unused
    assert repr(allowed).endswith("allow_unused=True)")
    np.testing.assert_array_equal(di.jacobian(constant, allowed, x), np.zeros((2, 3)))
    np.testing.assert_array_equal(di.pushforward(constant, allowed, x, (x,))[0], np.zeros(2))
    np.testing.assert_array_equal(di.gradient(lambda v: constant(v).sum(), allowed, x), np.zeros(3))
    with pytest.raises(di.DisconnectedGraphError, match="allow_unused"):
        di.jacobian(constant, backend, x)
    with pytest.raises(TypeError, match="allow_unused"):
        di.AutoTorch(allow_unused=1)  # type: ignore[arg-type]


@MODES
def test_partial_dependence_is_not_a_cut_graph(backend: Any) -> None:
    """y = (x0 x1, 2): the second output and x2 are unconnected, but y depends on x."""
    x = _const(X)

    def partial(v: Any) -> Any:
        xp = array_namespace(v)
        return xp.stack([v[0] * v[1], xp.asarray(2.0, dtype=v.dtype)])

    want = np.array([[X[1], X[0], 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(di.jacobian(partial, backend, x), want, rtol=1e-12)


def test_pytree_gradient_with_a_cut_graph_raises() -> None:
    x = {"a": _const(X), "b": _const(T)}
    with pytest.raises(di.DisconnectedGraphError):
        di.gradient(lambda d: (d["a"].detach() * d["b"].detach()).sum(), REVERSE, x)
    g = di.gradient(lambda d: (d["a"] ** 2).sum(), REVERSE, x)  # b unused: not cut
    close(g["a"], 2 * x["a"], REVERSE)
    close(g["b"], np.zeros(3), REVERSE)


# --- torch's errors, translated -----------------------------------------------------------------


@MODES
def test_numpy_function_inside_f(backend: Any) -> None:
    x = np.array(X)
    with pytest.raises(di.UntraceableFunctionError, match=r"xp\.sin") as info:
        di.gradient(lambda v: np.sum(np.sin(v)), backend, x)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "detach" in str(info.value.__cause__)  # torch's own advice, which would be wrong


@MODES
def test_numpy_inside_f_on_tensors_that_require_grad(backend: Any) -> None:
    """torch x: the library's own first evaluation of f meets torch's error."""
    x, a = _leaf(), np.eye(3)
    with pytest.raises(di.UntraceableFunctionError, match=r"xp\.sin") as info:
        di.gradient(lambda v: np.sum(np.sin(v)), backend, x)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(di.UntraceableFunctionError, match=r"di\.Constant"):
        di.gradient(lambda v: (a @ v).sum(), backend, x)


@MODES
def test_closed_over_numpy_matrix(backend: Any) -> None:
    a = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, -1.0]])
    x = np.array(X)
    with pytest.raises(di.UntraceableFunctionError, match=r"di\.Constant") as info:
        di.gradient(lambda v: (a @ v).sum(), backend, x)
    assert isinstance(info.value.__cause__, TypeError)
    # the fix: the matrix as a context; grad of sum(A x) = A^T 1
    g = di.gradient(lambda v, m: array_namespace(v).sum(m @ v), backend, x, di.Constant(a))
    np.testing.assert_allclose(g, a.sum(axis=0), rtol=1e-12)
