"""Pytree scenarios: structured inputs, outputs and contexts, with closed-form references.

Every function here is written against the Array API (the namespace is read from a leaf),
and every reference is computed by hand in numpy (the MLP's gradient by hand-written
backpropagation), so no engine is involved in the expected results. Results follow the
library's conventions for pytrees: results like ``x`` have ``x``'s structure, results like
``f(x)`` the output's, ``jacobian`` and ``hessian`` are matrices over the raveled trees
(leaves in the library's order: depth first, dict keys sorted, each leaf in C order).

=================================  ==========================================================
family                             what it exercises
=================================  ==========================================================
``*:dict->scalar``                 dict ``x``, scalar ``f``: gradient, Hessian (with blocks
                                   coupling the leaves), hvp with a dict tangent
``*:tuple->dict``                  tuple ``x``, dict output (one leaf 0-d): pushforward with
                                   two tuple tangents, pullback with a dict cotangent,
                                   Jacobian, and a two-argument ``f`` writing a dict ``y``
``*:nested->scalar``               dict of a tuple holding an array, ``None`` and a
                                   namedtuple: gradient and hvp
``gradient:mixed-dtypes``          a float32 leaf beside float64 leaves (``float64`` only)
``gradient:mlp``                   a two-layer perceptron, parameters in a dict, data in a
                                   ``Constant`` holding a dict of arrays
``jacobian:tree-constant``         an array ``x`` and a ``Constant`` holding a dict
=================================  ==========================================================
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._array import namespace_of
from ..contexts import Constant
from .scenarios import Scenario

__all__ = [
    "Block",
    "dict_energy",
    "mixed_precision_energy",
    "mlp_loss",
    "nested_energy",
    "pytree_scenarios",
    "scaled_sine",
    "tuple_to_dict",
    "tuple_to_dict_inplace",
]


class Block(NamedTuple):
    """A namedtuple node of the nested scenarios: a matrix and a 0-d coefficient."""

    m: Any
    c: Any


# --- reference functions (Array API) ---------------------------------------------------------


def dict_energy(p: dict[str, Any]) -> Any:
    """``sum(w**3) / 3 + sum(w) * sum(b**2) / 2`` of ``{"b": vector, "w": matrix}``."""
    xp = namespace_of(p["w"])
    w, b = p["w"], p["b"]
    return xp.sum(w**3) / 3 + xp.sum(w) * xp.sum(b**2) / 2


def tuple_to_dict(x: tuple[Any, Any]) -> dict[str, Any]:
    """``(u, v) -> {"p": u * sum(v), "q": sin(v), "r": sum(u**2)}`` (``"r"`` is 0-d)."""
    u, v = x
    xp = namespace_of(u)
    return {"p": u * xp.sum(v), "q": xp.sin(v), "r": xp.sum(u * u)}


def tuple_to_dict_inplace(y: dict[str, Any], x: tuple[Any, Any]) -> None:
    """Two-argument version of :func:`tuple_to_dict`: writes into the leaves of ``y``."""
    out = tuple_to_dict(x)
    for key in ("p", "q", "r"):
        y[key][...] = out[key]


def nested_energy(x: dict[str, Any]) -> Any:
    """``c * sum(m @ a) + s * sum(a**2)`` of ``{"layer": (a, None, Block(m, c)), "shift": s}``."""
    a, _, block = x["layer"]
    xp = namespace_of(a)
    return block.c * xp.sum(block.m @ a) + x["shift"] * xp.sum(a * a)


def mixed_precision_energy(p: dict[str, Any]) -> Any:
    """``sum(hi**2) / 2 + sum(hi) * sum(lo**3) / 3`` of a float64 ``hi`` and a float32 ``lo``."""
    xp = namespace_of(p["hi"])
    return xp.sum(p["hi"] ** 2) / 2 + xp.sum(p["hi"]) * xp.sum(p["lo"] ** 3) / 3


def mlp_loss(params: dict[str, Any], data: dict[str, Any]) -> Any:
    """Mean squared error of ``tanh(X W1 + b1) W2 + b2`` against ``Y``; ``data`` is
    ``{"inputs": X, "targets": Y}``."""
    xp = namespace_of(params["W1"])
    hidden = xp.tanh(data["inputs"] @ params["W1"] + params["b1"])
    residual = hidden @ params["W2"] + params["b2"] - data["targets"]
    return xp.mean(residual**2)


def scaled_sine(x: Any, c: dict[str, Any]) -> Any:
    """``c["scale"] * sin(x) + c["shift"]``: ``J = diag(scale * cos(x))``."""
    xp = namespace_of(x)
    return c["scale"] * xp.sin(x) + c["shift"]


# --- closed-form references (numpy) ----------------------------------------------------------


def _mlp_gradient(params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Backpropagation through :func:`mlp_loss`, written out."""
    X, Y = data["inputs"], data["targets"]
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    residual = hidden @ params["W2"] + params["b2"] - Y
    d_out = 2 * residual / residual.size
    d_pre = (d_out @ params["W2"].T) * (1 - hidden**2)
    return {
        "W1": X.T @ d_pre,
        "W2": hidden.T @ d_out,
        "b1": d_pre.sum(axis=0),
        "b2": d_out.sum(axis=0),
    }


