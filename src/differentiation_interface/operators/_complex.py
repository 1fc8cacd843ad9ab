"""Complex inputs: operators whose result is a complex matrix need a holomorphic ``f``.

For any ``f`` of complex ``x``, ``pushforward`` (the directional derivative, real-linear in
the tangent) and ``pullback`` (its adjoint for ``<a, b> = Re(sum(conj(a) * b))``) are well
defined, and every engine computes the same thing. A Jacobian (or a derivative) as a
*complex* matrix exists only when that map is complex-linear, that is when ``f`` is
holomorphic (no ``conj``, ``abs``, ``real``, ``imag``, real-valued outputs ...). Otherwise a
Jacobian assembled from pushforwards of the real basis (forward mode) differs from one
assembled from pullbacks (reverse mode), and each engine would return its own number. So
preparation tests complex-linearity once, with two pushforwards ``J v`` and ``J (i v)``, and
refuses a non-holomorphic ``f`` with a library error.
"""

from __future__ import annotations

import math
from typing import Any

from .._array import constant, device_for, eps_of, is_complex_dtype, namespace_of, real_dtype
from ..backends import Engine, Fn
from ..errors import UnsupportedOperationError
from ._dispatch import build_plan
from ._table import OperatorSpec

__all__ = ["check_holomorphic"]


def _direction(xp: Any, x: Any) -> Any:
    """A deterministic, well-spread real direction shaped like ``x``."""
    n = math.prod(x.shape)
    idx = xp.arange(n, dtype=real_dtype(xp, x.dtype), device=device_for(x, (n,)))
    return xp.astype(xp.reshape(xp.cos(idx * 2.3 + 0.7), tuple(x.shape)), x.dtype)


def check_holomorphic(op: OperatorSpec, engine: Engine, fn: Fn, x: Any, y: Any) -> None:
    """Raise :class:`UnsupportedOperationError` unless ``J (i v) = i J v`` (to the engine's
    accuracy) for ``f`` at ``x``: ``op`` returns a complex matrix, which a non-holomorphic
    ``f`` does not have."""
    xp = namespace_of(x)
    v = _direction(xp, x)
    plan = build_plan("pushforward", engine, fn, x, xp.stack([v, v * 1j], axis=0), y)
    _, ty = plan.run(fn, x, xp.stack([v, v * 1j], axis=0), value=False)
    jv, jiv = constant(ty[0, ...]), constant(ty[1, ...])  # values (attached torch results)
    if not is_complex_dtype(xp, y.dtype):  # a real output: only a constant is holomorphic
        jv = xp.astype(jv, x.dtype)
        jiv = xp.astype(jiv, x.dtype)
    scale = float(xp.max(xp.abs(jv))) + float(xp.max(xp.abs(jiv))) if math.prod(y.shape) else 0.0
    defect = float(xp.max(xp.abs(jiv - jv * 1j))) if math.prod(y.shape) else 0.0
    tolerance = max(1e-5, 100.0 * math.sqrt(eps_of(xp, real_dtype(xp, x.dtype))))
    if defect <= tolerance * scale:
        return
    msg = (
        f"`{op.name}` of complex x needs a holomorphic f (its derivative is then a complex "
        f"matrix): here J(i v) differs from i J(v) by {defect / max(scale, 1e-300):.2g} "
        "relative, so f is not holomorphic (it uses conj, abs, real, imag, or returns real "
        "values). Use `pushforward` or `pullback`, which are defined for any f (the "
        "directional derivative and its adjoint for Re(sum(conj(a) * b))), `gradient` for "
        "a real scalar f, or differentiate with respect to the real and imaginary parts "
        "as a real array (xp.stack([xp.real(x), xp.imag(x)]))."
    )
    raise UnsupportedOperationError(msg)
