"""What every torch plan shares: its signature, and the engine side of its runs.

Every plan class derives from :class:`TorchPlan`. The ``__init__`` (preparation) and the
``run`` a subclass defines are wrapped once, when the class is created, so that these rules
hold for every operator, in both modes, without code in the plans:

* **Outside inference mode** (:func:`.io.outside_inference_mode`): under
  ``torch.inference_mode()`` torch records nothing, and every derivative would silently be
  zero. The engine leaves it for its own work; results are ordinary tensors.
* **Preparation outside the caller's torch.func transforms** (:func:`.io.engine_side`): a
  preparation made inside one (an unprepared call under ``torch.func.grad``) would otherwise
  keep tensors wrapped by that transform (the basis seeds) in a plan that outlives it.
* **torch's differentiation errors become library errors**: a ``RuntimeError`` torch raises
  while differentiating ``f`` (an operation without a derivative formula, such as floor
  division) reaches the caller as :class:`~differentiation_interface.UnsupportedOperationError`
  quoting torch's message, chained from it. Errors of ``f``'s own computation (a shape error,
  a failed factorisation at this point) pass unchanged: on the error path only, ``f`` is
  evaluated once more, plainly, at the same point, and the error is torch's differentiation
  error only if that evaluation succeeds.
* **Attached runs**: where the results must stay on the caller's graph (``x`` or a context
  requires grad, or a caller's ``torch.func`` transform wraps it: :func:`.io.on_graph`), the
  run is the operator's entry of :data:`ATTACHED_RUNS` (filled by :mod:`.attached`) instead
  of the plan's own, detached, ``run``. Checking costs a few attribute reads per run.

The hot path of a prepared reverse-mode gradient of a numpy ``x`` (the express tier,
:meth:`.first.TorchGradientReverse._express_run`) does not go through ``run``: it declines
under inference mode and on errors, leaving those calls to ``run``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from ...errors import DIError, UnsupportedOperationError
from .._base import (
    Fn,
)
from .io import Bound, engine_side, on_graph, put, torch_dtype
from .misuse import explain

__all__ = ["ATTACHED_RUNS", "Signature", "TorchPlan", "not_differentiable"]

#: The attached run of each operator (:mod:`.attached` registers them when it is imported).
ATTACHED_RUNS: dict[str, Callable[..., Any]] = {}

_inference_mode = torch.is_inference_mode_enabled  # one C call; looked up once


class Signature:
    """What a plan fixes at preparation: output shape and dtype (torch)."""

    __slots__ = ("m", "n", "x_shape", "y_dtype", "y_shape")

    def __init__(self, x: Any, y: Any) -> None:
        self.x_shape = tuple(x.shape)
        self.y_shape = tuple(y.shape)
        self.y_dtype = torch_dtype(y)
        self.n = math.prod(self.x_shape)
        self.m = math.prod(self.y_shape)

    def bind(self, fn: Fn, *, graph: bool = False) -> Bound:
        if graph:
            return Bound(fn, self.y_shape, self.y_dtype, graph=True)
        return Bound(fn, self.y_shape, self.y_dtype)  # the detached runs' call, kept plain


def views_tangents(x: Any) -> bool:
    """Whether one tangent of a caller like ``x`` can reach a plan as a view with a batch
    axis of one (:meth:`TorchPlan.run_single`): numpy arrays and plain torch tensors."""
    return type(x) is np.ndarray or type(x) is torch.Tensor


class TorchPlan:
    """Base of every torch plan: preparation and runs on the engine's side (module doc).

    Attributes
    ----------
    sig : Signature
        Set by every plan's ``__init__``.
    forward : bool
        Whether the plan computes by forward mode (its attached run uses ``jvp`` products
        where it has a choice, ``vjp`` ones otherwise).
    operator : str
        The operator the plan computes, for error messages (set by its plan base class of
        ``backends._base``, which every torch plan also derives from).
    """

    sig: Signature
    operator: ClassVar[str]  # no value here: it comes from the plan base class
    forward: ClassVar[bool] = False
    #: Whether :meth:`run_single` serves one tangent (plans over tangents set it for the
    #: callers whose arrays it can view).
    single: bool = False

    def run_single(self, fn: Fn, x: Any, t: Any, *, value: bool) -> tuple[Any, ...]:
        """``run`` for one tangent or cotangent ``t``, given and returned without the batch
        axis: views of the caller's tangent and of the result, where the call path's
        ``stack`` would copy the tangent (0.15 ms at 4 MB)."""
        *rest, d = self.run(fn, x, t[None, ...], value=value)  # type: ignore[attr-defined]
        return (*rest, d[0, ...])

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "__init__" in own:
            setattr(cls, "__init__", engine_side(own["__init__"]))  # noqa: B010
        if "run" in own:
            setattr(cls, "run", _engine_run(own["run"]))  # noqa: B010


def _engine_run(run: Callable[..., Any]) -> Callable[..., Any]:
    """``run`` (or the operator's attached run) outside inference mode, with torch's
    differentiation errors as library errors.

    Whether the call is attached is decided first: under inference mode grad mode is off, so
    it never is (leaving inference mode turns grad mode back on). Written out for both
    signatures of ``run`` (with and without stacked seeds): a generic ``*args, **kwargs``
    wrapper costs several times more per call than these explicit ones.
    """
    if run.__code__.co_argcount == 4:  # run(self, fn, x, seeds, *, value)

        @functools.wraps(run)
        def seeded(plan: TorchPlan, fn: Fn, x: Any, seeds: Any, *, value: bool) -> Any:
            chosen = ATTACHED_RUNS[plan.operator] if on_graph(x, fn.args) else run
            if _inference_mode():
                with torch.inference_mode(False):
                    return _guarded(chosen, plan, fn, x, seeds, value=value)
            try:
                return chosen(plan, fn, x, seeds, value=value)
            except RuntimeError as err:  # NotImplementedError (forward AD's) is one too
                if _raised_differentiating(plan, fn, x, err):
                    raise not_differentiable(plan.operator, err) from err
                raise

        return seeded

    @functools.wraps(run)
    def unseeded(plan: TorchPlan, fn: Fn, x: Any, *, value: bool) -> Any:
        chosen = ATTACHED_RUNS[plan.operator] if on_graph(x, fn.args) else run
        if _inference_mode():
            with torch.inference_mode(False):
                return _guarded(chosen, plan, fn, x, value=value)
        try:
            return chosen(plan, fn, x, value=value)
        except RuntimeError as err:
            if _raised_differentiating(plan, fn, x, err):
                raise not_differentiable(plan.operator, err) from err
            raise

    return unseeded


def _guarded(
    chosen: Callable[..., Any], plan: TorchPlan, fn: Fn, x: Any, *seeds: Any, value: bool
) -> Any:
    """``chosen`` with torch's differentiation errors as library errors (the wrappers' rule,
    for their rarer path)."""
    try:
        return chosen(plan, fn, x, *seeds, value=value)
    except RuntimeError as err:
        if _raised_differentiating(plan, fn, x, err):
            raise not_differentiable(plan.operator, err) from err
        raise


def _raised_differentiating(plan: TorchPlan, fn: Fn, x: Any, err: RuntimeError) -> bool:
    """Whether torch raised ``err`` differentiating ``f``, not ``f`` computing by itself."""
    return not isinstance(err, DIError) and not _fails_plainly(plan.sig, fn, x)


def _fails_plainly(sig: Signature, fn: Fn, x: Any) -> bool:
    """Whether ``f`` itself fails at ``x``, evaluated without any differentiation."""
    try:
        with torch.no_grad():  # a caller's tensor as it is: it may be one of a transform's
            sig.bind(fn, graph=True)(x if isinstance(x, torch.Tensor) else put(x))
    except Exception:  # noqa: BLE001 - any failure of f's own makes the error f's
        return True
    return False


def not_differentiable(operator: str, err: Exception) -> DIError:
    """The library's error for torch failing to differentiate ``f`` with ``err`` (numpy
    inside ``f`` explained as preparation explains it, :func:`.misuse.explain`)."""
    explained = explain(operator, err)
    if explained is not None:
        return explained
    msg = (
        f"`{operator}` with AutoTorch: torch could not differentiate f, although f itself "
        f"evaluates at this point (torch raised {type(err).__name__}: "
        f"{str(err).strip()!r}). f uses an operation torch has no derivative for in this "
        "mode: floor division (x // d, xp.floor_divide), for example, has none in torch, "
        "although its derivative is zero almost everywhere (write xp.floor(x / d), which "
        "torch differentiates). Rewrite f without the operation, or use a backend that "
        "differentiates it (di.AutoJAX(), di.AutoFiniteDiff())."
    )
    return UnsupportedOperationError(msg)