def _cast(tree: Any, dtype: Any) -> Any:
    """A reference built in float64, in the scenario's dtype (containers mirrored)."""
    if isinstance(tree, dict):
        return {k: _cast(v, dtype) for k, v in tree.items()}
    if isinstance(tree, tuple):
        parts = [_cast(v, dtype) for v in tree]
        return type(tree)(*parts) if hasattr(tree, "_fields") else tuple(parts)
    return None if tree is None else np.asarray(tree, dtype=dtype)


def _dict_family(dtype: Any) -> list[Scenario]:
    w = np.asarray([[0.5, -1.0], [1.5, 0.25]], dtype=dtype)
    b = np.asarray([0.3, -0.7, 1.1], dtype=dtype)
    x = {"w": w, "b": b}
    t = {
        "w": np.asarray([[1.0, 0.5], [-0.5, 2.0]], dtype=dtype),
        "b": np.asarray([1.0, 2.0, -1.0], dtype=dtype),
    }
    W, B = w.astype(np.float64), b.astype(np.float64)
    grad = {"b": W.sum() * B, "w": W**2 + (B @ B) / 2}
    # raveled order: b (3 entries) then w (4): dict keys are sorted
    hess = np.block(
        [
            [W.sum() * np.eye(3), np.outer(B, np.ones(4))],
            [np.outer(np.ones(4), B), np.diag(2 * W.reshape(-1))],
        ]
    )
    tb, tw = t["b"].astype(np.float64), t["w"].astype(np.float64)
    hvp = {"b": W.sum() * tb + B * tw.sum(), "w": (B @ tb) + 2 * W * tw}
    return [
        Scenario(dict_energy, x, operator="gradient", res1=_cast(grad, dtype),
                 name="gradient:dict->scalar"),
        Scenario(dict_energy, x, operator="hessian", res1=_cast(grad, dtype),
                 res2=_cast(hess, dtype), name="hessian:dict->scalar"),
        Scenario(dict_energy, x, operator="hvp", tangents=(t,), res1=_cast(grad, dtype),
                 res2=(_cast(hvp, dtype),), name="hvp:dict->scalar"),
    ]  # fmt: skip


