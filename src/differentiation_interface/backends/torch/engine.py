"""PyTorch: the engine behind ``AutoTorch(mode="reverse" | "forward")``.

Every operator is native (the plans live in :mod:`.first` and :mod:`.second`; the
conversions and misuse checks in :mod:`.io`):

================== ===================================== =====================================
operator           ``mode="reverse"``                    ``mode="forward"``
================== ===================================== =====================================
pushforward        dual numbers (one tangent), ``vmap(jvp)`` (several) — both modes
pullback           autograd tape, batched backward pass — both modes
derivative         dual numbers — both modes
gradient           autograd tape                         ``vmap(jvp)`` over the basis
jacobian           tape, batched backward over rows      ``vmap(jvp)`` over columns
second_derivative  ``jvp(jvp)`` — both modes
hvp                double backward (reverse/reverse)     duals through the tape, ``vmap(jvp(grad))``
hessian            batched double backward               ``vmap(jvp(grad))`` over the basis
================== ===================================== =====================================

Complex ``x`` or ``y`` in a Jacobian (and complex ``x`` in a forward gradient or a Hessian)
go through the library's generic fallbacks, built on this engine's pushforward and pullback,
which implement the library's complex conventions.

Only this package (:mod:`differentiation_interface.backends.torch`) imports torch; it is
loaded on the first use of ``AutoTorch``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..._array import is_complex_dtype, is_dtensor, namespace_of
from ...adtypes import AutoTorch
from .._base import (
    DerivativePlan,
    Engine,
    Fn,
    GradientPlan,
    HessianPlan,
    HVPPlan,
    JacobianPlan,
    LeavesGradientPlan,
    PullbackPlan,
    PushforwardPlan,
    SecondDerivativePlan,
)
from . import attached  # noqa: F401 - registers the attached runs
from .dtensor import prepare_dtensor
from .first import (
    TorchDerivative,
    TorchGradientForward,
    TorchGradientReverse,
    TorchJacobianForward,
    TorchJacobianReverse,
    TorchPullback,
    TorchPushforward,
)
from .misuse import check_misuse, explain
from .second import (
    TorchHessianForward,
    TorchHessianReverse,
    TorchHVPForward,
    TorchHVPReverse,
    TorchSecondDerivative,
)
from .tree import leaves_gradient

__all__ = ["TorchEngine"]


def _load_forward_rules() -> None:
    # Forward-mode AD imports its decompositions on first use, which scripts them with the
    # deprecated ``torch.jit.script`` and warns; load them once here, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A private module: if it moves, forward AD loads what it needs by itself.
        with contextlib.suppress(Exception):
            from torch._decomp import decompositions_for_jvp  # noqa: F401


_load_forward_rules()


def _complex(a: Any) -> bool:
    return is_complex_dtype(namespace_of(a), a.dtype)


class TorchEngine(Engine):
    """The torch engine; ``forward`` / ``reverse`` follow the selector's mode.

    Both modes have every operator natively; the mode decides how gradients, Jacobians and
    second-order operators are computed, and which primitive the library's compositions
    (``SecondOrder``) see.
    """

    backend: AutoTorch

    def __init__(self, backend: AutoTorch) -> None:
        super().__init__(backend)
        self.forward = backend.mode == "forward"  # type: ignore[misc]
        self.reverse = not self.forward  # type: ignore[misc]

    def explain(self, operator: str, err: Exception) -> Exception | None:
        return explain(operator, err)  # numpy inside f, seen when the library evaluates f

    def _check(self, fn: Fn, x: Any, y: Any, operator: str) -> None:
        check_misuse(fn, x, y, operator=operator, allow_unused=self.backend.allow_unused)

    def __repr__(self) -> str:
        return f"TorchEngine({self.backend!r}, torch {torch.__version__})"

    # first order

    def prepare_pushforward(
        self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool
    ) -> PushforwardPlan:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("pushforward", fn)  # type: ignore[no-any-return]
        self._check(fn, x, y, "pushforward")
        return TorchPushforward(fn, x, y)

    def prepare_pullback(
        self, fn: Fn, x: Any, ty: Any, *, y: Any, same_point: bool
    ) -> PullbackPlan:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("pullback", fn)  # type: ignore[no-any-return]
        self._check(fn, x, y, "pullback")
        return TorchPullback(fn, x, y)

    def prepare_derivative(self, fn: Fn, x: Any, *, y: Any) -> DerivativePlan:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("derivative", fn)  # type: ignore[no-any-return]
        self._check(fn, x, y, "derivative")
        return TorchDerivative(fn, x, y)

    def prepare_gradient(self, fn: Fn, x: Any, *, y: Any) -> GradientPlan | None:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("gradient", fn)  # type: ignore[no-any-return]
        if self.forward and _complex(x):
            return None  # one pullback (the generic fallback) gives the complex convention
        self._check(fn, x, y, "gradient")
        if self.forward:
            return TorchGradientForward(fn, x, y)
        return TorchGradientReverse(fn, x, y, compile=self.backend.compile)

    def prepare_leaves_gradient(
        self,
        f: Callable[..., Any],
        leaves: list[Any],
        rebuild: Callable[[list[Any]], Any],
        args: tuple[Any, ...],
        y: Any,
    ) -> LeavesGradientPlan | None:
        if self.forward:
            return None  # forward mode: basis pushforwards over the raveled variables
        return leaves_gradient(f, leaves, rebuild, args, y, allow_unused=self.backend.allow_unused)

    def prepare_jacobian(self, fn: Fn, x: Any, *, y: Any) -> JacobianPlan | None:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("jacobian", fn)  # type: ignore[no-any-return]
        if _complex(x) or _complex(y):
            return None  # rows or columns from this engine's pullbacks / pushforwards
        self._check(fn, x, y, "jacobian")
        if self.forward:
            return TorchJacobianForward(fn, x, y)
        return TorchJacobianReverse(fn, x, y)

    # second order

    def prepare_second_derivative(self, fn: Fn, x: Any, *, y: Any) -> SecondDerivativePlan:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("second_derivative", fn)  # type: ignore[no-any-return]
        self._check(fn, x, y, "second_derivative")
        return TorchSecondDerivative(fn, x, y)

    def prepare_hvp(self, fn: Fn, x: Any, tx: Any, *, y: Any, same_point: bool) -> HVPPlan:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("hvp", fn)  # type: ignore[no-any-return]
        self._check(fn, x, y, "hvp")
        if self.forward:
            return TorchHVPForward(fn, x, y)
        return TorchHVPReverse(fn, x, y)

    def prepare_hessian(self, fn: Fn, x: Any, *, y: Any) -> HessianPlan | None:
        if is_dtensor(x):  # autograd on the mesh (.dtensor)
            return prepare_dtensor("hessian", fn)  # type: ignore[no-any-return]
        if _complex(x):
            return None  # the generic fallback raises the library's error for complex x
        self._check(fn, x, y, "hessian")
        if self.forward:
            return TorchHessianForward(fn, x, y)
        return TorchHessianReverse(fn, x, y)
