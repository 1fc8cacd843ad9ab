"""First-order torch plans: the autograd tape for reverse mode, forward AD for tangents.

Which torch API backs what, and why (measured in ``docs/backends/torch.md``):

* **pullback, reverse gradient, reverse Jacobian**: one forward pass recorded on the
  ``torch.autograd`` tape, then one backward pass (:func:`.backward.backward`: the autograd
  engine without ``torch.autograd.grad``'s Python wrapper); several cotangents (or the rows
  of a Jacobian) in one batched backward pass (``is_grads_batched=True``, vmap over the backward
  graph). The tape costs a fraction of ``torch.func.grad`` on small problems and
  differentiates through in-place writes (two-argument functions).
* **one tangent** (pushforward, derivative): forward-mode dual numbers
  (``torch.autograd.forward_ad``), several times cheaper than ``torch.func.jvp`` at small
  sizes.
* **several tangents, forward gradient and forward Jacobian**: ``torch.func.vmap`` over
  ``torch.func.jvp``, chunked (what ``torch.func.jacfwd`` does, with a chunk size). Where
  vmap cannot batch ``f`` (an in-place write of a batched value into an unbatched buffer,
  ``y[:3] = xp.sin(x)`` with a 0-d ``x``; masked writes; control flow on values), the
  tangents are pushed one at a time with dual numbers on the same preparation
  (:class:`Batching`).

Forward-mode AD levels are process-global in torch (``torch.func.jvp`` enters one too), so
forward passes hold :data:`FORWARD_LOCK`; tape passes run concurrently.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.autograd.forward_ad as _forward_ad

from ..._array import MAX_STACK_ELEMENTS, chunking, stack_elements
from ...errors import DIError, UnsupportedOperationError
from .._base import (
    DerivativePlan,
    Fn,
    GradientPlan,
    JacobianPlan,
    PullbackPlan,
    PushforwardPlan,
)
from .backward import backward
from .io import (
    Fun,
    back,
    basis,
    checked,
    detached,
    own,
    put,
    torch_dtype,
    zeros_like_batch,
)
from .plan import Signature, TorchPlan, views_tangents

__all__ = [
    "FORWARD_LOCK",
    "Basis",
    "Batching",
    "TorchDerivative",
    "TorchGradientForward",
    "TorchGradientReverse",
    "TorchJacobianForward",
    "TorchJacobianReverse",
    "TorchPullback",
    "TorchPushforward",
    "leaf",
    "record",
    "tape_grad",
    "vmapped",
]

Tensor = torch.Tensor
fwad: Any = _forward_ad  # untyped module: its functions are typed as Any here

#: Serialises forward-mode passes (torch's forward-AD levels are global, not per thread).
FORWARD_LOCK = threading.RLock()


# --- shared pieces ----------------------------------------------------------------------------


def leaf(x: Any) -> Tensor:
    """``x`` as a fresh tensor object that requires grad (never the caller's object)."""
    if type(x) is np.ndarray:
        return put(x).requires_grad_(True)  # from_numpy made a new tensor object
    return put(x).detach().requires_grad_(True)


def record(func: Fun, xr: Tensor) -> Tensor:
    """``func(xr)`` recorded on the tape, even if the caller disabled grad mode."""
    if torch.is_grad_enabled():
        return func(xr)
    with torch.enable_grad():
        return func(xr)


def tape_grad(
    y: Tensor,
    xr: Tensor,
    seed: Tensor | None = None,
    *,
    batched: bool = False,
    retain: bool = False,
    create: bool = False,
) -> Tensor:
    """``J^H seed`` by one backward pass; zeros where ``y`` does not depend on ``xr``.

    With ``batched=True`` the seeds are stacked along a leading axis and pulled back in one
    vmapped backward pass; if the backward graph has an operation vmap cannot batch, they are
    pulled back one at a time on the same tape (one forward pass either way).
    """
    if not y.requires_grad:
        return (
            zeros_like_batch(seed.shape[0], xr)
            if batched and seed is not None
            else (torch.zeros_like(xr))
        )
    if batched and seed is not None:
        try:
            (g,) = torch.autograd.grad(
                y,
                xr,
                seed,
                retain_graph=True,
                create_graph=create,
                allow_unused=True,
                is_grads_batched=True,
            )
        except RuntimeError:  # no batching rule for some backward op: same tape, in a loop
            rows = [
                tape_grad(y, xr, seed[k], retain=True, create=create) for k in range(seed.shape[0])
            ]
            return torch.stack(rows)
        return zeros_like_batch(seed.shape[0], xr) if g is None else g
    pulled = backward(y, xr, seed, retain=retain, create=create)
    return torch.zeros_like(xr) if pulled is None else pulled


def dual_jvp(func: Fun, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """``(f(x), J t)`` with forward-mode dual numbers (caller holds :data:`FORWARD_LOCK`)."""
    with fwad.dual_level():
        out = func(fwad.make_dual(xt, t))
        primal, tangent = fwad.unpack_dual(out)
    return primal, (torch.zeros_like(primal) if tangent is None else tangent)


_SLOW_BATCHING = "There is a performance drop because we have not yet implemented the batching"


def vmapped(one: Callable[[Tensor], Any], seeds: Tensor, chunk: int) -> Any:
    """``torch.func.vmap(one)(seeds)``, ``chunk`` seeds at a time (caller holds
    :data:`FORWARD_LOCK`). torch's warning that an operation of ``f`` has no batching rule
    (``conj``, ...) is silenced: the user did not ask for vmap, the library chose it, and the
    fallback it warns about computes the right values (the lock keeps the process-wide
    warning filters from being changed by two passes at once)."""
    count = seeds.shape[0]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SLOW_BATCHING, category=UserWarning)
        return torch.func.vmap(one, chunk_size=chunk if chunk < count else None)(seeds)


def vmap_jvp(func: Fun, xt: Tensor, tangents: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
    """``(f(x), stacked J t_b)`` by ``vmap(jvp)``, ``chunk`` tangents at a time."""

    def one(t: Tensor) -> tuple[Tensor, Tensor]:
        out = torch.func.jvp(func, (xt,), (t,))
        return out[0], out[1]

    y, ty = vmapped(one, tangents, chunk)
    return y[0], ty


Pair = tuple[Tensor, Tensor]


class Batching:
    """Several tangents in one vmapped pass, or one pass each where vmap cannot batch ``f``.

    ``vmap`` has no batching rule for some of what ``f`` may do (an in-place write of a
    batched value into an unbatched buffer, such as ``y[:3] = xp.sin(x)`` with a 0-d ``x``;
    masked writes; control flow on values) and raises. The plan then pushes its tangents one
    at a time on the same preparation, and remembers it, so that later calls go straight to
    the loop instead of failing in vmap first. If the loop fails too, ``f`` cannot be
    differentiated at all and the loop's error propagates. The flag only ever goes from true
    to false, under :data:`FORWARD_LOCK` (held by every forward pass), so a plan stays safe
    to share between threads.
    """

    __slots__ = ("vmap",)

    def __init__(self) -> None:
        self.vmap = True

    def push(
        self, batched: Callable[[Tensor], Pair], single: Callable[[Tensor], Pair], seeds: Tensor
    ) -> Pair:
        """``(primal, stacked results)``: ``batched(seeds)``, or ``single`` of each seed."""
        with FORWARD_LOCK:
            if self.vmap:
                try:
                    return batched(seeds)
                except RuntimeError as err:  # vmap cannot batch f, or f fails: see below
                    if isinstance(err, DIError):
                        raise
                pair = _one_by_one(single, seeds)  # outside the handler: no chained vmap noise
                self.vmap = False
                return pair
            return _one_by_one(single, seeds)


def _one_by_one(single: Callable[[Tensor], Pair], seeds: Tensor) -> Pair:
    pairs = [single(seeds[k]) for k in range(seeds.shape[0])]
    return pairs[0][0], torch.stack([p[1] for p in pairs])


def batch_size(*sizes: int, like: Any = None) -> int:
    """Most directions one vmapped pass may take, for arrays of these sizes, on ``like``'s
    device (a CUDA device's budget follows its free memory: :func:`stack_elements`)."""
    return max(1, stack_elements(like) // max(1, *sizes))


class Basis:
    """Chunks of the standard basis of an array of ``shape``, built once when they fit.

    Chunks are balanced and the last one wraps around (every chunk has one shape), like the
    generic fallbacks' seeds.
    """

    __slots__ = ("batch", "cached", "dtype", "n", "nchunks", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, x: Any) -> None:
        self.shape = shape
        self.dtype = dtype
        self.n = math.prod(shape)
        self.batch, self.nchunks = chunking(self.n, batch_size(self.n, like=x))
        self.cached: tuple[Tensor, ...] | None = None
        # kept only while small: a plan holds them between calls (on a GPU a basis of
        # any size is one kernel to build)
        if self.n * self.batch * self.nchunks <= MAX_STACK_ELEMENTS:
            device = _device_of(x)
            self.cached = tuple(self._build(k, device) for k in range(self.nchunks))

    def _build(self, k: int, device: torch.device) -> Tensor:
        return basis(k * self.batch, self.batch, self.shape, self.dtype, device)

    def chunk(self, k: int, device: torch.device) -> Tensor:
        """Chunk ``k`` on ``device``."""
        if self.cached is not None and self.cached[k].device == device:
            return self.cached[k]
        return self._build(k, device)

    def join(self, parts: list[Tensor]) -> Tensor:
        """Per-chunk results ``(batch, k)`` as one ``(n, k)`` matrix (padding dropped)."""
        joined = parts[0] if len(parts) == 1 else torch.cat(parts)
        return joined[: self.n]


def _device_of(x: Any) -> torch.device:
    return x.device if isinstance(x, Tensor) else torch.device("cpu")


# --- plans ------------------------------------------------------------------------------------


class TorchPullback(TorchPlan, PullbackPlan):
    """``J^H w`` for each cotangent: one recorded forward pass, one (batched) backward pass."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.single = views_tangents(x)

    def run(self, fn: Fn, x: Any, ty: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xr = leaf(x)
        w = put(ty)
        y = record(func, xr)
        if w.shape[0] == 1:
            tx = tape_grad(y, xr, w[0]).unsqueeze(0)
        else:
            tx = tape_grad(y, xr, w, batched=True)
        sources = (xr, w, *func.tensors)
        return (back(y, x, sources) if value else None), back(tx, x, sources)


def compiled(f: Any, x: Any) -> Any:
    """``torch.compile(f)``, compiled now (preparation), or a clear error if it cannot be."""
    fc: Any = torch.compile(f)
    try:
        xr = leaf(x)
        torch.autograd.grad(fc(xr), xr, allow_unused=True)
    except Exception as err:  # inductor fails in many ways (no C++ compiler, graph breaks)
        msg = (
            f"AutoTorch(compile=True) could not compile f with torch.compile "
            f"({type(err).__name__}: {err}). Use AutoTorch() to run f as it is."
        )
        raise UnsupportedOperationError(msg) from err
    return fc


class TorchGradientReverse(TorchPlan, GradientPlan):
    """The gradient by one backward pass (``df/dRe x + 1j df/dIm x`` for complex ``x``).

    This is the hottest path of the library (a prepared gradient of a small function costs
    about as much as the native ``torch.autograd.grad``), so the common case, a one-argument
    ``f`` of a numpy ``x``, is written out without the general helpers' indirections.
    """

    def __init__(self, fn: Fn, x: Any, y: Any, *, compile: bool = False) -> None:
        self.sig = Signature(x, y)
        self.plain = not fn.inplace and not fn.contexts
        self.f = fn.f  # what runs: f, or torch.compile(f) (see AutoTorch's compile)
        self.given = fn.f  # the prepared f: calls with another f (strict=False) run that one
        if compile and self.plain:
            self.f = compiled(fn.f, x)
        if self.plain and type(x) is np.ndarray:
            self.express_run = self._express_run

    def _express_run(self, x: Any) -> Any:
        """The gradient of the prepared ``f`` for a numpy ``x`` (see ExpressPlan), else None.

        Declines (the express closure checked x's type) under ``torch.no_grad()`` and
        inference mode, and when torch raises: ``run`` handles those (see :mod:`.plan`).
        """
        if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
            return None
        try:
            return self._numpy_tape(self.f, x, value=False)[1]
        except RuntimeError:
            return None

    def _numpy_tape(self, f: Any, x: np.ndarray, *, value: bool) -> tuple[Any, Any]:
        flags = x.flags  # C-contiguous: no negative strides; put copies the rest
        if flags.writeable and flags.c_contiguous and x.dtype.isnative:
            xr = torch.from_numpy(x).requires_grad_(True)
        else:
            xr = leaf(x)
        y = checked(f(xr))
        if y.requires_grad:
            g = backward(y, xr)
            grad = torch.zeros_like(xr) if g is None else g
        else:
            grad = torch.zeros_like(xr)
        return (back(y, x, (xr,)) if value else None), own(grad, (xr,)).numpy()

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        if self.plain:
            f = self.f if fn.f is self.given else fn.f
            if type(x) is np.ndarray and torch.is_grad_enabled():
                return self._numpy_tape(f, x, value=value)
            if f is not fn.f:
                fn = Fn(f)
        func = self.sig.bind(fn)
        xr = leaf(x)
        y = record(func, xr)
        grad = tape_grad(y, xr)
        sources = (xr, *func.tensors)
        return (back(y, x, sources) if value else None), back(grad, x, sources)


class TorchJacobianReverse(TorchPlan, JacobianPlan):
    """Rows of the Jacobian: batched backward passes over the basis of ``y`` (real dtypes)."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.dtype = torch.promote_types(torch_dtype(x), self.sig.y_dtype)
        self.seeds = Basis(self.sig.y_shape, self.sig.y_dtype, x)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        sig, seeds = self.sig, self.seeds
        func = sig.bind(fn)
        xr = leaf(x)
        y = record(func, xr)
        parts = []
        for k in range(seeds.nchunks):
            rows = tape_grad(y, xr, seeds.chunk(k, xr.device), batched=True)
            parts.append(rows.reshape(seeds.batch, sig.n))
        jac = seeds.join(parts) if parts else xr.new_zeros((0, sig.n))
        sources = (xr, *func.tensors, *(seeds.cached or ()))
        value_out = back(y, x, sources) if value else None
        return value_out, back(jac.to(self.dtype), x, sources)


class TorchPushforward(TorchPlan, PushforwardPlan):
    """``J t`` for each tangent: dual numbers for one, ``vmap(jvp)`` for several."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        self.chunk = batch_size(self.sig.n, self.sig.m, like=x)
        self.batching = Batching()
        self.single = views_tangents(x)

    def run(self, fn: Fn, x: Any, tx: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xt = put(x)
        t = put(tx)
        if t.shape[0] == 1:
            with FORWARD_LOCK:
                y, ty1 = dual_jvp(func, xt, t[0])
            ty = ty1.unsqueeze(0)
        else:
            y, ty = self.batching.push(
                lambda ts: vmap_jvp(func, xt, ts, self.chunk),
                lambda t1: dual_jvp(func, xt, t1),
                t,
            )
        sources = (xt, t, *func.tensors)
        return (back(y, x, sources) if value else None), back(ty, x, sources)


class TorchDerivative(TorchPlan, DerivativePlan):
    """The derivative of a function of a 0-d ``x``: one dual-number pass."""

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xt = put(x)
        with FORWARD_LOCK:
            y, der = dual_jvp(func, xt, torch.ones_like(xt))
        sources = (xt, *func.tensors)
        return (back(y, x, sources) if value else None), back(der, x, sources)


class TorchJacobianForward(TorchPlan, JacobianPlan):
    """Columns of the Jacobian: ``vmap(jvp)`` over chunks of the basis of ``x`` (real dtypes)."""

    forward = True

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.sig = Signature(x, y)
        xdtype = torch_dtype(x)
        self.dtype = torch.promote_types(xdtype, self.sig.y_dtype)
        self.seeds = Basis(self.sig.x_shape, xdtype, x)
        self.batching = Batching()

    def columns(self, func: Fun, xt: Tensor) -> tuple[Tensor | None, Tensor]:
        """``(f(x) or None when x is empty, (n, m) matrix of columns)``."""
        sig, seeds = self.sig, self.seeds
        y: Tensor | None = None
        parts = []

        def batched(ts: Tensor) -> Pair:
            return vmap_jvp(func, xt, ts, seeds.batch)

        def single(t: Tensor) -> Pair:
            return dual_jvp(func, xt, t)

        for k in range(seeds.nchunks):
            y, cols = self.batching.push(batched, single, seeds.chunk(k, xt.device))
            parts.append(cols.reshape(seeds.batch, sig.m))
        if not parts:
            return None, xt.new_zeros((0, sig.m), dtype=sig.y_dtype)
        return y, seeds.join(parts)

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.sig.bind(fn)
        xt = put(x)
        y, cols = self.columns(func, xt)
        if value and y is None:
            y = detached(func(xt))
        sources = (xt, *func.tensors, *(self.seeds.cached or ()))
        jac = cols.mT.to(self.dtype)
        value_out = back(y, x, sources) if value and y is not None else None
        return value_out, back(jac, x, sources)


class TorchGradientForward(TorchPlan, GradientPlan):
    """The gradient by forward mode: ``vmap(jvp)`` over the basis of ``x`` (real ``x``)."""

    forward = True

    def __init__(self, fn: Fn, x: Any, y: Any) -> None:
        self.jacobian = TorchJacobianForward(fn, x, y)
        self.sig = self.jacobian.sig

    def run(self, fn: Fn, x: Any, *, value: bool) -> tuple[Any, Any]:
        func = self.jacobian.sig.bind(fn)
        xt = put(x)
        y, cols = self.jacobian.columns(func, xt)
        if value and y is None:
            y = detached(func(xt))
        sources = (xt, *func.tensors, *(self.jacobian.seeds.cached or ()))
        grad = cols.reshape(xt.shape).to(xt.dtype)
        value_out = back(y, x, sources) if value and y is not None else None
        return value_out, back(grad, x, sources)
