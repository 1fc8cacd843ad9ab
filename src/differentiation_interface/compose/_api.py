"""``DifferentiateWith``: a function whose derivatives another engine computes."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import numpy as np

from .._array import compat_namespace, differentiated_by, namespace_of
from ..adtypes import AbstractBackend, AutoAutograd, AutoJAX, AutoTorch, SecondOrder
from ..errors import ArgumentTypeError, UnsupportedOperationError
from ._rules import Rules, to_namespace

__all__ = ["DifferentiateWith", "bridge"]

#: The bridge module of each outer engine, imported on first use.
_BRIDGES = {
    "jax": "differentiation_interface.compose._jax",
    "torch": "differentiation_interface.compose._torch",
    "autograd": "differentiation_interface.compose._autograd",
}


def bridge(owner: str, rules: Rules, x: Any, ctx: tuple[Any, ...]) -> Any:
    """``f(x, *ctx)`` inside engine ``owner``'s trace, with the derivative rules ``rules``."""
    if "complex" in str(getattr(x, "dtype", "")):
        msg = (
            f"di.DifferentiateWith carries real arrays between engines; {owner} is "
            f"differentiating a complex array ({x.dtype}), whose derivative conventions differ "
            "between engines. Pass the real and imaginary parts as a real array."
        )
        raise UnsupportedOperationError(msg)
    module = sys.modules.get(_BRIDGES[owner]) or importlib.import_module(_BRIDGES[owner])
    return module.call(rules, x, ctx)


def _native(backend: AbstractBackend) -> tuple[str | None, str]:
    """``(engine that traces f natively, namespace name f computes in)`` for ``backend``."""
    if isinstance(backend, SecondOrder):
        return _native(backend.inner)
    dense = getattr(backend, "dense", None)
    if isinstance(dense, AbstractBackend):
        return _native(dense)
    if isinstance(backend, AutoJAX):
        return "jax", "jax"
    if isinstance(backend, AutoTorch):
        return "torch", "torch"
    if isinstance(backend, AutoAutograd):
        return "autograd", "numpy"
    return None, "numpy"  # finite differences: plain numpy functions


class DifferentiateWith:
    """Use ``backend`` for the derivatives of ``f`` inside another engine's differentiation.

    The result computes ``f``. When JAX, PyTorch or HIPS autograd differentiates a program
    that calls it, the derivatives of ``f`` are computed by ``backend`` through this library's
    operators (pushforward and pullback, prepared once per shape and dtype and reused), so a
    PyTorch function can sit inside a ``jax.grad`` loss, a numpy-only function inside
    ``jax.jit(jax.grad(...))`` (with :class:`AutoFiniteDiff`), or a JAX function inside a
    torch loss::

        JAX      jax.grad, jax.jit, jax.jvp, jax.vmap, jax.hessian (a JAX primitive)
        PyTorch  .backward(), torch.autograd.grad, torch.func.jvp, forward AD
                 (a torch.autograd.Function)
        autograd autograd.grad, autograd.hessian (an autograd primitive)

    Arrays cross between engines through DLPack, without copies where both engines allow
    it (same device, a dtype both have; under ``jax.jit`` JAX hands callbacks host buffers).
    ``f`` receives arrays of ``backend``'s namespace: torch tensors for :class:`AutoTorch`,
    JAX arrays for :class:`AutoJAX`, numpy arrays for :class:`AutoAutograd` and
    :class:`AutoFiniteDiff`; its result goes back in the caller's namespace.

    Second derivatives (``jax.hessian``, ``torch.autograd.grad(..., create_graph=True)``
    twice, ``autograd.hessian``) use ``backend``'s Hessian-vector products; a derivative of
    higher order raises :class:`~differentiation_interface.UnsupportedOperationError`.

    Called outside any differentiation, on arrays of ``backend``'s namespace, it is just
    ``f``; on other arrays it converts them, calls ``f`` and converts the result back.
    Called on arrays that the engine of ``backend`` itself is differentiating, it is also
    just ``f``: that engine differentiates it natively.

    Parameters
    ----------
    f : callable
        ``f(x) -> y`` on arrays of ``backend``'s namespace.
    backend : AbstractBackend
        The backend computing ``f``'s derivatives.

    Examples
    --------
    A numpy-only function inside a JAX loss, differentiated by finite differences:

    >>> import numpy as np
    >>> import jax, jax.numpy as jnp
    >>> import differentiation_interface as di
    >>> cube = di.DifferentiateWith(lambda x: np.asarray(x) ** 3, di.AutoFiniteDiff())
    >>> loss = lambda x: jnp.sum(cube(x))
    >>> g = jax.jit(jax.grad(loss))(jnp.array([1.0, 2.0]))
    >>> np.allclose(g, [3.0, 12.0], rtol=1e-4)
    True
    """

    __slots__ = ("__weakref__", "_native_engine", "_native_types", "backend", "f", "rules")

    def __init__(self, f: Any, backend: Any) -> None:
        if not callable(f):  # callers without a type checker
            msg = f"DifferentiateWith needs a callable f; got {type(f).__name__}."
            raise ArgumentTypeError(msg)
        if not isinstance(backend, AbstractBackend):
            msg = (
                "DifferentiateWith needs a backend selector such as di.AutoTorch(); got "
                f"{backend!r} of type {type(backend).__name__}."
            )
            raise ArgumentTypeError(msg)
        self.f, self.backend = f, backend
        engine, namespace = _native(backend)
        self._native_engine = engine
        self._native_types: tuple[type, ...] = (np.ndarray,) if namespace == "numpy" else ()
        xp = np if namespace == "numpy" else None
        self.rules = _LazyRules(f, backend, namespace, xp)

    def __repr__(self) -> str:
        return f"DifferentiateWith({getattr(self.f, '__name__', self.f)!r}, {self.backend!r})"

    def __call__(self, x: Any) -> Any:
        if type(x) in self._native_types:
            return self.f(x)
        owner = differentiated_by(x)
        if owner is None or owner == self._native_engine:
            rules = self.rules.get()
            if namespace_of(x) is rules.xp:
                return self.f(x)
            return to_namespace(rules.value(x, ()), namespace_of(x))
        return bridge(owner, self.rules.get(), x, ())


class _LazyRules:
    """The rules, built on first use: the namespace's library is imported only then."""

    __slots__ = ("args", "rules")

    def __init__(self, f: Any, backend: AbstractBackend, name: str, xp: ModuleType | None):
        self.args = (f, backend, name, xp)
        self.rules: Rules | None = None

    def get(self) -> Rules:
        if self.rules is None:
            f, backend, name, xp = self.args
            self.rules = Rules(f, backend, xp if xp is not None else compat_namespace(name))
        return self.rules