def _tuple_family(dtype: Any) -> list[Scenario]:
    u = np.asarray([0.5, -1.0, 2.0], dtype=dtype)
    v = np.asarray([0.3, 1.2], dtype=dtype)
    x = (u, v)
    tangents = (
        (np.asarray([1.0, 0.0, -1.0], dtype=dtype), np.asarray([0.5, 2.0], dtype=dtype)),
        (np.asarray([-0.5, 1.5, 0.25], dtype=dtype), np.asarray([1.0, -1.0], dtype=dtype)),
    )
    cotangent = {
        "p": np.asarray([1.0, -2.0, 0.5], dtype=dtype),
        "q": np.asarray([0.75, -1.0], dtype=dtype),
        "r": np.asarray(1.5, dtype=dtype),
    }
    U, V = u.astype(np.float64), v.astype(np.float64)

    def jvp(tu: Any, tv: Any) -> dict[str, Any]:
        tu, tv = tu.astype(np.float64), tv.astype(np.float64)
        return {"p": tu * V.sum() + U * tv.sum(), "q": np.cos(V) * tv, "r": 2 * U @ tu}

    wp, wq, wr = (cotangent[k].astype(np.float64) for k in ("p", "q", "r"))
    vjp = (wp * V.sum() + 2 * wr * U, (wp @ U) + np.cos(V) * wq)
    # rows: p (3), q (2), r (1), the keys sorted; columns: u (3), v (2)
    jacobian = np.block(
        [
            [V.sum() * np.eye(3), np.outer(U, np.ones(2))],
            [np.zeros((2, 3)), np.diag(np.cos(V))],
            [2 * U[None, :], np.zeros((1, 2))],
        ]
    )
    y = {key: np.zeros(shape, dtype=dtype) for key, shape in (("p", 3), ("q", 2), ("r", ()))}
    return [
        Scenario(tuple_to_dict, x, operator="pushforward", tangents=tangents,
                 res1=tuple(_cast(jvp(*t), dtype) for t in tangents),
                 name="pushforward:tuple->dict"),
        Scenario(tuple_to_dict, x, operator="pullback", tangents=(cotangent,),
                 res1=(_cast(vjp, dtype),), name="pullback:tuple->dict"),
        Scenario(tuple_to_dict, x, operator="jacobian", res1=_cast(jacobian, dtype),
                 name="jacobian:tuple->dict"),
        Scenario(tuple_to_dict_inplace, x, operator="jacobian", y=y,
                 res1=_cast(jacobian, dtype), name="jacobian:tuple->dict,inplace"),
    ]  # fmt: skip


def _nested_family(dtype: Any) -> list[Scenario]:
    def point(a: Any, m: Any, c: float, s: float) -> dict[str, Any]:
        block = Block(np.asarray(m, dtype=dtype), np.asarray(c, dtype=dtype))
        layer = (np.asarray(a, dtype=dtype), None, block)
        return {"layer": layer, "shift": np.asarray(s, dtype=dtype)}

    x = point([0.5, -1.5], [[1.0, 2.0], [-0.5, 0.25]], 0.8, 1.25)
    t = point([1.0, 0.5], [[0.5, -1.0], [2.0, 1.0]], -0.5, 2.0)
    a, m = x["layer"][0].astype(np.float64), x["layer"][2].m.astype(np.float64)
    c, s = float(x["layer"][2].c), float(x["shift"])
    ta, tm = t["layer"][0].astype(np.float64), t["layer"][2].m.astype(np.float64)
    tc, ts = float(t["layer"][2].c), float(t["shift"])
    ones = np.ones(2)
    grad = {
        "layer": (c * m.T @ ones + 2 * s * a, None, Block(c * np.outer(ones, a), ones @ m @ a)),
        "shift": a @ a,
    }
    # the directional derivative of the gradient along t (product rule, term by term)
    hvp = {
        "layer": (
            c * tm.T @ ones + tc * m.T @ ones + 2 * ts * a + 2 * s * ta,
            None,
            Block(c * np.outer(ones, ta) + tc * np.outer(ones, a), ones @ m @ ta + ones @ tm @ a),
        ),
        "shift": 2 * a @ ta,
    }
    return [
        Scenario(nested_energy, x, operator="gradient", res1=_cast(grad, dtype),
                 name="gradient:nested->scalar"),
        Scenario(nested_energy, x, operator="hvp", tangents=(t,), res1=_cast(grad, dtype),
                 res2=(_cast(hvp, dtype),), name="hvp:nested->scalar"),
    ]  # fmt: skip


