"""Between the caller's arrays and torch: conversion in and out, binding ``f``.

The caller-array adapter has the vocabulary every engine computing outside the caller's
namespace shares (``io.py`` of the JAX and autograd engines): :func:`put` takes a caller
array to a torch tensor, :func:`back` brings a result to a fresh array of the caller's
namespace and device, :func:`torch_dtype` is the dtype an array has once in torch.
:class:`CallerIO` groups the three under the common name; the plans call the module
functions themselves (they are the same objects: no extra call on the hot path), since
torch needs no per-preparation state to convert.

Every torch plan goes through these helpers, so the safety rules live in one place:

* numpy comes in through ``torch.from_numpy`` (zero-copy), except read-only, negative- or
  zero-stride or non-native-byte-order arrays, which are copied first: torch would alias a
  read-only buffer as writable, ``torch.from_dlpack`` on negative strides aborts the process,
  and forward-mode AD refuses a primal whose entries share memory;
* array-api-strict (any device) and dask come in through host numpy; JAX and CuPy through
  DLPack (a zero-copy import that the engine only reads);
* torch tensors are used as they are, on their device (CPU, CUDA, ``meta``), detached so that
  nothing flows into the caller's own autograd graph (calls whose results must stay on that
  graph, :func:`on_graph`, are the attached runs of :mod:`.attached`, which never detach),
  except two kinds that are copied into
  an ordinary contiguous tensor: inference tensors (made under ``torch.inference_mode()``,
  which autograd may not save for backward outside it) and self-overlapping ones (stride-0
  expansions such as ``torch.ones(1).expand(4)``, which forward-mode AD refuses);
* results go back detached, contiguous (autograd returns stride-0 expansions, e.g. the
  gradient of a sum) and never sharing storage with an input or a prepared seed (an
  identity-like ``f`` returns its input), then into the caller's namespace and device.

``f`` is bound to torch versions of its contexts. Two-argument functions and ``Cache``
contexts get buffers allocated *inside* the traced function with ``x.new_zeros``: torch.func
refuses in-place writes into tensors captured from outside the transform, and a fresh buffer
also keeps the autograd graph off the caller's arrays.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch
import torch.autograd.forward_ad as _forward_ad

from ..._array import (
    convert,
    device_of,
    is_array,
    namespace_of,
    refuse_foreign,
)
from ...contexts import Cache
from ...errors import FunctionOutputError, UnsupportedOperationError
from .._base import Fn

__all__ = [
    "Bound",
    "CallerIO",
    "back",
    "basis",
    "checked",
    "detached",
    "engine_side",
    "on_graph",
    "outside_inference_mode",
    "outside_transforms",
    "own",
    "probe_value",
    "put",
    "torch_dtype",
]

Tensor = torch.Tensor
fwad: Any = _forward_ad  # untyped module: its functions are typed as Any here


_P = ParamSpec("_P")
_R = TypeVar("_R")


def engine_side(work: Callable[_P, _R]) -> Callable[_P, _R]:
    """``work`` (a plan's preparation) outside inference mode and outside the caller's
    ``torch.func`` transforms (:func:`outside_inference_mode`, :func:`outside_transforms`)."""
    left = outside_inference_mode(work)

    @functools.wraps(work)
    def prepared(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with outside_transforms():
            return left(*args, **kwargs)

    return prepared


def outside_inference_mode(work: Callable[_P, _R]) -> Callable[_P, _R]:
    """``work`` run outside ``torch.inference_mode()`` when a caller is inside it.

    Under inference mode torch records nothing (every derivative would silently be zero) and
    the tensors it makes cannot be saved for backward, so the engine's own work always leaves
    it; what the engine returns is then an ordinary tensor, like ``torch.autograd.grad``'s.
    Outside inference mode this costs one C call.
    """

    @functools.wraps(work)
    def engine_side(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if torch.is_inference_mode_enabled():
            with torch.inference_mode(False):
                return work(*args, **kwargs)
        return work(*args, **kwargs)

    return engine_side


# --- into torch -------------------------------------------------------------------------------


def _from_numpy(a: np.ndarray[Any, Any]) -> Tensor:
    """Zero-copy where torch may alias the buffer, a private copy otherwise."""
    if not a.flags.writeable or min(a.strides, default=1) <= 0:  # negative or zero strides
        a = np.array(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return torch.from_numpy(a)


_wrapped = torch._C._functorch.is_functorch_wrapped_tensor  # one C call
_active_transform = torch._C._functorch.peek_interpreter_stack  # None outside torch.func


def _is_dual(t: Tensor) -> bool:
    """Whether ``t`` is a dual number of the caller's own forward-mode AD level."""
    return bool(fwad._current_level >= 0 and fwad.unpack_dual(t).tangent is not None)


def on_graph(x: Any, args: tuple[Any, ...]) -> bool:
    """Whether results must stay on the caller's graph: ``x`` or a context is a tensor that
    requires grad (with grad mode on), or one of a caller's ``torch.func`` transform.

    Checked on every run of a plan, so ordered for the detached case: a numpy ``x`` costs one
    type check; a plain tensor one attribute read and one look at functorch's (empty)
    interpreter stack, without which no tensor can be a transform's.
    """
    if type(x) is np.ndarray:
        return False
    if isinstance(x, Tensor) and x.requires_grad and torch.is_grad_enabled():
        return True
    for a in args:  # usually empty
        if isinstance(a, Tensor) and a.requires_grad and torch.is_grad_enabled():
            return True
    if _active_transform() is None:
        return False
    return any(isinstance(a, Tensor) and _wrapped(a) for a in (x, *args))


def leaves_on_graph(leaves: list[Any], args: tuple[Any, ...]) -> bool:
    """:func:`on_graph` for the leaves of a tree: one requires grad, a context does, or a
    ``torch.func`` transform wraps one."""
    if torch.is_grad_enabled() and any(map(_requires_grad, leaves)):
        return True
    if on_graph(leaves[0], args):
        return True
    return _active_transform() is not None and any(map(_wrapped, leaves))


_requires_grad = attrgetter("requires_grad")


def outside_transforms() -> contextlib.AbstractContextManager[Any]:
    """Leave every active ``torch.func`` transform for the engine's own preparation work
    (inside one, every tensor made would be wrapped as one of that transform's, and a plan
    would keep such tensors). A private torch API: if it moves, nothing is left."""
    if _active_transform() is None:
        return contextlib.nullcontext()
    try:
        from torch._functorch.pyfunctorch import temporarily_clear_interpreter_stack
    except ImportError:  # pragma: no cover - depends on the torch version
        return contextlib.nullcontext()
    return temporarily_clear_interpreter_stack()


def probe_value(a: Any) -> Tensor:
    """``a``'s value as a plain tensor, also when a caller's ``torch.func`` transform wraps
    it (the first entry of a ``vmap`` batch): what preparation evaluates ``f`` on."""
    if isinstance(a, Tensor):
        functorch = torch._C._functorch
        while _wrapped(a):
            batch_dim = functorch.maybe_get_bdim(a)
            a = functorch.get_unwrapped(a)
            if batch_dim >= 0:
                a = a.select(batch_dim, 0)
        return put(a.detach())
    return put(a)


def put(a: Any) -> Tensor:
    """An array of any namespace as a torch tensor the engine may read (not write)."""
    if type(a) is np.ndarray:
        return _from_numpy(a)
    if isinstance(a, Tensor):
        if _wrapped(a) or _is_dual(a):  # attached calls never get here (see on_graph)
            msg = (
                "AutoTorch received a tensor carrying derivatives it cannot keep here (a dual "
                "number of the caller's own torch.autograd.forward_ad level, or a tensor of a "
                "torch.func transform where the engine needs plain values, e.g. "
                "AutoTorch(compile=True) prepared inside the transform); its derivative would "
                "be lost. Use torch.func.jvp around the call instead of forward_ad, and "
                "prepare outside transforms."
            )
            raise UnsupportedOperationError(msg)
        t: Tensor = a.detach() if a.requires_grad else a
        if t.is_inference():  # cloned here, outside inference mode: an ordinary tensor
            t = t.clone()
        if not t.is_contiguous() and _overlapping(t):  # a stride-0 expansion
            t = t.contiguous()
        return t
    if isinstance(a, np.generic):
        return torch.from_numpy(np.array(a))
    refuse_foreign(a, "torch", "AutoTorch")
    dlpack_device = getattr(a, "__dlpack_device__", None)
    strides = getattr(a, "strides", None) or ()
    if (
        dlpack_device is not None
        and dlpack_device()[0] not in (1, 3)  # accelerator memory (CuPy, JAX on GPU)
        and all(s >= 0 for s in strides)  # never hand negative strides to from_dlpack
    ):
        return torch.utils.dlpack.from_dlpack(a)
    module = type(a).__module__
    if module.startswith(("jax", "jaxlib")):
        return torch.utils.dlpack.from_dlpack(
            a
        )  # CPU JAX buffers are compact; zero-copy, read only
    from ..._array import to_numpy

    return _from_numpy(np.asarray(to_numpy(a)))


def torch_dtype(a: Any) -> torch.dtype:
    """The torch dtype an array of any namespace becomes."""
    if isinstance(a, Tensor):
        return a.dtype
    return put(a).dtype


def _context_value(value: Any, how: str) -> Any:
    """A context value for ``f``: converted like ``x`` (``"put"``), kept when it is a tensor
    of the caller's graph (``"keep"``), or its plain value (``"probe"``)."""
    if not (is_array(value) or isinstance(value, np.generic)):
        return value
    if how == "keep" and isinstance(value, Tensor):
        return value
    return probe_value(value) if how == "probe" else put(value)


# --- binding f --------------------------------------------------------------------------------


class Bound:
    """``f`` as a function of a torch ``x`` alone, with torch contexts and private buffers.

    Built once per call (the context values change between calls); the callable it returns is
    what the transforms trace. ``graph=True`` keeps tensor contexts on the caller's graph
    (attached runs, :mod:`.attached`); ``probe=True`` takes their plain values (preparation).
    """

    __slots__ = ("args", "caches", "f", "inplace", "tensors", "y_dtype", "y_shape")

    def __init__(
        self,
        fn: Fn,
        y_shape: tuple[int, ...],
        y_dtype: torch.dtype,
        *,
        graph: bool = False,
        probe: bool = False,
    ) -> None:
        self.f = fn.f
        self.inplace = fn.inplace
        self.y_shape = y_shape
        self.y_dtype = y_dtype
        self.args: tuple[Any, ...] = ()
        self.caches: tuple[tuple[int, tuple[int, ...], torch.dtype], ...] = ()
        self.tensors: tuple[Tensor, ...] = ()
        if fn.args:  # the common case without contexts stays cheap (this is per call)
            self._bind_contexts(fn, "keep" if graph else "probe" if probe else "put")

    def _bind_contexts(self, fn: Fn, how: str) -> None:
        args = tuple(_context_value(v, how) for v in fn.args)
        self.args = args
        self.tensors = tuple(a for a in args if isinstance(a, Tensor))
        self.caches = tuple(
            (i, tuple(a.shape), a.dtype)
            for i, (c, a) in enumerate(zip(fn.contexts, args, strict=True))
            if isinstance(c, Cache) and isinstance(a, Tensor)
        )

    def __call__(self, x: Tensor) -> Tensor:
        if not self.inplace and not self.caches:
            return checked(self.f(x, *self.args))
        args: Any = self.args
        if self.caches:
            args = list(args)
            for i, shape, dtype in self.caches:
                args[i] = x.new_zeros(shape, dtype=dtype)
        if not self.inplace:
            return checked(self.f(x, *args))
        y = x.new_zeros(self.y_shape, dtype=self.y_dtype)
        returned = self.f(y, x, *args)
        if returned is not None:
            msg = (
                "A two-argument function f(y, x) must write into y and return None; it "
                f"returned a {type(returned).__name__}."
            )
            raise FunctionOutputError(msg)
        return y


def checked(y: Any) -> Tensor:
    """``y`` if it is a tensor; a clear error otherwise (e.g. a Python number)."""
    if isinstance(y, Tensor):
        return y
    if isinstance(y, float | int | complex):
        hint = (
            " It looks like f converted its result to a Python number (.item(), float()): "
            "return the 0-d array itself."
        )
    else:
        hint = (
            " Write f against the Array API (xp = array_api_compat.array_namespace(x)) so "
            "that it returns an array of x's namespace; under AutoTorch, x is a torch tensor."
        )
    msg = f"AutoTorch needs f to return a torch tensor; it returned a {type(y).__name__}." + hint
    raise FunctionOutputError(msg)


# --- out of torch -----------------------------------------------------------------------------


def _storage(t: Tensor) -> int:
    return int(t.untyped_storage().data_ptr())


def _overlapping(t: Tensor) -> bool:
    """Whether several entries of ``t`` share memory (a stride-0 expansion)."""
    return any(st == 0 and sz > 1 for st, sz in zip(t.stride(), t.shape, strict=True))


def own(t: Tensor, sources: Iterable[Tensor]) -> Tensor:
    """``t`` detached, without self-overlap, sharing storage with none of ``sources``.

    Non-contiguous but non-overlapping results (a transposed Jacobian) are kept as they are:
    numpy and torch callers get a strided array, as ``torch.func.jacfwd`` gives.
    """
    if t.requires_grad:
        t = t.detach()
    if not t.is_contiguous() and _overlapping(t):  # autograd expands, e.g. grad of a sum
        return t.contiguous()
    if t.is_meta:  # no storage to share, but never hand back an input object
        return t.clone() if any(t is s for s in sources) else t
    # A loop, not any(<generator>): this runs on every call, the prepared gradient included.
    ptr = _storage(t)  # storages on different devices never share an address
    for s in sources:
        if t is s or _storage(s) == ptr:
            return t.clone()
    return t


def detached(t: Tensor) -> Tensor:
    """``t`` without autograd history (a no-op for tensors that have none)."""
    return t.detach() if t.requires_grad else t


def back(t: Tensor, like: Any, sources: Iterable[Tensor]) -> Any:
    """``t`` as a fresh array of ``like``'s namespace and device."""
    t = own(t, sources)
    if type(like) is np.ndarray:
        return t.numpy()
    if isinstance(like, Tensor):
        return t
    return convert(t, namespace_of(like), device_of(like))


class CallerIO:
    """The torch engine's caller-array adapter: :func:`put`, :func:`back` and ``dtype``
    (:func:`torch_dtype`), the module's own functions (torch converts without state)."""

    put = staticmethod(put)
    back = staticmethod(back)
    dtype = staticmethod(torch_dtype)


# --- seeds ------------------------------------------------------------------------------------


def basis(
    start: int, count: int, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Basis vectors ``start .. start + count - 1`` (wrapping around), ``(count, *shape)``."""
    n = math.prod(shape)
    rows = torch.zeros((count, n), dtype=dtype, device=device)
    if device.type != "meta":
        cols = torch.arange(start, start + count, device=device) % n
        rows[torch.arange(count, device=device), cols] = 1
    return rows.reshape((count, *shape))


def zeros_like_batch(count: int, like: Tensor) -> Tensor:
    """Zeros of shape ``(count, *like.shape)`` (derivatives of constant functions)."""
    return like.new_zeros((count, *like.shape))


Fun = Callable[[Tensor], Tensor]
