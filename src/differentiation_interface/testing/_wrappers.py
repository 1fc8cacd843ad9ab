"""Backends that expose only one primitive of another backend, to exercise the fallbacks.

``ForwardFromPrimitive(b)`` offers only ``b``'s pushforward and ``ReverseFromPrimitive(b)``
only its pullback; every other operator then goes through the generic fallbacks
(DifferentiationInterface.jl's ``AutoForwardFromPrimitive`` / ``AutoReverseFromPrimitive``).
Composing them with :class:`~differentiation_interface.SecondOrder` reaches each
Hessian-vector-product mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..adtypes import AbstractBackend
from ..backends import Engine, Fn, check_inplace, engine_for
from ..operators._dispatch import build_plan

__all__ = ["ForwardFromPrimitive", "ReverseFromPrimitive"]


@dataclass(frozen=True, repr=False)
class ForwardFromPrimitive(AbstractBackend):
    """Only the pushforward of ``backend``: a forward-mode backend with no native operator.

    Parameters
    ----------
    backend : AbstractBackend
        The backend whose pushforward is used.

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import ForwardFromPrimitive
    >>> g = di.gradient(lambda x: (x**2).sum(), ForwardFromPrimitive(di.AutoFiniteDiff()),
    ...                 np.ones(2))
    >>> np.allclose(g, 2.0)
    True
    """

    backend: AbstractBackend

    _engine: ClassVar[str] = "differentiation_interface.testing._wrappers:PrimitiveEngine"

    @property
    def mode(self) -> str:
        return "forward"

    def _parts(self) -> tuple[AbstractBackend, ...]:
        return (self.backend,)

    def _inplace_support(self) -> bool:
        return check_inplace(self.backend)


@dataclass(frozen=True, repr=False)
class ReverseFromPrimitive(ForwardFromPrimitive):
    """Only the pullback of ``backend``: a reverse-mode backend with no native operator.

    Parameters
    ----------
    backend : AbstractBackend
        The backend whose pullback is used (derived from its pushforward if need be).

    Examples
    --------
    >>> import numpy as np
    >>> import differentiation_interface as di
    >>> from differentiation_interface.testing import ReverseFromPrimitive
    >>> J = di.jacobian(lambda x: 2.0 * x, ReverseFromPrimitive(di.AutoFiniteDiff()), np.ones(2))
    >>> np.allclose(J, 2.0 * np.eye(2))
    True
    """

    @property
    def mode(self) -> str:
        return "reverse"


class PrimitiveEngine(Engine):
    """Engine of the wrappers: one primitive of the wrapped engine, fallbacks for the rest."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.wrapped = engine_for(backend.backend)
        self.forward = backend.mode == "forward"  # type: ignore[misc]
        self.reverse = not self.forward  # type: ignore[misc]
        self.traces = self.wrapped.traces

    @property
    def inplace(self) -> bool:
        return self.wrapped.inplace

    def max_batch(self, size: int, like: Any = None) -> int:
        return self.wrapped.max_batch(size, like)

    def prepare_pushforward(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> Any:
        if not self.forward:
            return None
        return build_plan("pushforward", self.wrapped, fn, x, tx, y, same_point=same_point)

    def prepare_pullback(self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool) -> Any:
        if not self.reverse:
            return None
        return build_plan("pullback", self.wrapped, fn, x, ty, y, same_point=same_point)
