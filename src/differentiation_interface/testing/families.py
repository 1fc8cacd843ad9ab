"""More scenario families: contexts, complex numbers, and edge cases (empty and 0-d arrays).

Like :func:`~differentiation_interface.testing.default_scenarios`, every scenario carries
closed-form references and is written against the Array API, so
:meth:`~differentiation_interface.testing.Scenario.to_namespace` moves it anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import at, namespace_of
from ..contexts import Cache, Constant
from .scenarios import Scenario

__all__ = ["complex_scenarios", "context_scenarios", "edge_scenarios"]


def cubes_through_cache(x: Any, buffer: Any) -> Any:
    """``sum(x**3)`` computed through a scratch buffer (written functionally, so it also
    works with immutable arrays): gradient ``3 x**2``."""
    xp = namespace_of(x)
    squares = at(buffer)[...].set(x * x)
    return xp.sum(squares * x)


def scaled_shift(x: Any, scale: Any, shift: Any) -> Any:
    """``scale * x + shift`` with an array and a Python-number constant."""
    return scale * x + shift


def context_scenarios(*, dtype: Any = np.float64) -> list[Scenario]:
    """Scenarios with ``Constant`` and ``Cache`` contexts.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import context_scenarios, test_differentiation
    >>> test_differentiation([di.AutoFiniteDiff()], context_scenarios())
    3
    """
    x = np.linspace(0.5, 2.0, 4, dtype=dtype)
    a = np.asarray([1.0, -2.0, 0.5, 3.0], dtype=dtype)
    t = (np.linspace(1.0, 2.0, 4, dtype=dtype),)
    return [
        Scenario(cubes_through_cache, x, operator="gradient",
                 contexts=(Cache(np.zeros_like(x)),), res1=(3 * x * x).astype(dtype),
                 name="gradient:cache"),
        Scenario(scaled_shift, x, operator="jacobian",
                 contexts=(Constant(a), Constant(1.5)), res1=np.diag(a).astype(dtype),
                 name="jacobian:constants"),
        Scenario(scaled_shift, x, operator="pushforward", tangents=t,
                 contexts=(Constant(a), Constant(-1.0)), res1=((a * t[0]).astype(dtype),),
                 name="pushforward:constants"),
    ]  # fmt: skip


def squared(z: Any) -> Any:
    """``z**2`` (holomorphic): ``J = diag(2 z)``."""
    return z * z


def squared_norm(z: Any) -> Any:
    """``sum(|z|**2)`` (real-valued): gradient ``2 z``, Hessian-vector product ``2 t``."""
    xp = namespace_of(z)
    return xp.sum(xp.real(z * xp.conj(z)))


def complex_scenarios(*, dtype: Any = np.complex128) -> list[Scenario]:
    """Complex inputs, with the library's conventions as references.

    Holomorphic functions: ``pushforward`` is ``J t``, ``pullback`` is ``J^H w``, ``jacobian``
    is ``J``. Real-valued functions: ``gradient`` is ``df/dRe z + 1j df/dIm z`` and ``hvp``
    differentiates that gradient.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import complex_scenarios, test_differentiation
    >>> test_differentiation([di.AutoFiniteDiff()], complex_scenarios())
    6
    """
    z = np.asarray([1.0 + 1.0j, -0.5 + 2.0j, 0.3 - 0.7j], dtype=dtype)
    t = (np.asarray([0.5 - 1.0j, 2.0 + 0.0j, -1.0 + 0.5j], dtype=dtype),)
    s0 = np.asarray(0.4 + 0.3j, dtype=dtype)
    return [
        Scenario(squared, z, operator="pushforward", tangents=t,
                 res1=((2 * z * t[0]).astype(dtype),), name="pushforward:holomorphic"),
        Scenario(squared, z, operator="pullback", tangents=t,
                 res1=((np.conj(2 * z) * t[0]).astype(dtype),), name="pullback:holomorphic"),
        Scenario(squared, z, operator="jacobian", res1=np.diag(2 * z).astype(dtype),
                 name="jacobian:holomorphic"),
        Scenario(squared, s0, operator="derivative", res1=np.asarray(2 * s0, dtype=dtype),
                 name="derivative:holomorphic"),
        Scenario(squared_norm, z, operator="gradient", res1=(2 * z).astype(dtype),
                 name="gradient:complex"),
        Scenario(squared_norm, z, operator="hvp", tangents=t, res1=(2 * z).astype(dtype),
                 res2=((2 * t[0]).astype(dtype),), name="hvp:complex"),
    ]  # fmt: skip


def sum_plus_one(x: Any) -> Any:
    """``sum(x) + 1``: defined for empty ``x`` (gradient: empty)."""
    xp = namespace_of(x)
    return xp.sum(x) + 1.0


def doubled(x: Any) -> Any:
    """``2 x``."""
    return 2.0 * x


def edge_scenarios(*, dtype: Any = np.float64) -> list[Scenario]:
    """Empty inputs and outputs, and 0-d arrays everywhere.

    Examples
    --------
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import edge_scenarios, test_differentiation
    >>> test_differentiation([di.AutoFiniteDiff()], edge_scenarios())
    5
    """
    empty = np.zeros((0,), dtype=dtype)
    zero_d = np.asarray(0.5, dtype=dtype)
    return [
        Scenario(sum_plus_one, empty, operator="gradient", res1=np.zeros((0,), dtype=dtype),
                 name="gradient:empty"),
        Scenario(doubled, empty, operator="jacobian", res1=np.zeros((0, 0), dtype=dtype),
                 name="jacobian:empty"),
        Scenario(sum_plus_one, empty, operator="hessian", res1=np.zeros((0,), dtype=dtype),
                 res2=np.zeros((0, 0), dtype=dtype), name="hessian:empty"),
        Scenario(doubled, zero_d, operator="jacobian", res1=np.asarray([[2.0]], dtype=dtype),
                 name="jacobian:0d"),
        Scenario(doubled, zero_d, operator="pullback", tangents=(np.asarray(3.0, dtype=dtype),),
                 res1=(np.asarray(6.0, dtype=dtype),), name="pullback:0d"),
    ]  # fmt: skip