def _mixed_family() -> list[Scenario]:
    hi = np.asarray([0.5, -1.0, 2.0], dtype=np.float64)
    lo = np.asarray([0.75, -1.5], dtype=np.float32)  # exactly representable
    LO = lo.astype(np.float64)
    grad = {
        "hi": hi + (LO**3).sum() / 3,
        "lo": (hi.sum() * LO**2).astype(np.float32),  # each result leaf keeps its dtype
    }
    return [
        Scenario(mixed_precision_energy, {"hi": hi, "lo": lo}, operator="gradient",
                 res1=grad, name="gradient:mixed-dtypes"),
    ]  # fmt: skip


def _context_family(dtype: Any) -> list[Scenario]:
    rng = np.random.default_rng(0)
    params = {
        "W1": rng.normal(size=(3, 3)).astype(dtype),
        "b1": rng.normal(size=3).astype(dtype),
        "W2": rng.normal(size=(3, 2)).astype(dtype),
        "b2": rng.normal(size=2).astype(dtype),
    }
    data = {
        "inputs": rng.normal(size=(4, 3)).astype(dtype),
        "targets": rng.normal(size=(4, 2)).astype(dtype),
    }
    wide = {k: v.astype(np.float64) for k, v in params.items()}
    grad = _mlp_gradient(wide, {k: v.astype(np.float64) for k, v in data.items()})
    x = np.linspace(-1.0, 1.0, 4, dtype=dtype)
    scale = np.asarray([1.0, -2.0, 0.5, 3.0], dtype=dtype)
    sine = {"scale": scale, "shift": np.asarray(0.5, dtype=dtype)}
    jacobian = np.diag(scale.astype(np.float64) * np.cos(x.astype(np.float64)))
    return [
        Scenario(mlp_loss, params, operator="gradient", contexts=(Constant(data),),
                 res1=_cast(grad, dtype), name="gradient:mlp"),
        Scenario(scaled_sine, x, operator="jacobian", contexts=(Constant(sine),),
                 res1=_cast(jacobian, dtype), name="jacobian:tree-constant"),
    ]  # fmt: skip


def pytree_scenarios(*, dtype: Any = np.float64) -> list[Scenario]:
    """Scenarios with pytree inputs, outputs, tangents, buffers and contexts.

    Dict, tuple and nested inputs (a dict of a tuple holding an array, ``None`` and a
    namedtuple), dict outputs, mixed precision, a small MLP with its parameters in a dict,
    and ``Constant`` contexts holding dicts of arrays. Every reference is a closed form
    (computed in numpy, in float64, then cast). Results follow the pytree conventions:
    like ``x`` or like ``f(x)`` leaf by leaf, ``jacobian`` and ``hessian`` over the raveled
    trees (:func:`~differentiation_interface.ravel`'s order). Convert them to other
    namespaces with :meth:`Scenario.to_namespace`, which keeps the structure.

    Parameters
    ----------
    dtype : numpy dtype
        Floating dtype of the leaves (``np.float64`` or ``np.float32``). The mixed-precision
        scenario (a float32 leaf beside float64 leaves) is included with ``np.float64`` only.

    Returns
    -------
    list of Scenario

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import pytree_scenarios, test_differentiation
    >>> scenarios = pytree_scenarios()
    >>> s = scenarios[0]
    >>> s.name, sorted(s.x), sorted(s.res1)
    ('gradient:dict->scalar', ['b', 'w'], ['b', 'w'])
    >>> test_differentiation([di.AutoFiniteDiff()], scenarios)
    12
    """
    out = [*_dict_family(dtype), *_tuple_family(dtype), *_nested_family(dtype)]
    if np.dtype(dtype) == np.float64:
        out.extend(_mixed_family())
    out.extend(_context_family(dtype))
    return out
