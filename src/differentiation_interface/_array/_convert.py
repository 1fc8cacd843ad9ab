"""Moving arrays between namespaces and devices, safely.

Namespace-specific code here never imports an engine: if an array of that namespace exists,
its package is already in ``sys.modules``. The safety rules come from experiments recorded in
the project's reference notes:

* torch must never see a read-only or negative-stride numpy buffer (a write through the alias
  segfaulted; ``torch.from_dlpack`` on negative strides aborts the process);
* JAX drops float64 to float32 unless the work runs inside ``jax.enable_x64(True)``, which is
  thread-local; the global flag is never touched (see ``_precision``);
* results handed to the caller are fresh and writable (a numpy view of a JAX buffer is
  read-only; an identity function returns the caller's own buffer);
* a torch ``meta`` tensor has a shape and a dtype but no values: engines that compute with
  values refuse it before computing (:func:`refuse_meta`), and so does :func:`to_numpy`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import array_api_compat as aac
import numpy as np

from ..errors import UnsupportedOperationError
from ._dtensor import is_dtensor, refuse_dtensor
from ._namespace import device_of, namespace_of
from ._precision import precision_scope
from ._tracing import transformed

__all__ = [
    "convert",
    "fresh",
    "from_numpy",
    "host_bridge",
    "host_dtype",
    "refuse_extended",
    "refuse_meta",
    "small_host_view",
    "to_numpy",
]


def refuse_meta(a: Any, selector: str) -> None:
    """Raise :class:`UnsupportedOperationError` if ``a`` is a torch ``meta`` tensor.

    ``selector`` names who needs values (``"AutoJAX()"``), for the message.
    """
    if getattr(a, "is_meta", False) is True:
        msg = (
            f"{selector} needs the values of its arrays, but received a torch tensor on the "
            "'meta' device, which has a shape and a dtype and no values. Pass a tensor with "
            "values (on 'cpu' or an accelerator), or use di.AutoTorch(), which propagates "
            "meta tensors through every operator, shapes and dtypes only."
        )
        raise UnsupportedOperationError(msg)


def refuse_extended(a: Any, selector: str) -> None:
    """Raise :class:`UnsupportedOperationError` if ``a`` is a numpy array of an extended
    precision dtype (``longdouble``, ``clongdouble`` wider than 64 / 128 bits), which the
    engine (JAX, torch) cannot represent: computing would silently round it."""
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fc":
        return
    if a.dtype.itemsize > (8 if a.dtype.kind == "f" else 16):
        msg = (
            f"{selector} computes in at most float64 (complex128); x has numpy dtype "
            f"{a.dtype} (extended precision), which it cannot represent. Convert x with "
            "x.astype(np.float64), or use di.AutoFiniteDiff() or di.AutoAutograd(), which "
            "compute in numpy's own dtypes."
        )
        raise UnsupportedOperationError(msg)


def to_numpy(a: Any) -> np.ndarray[Any, Any]:
    """A host numpy view or copy of ``a`` (torch tensors are detached first)."""
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, np.generic):
        return np.asarray(a)
    torch = sys.modules.get("torch")
    if torch is not None and type(a) is torch.Tensor and a.is_cpu and not a.requires_grad:
        try:  # a plain CPU tensor: its own view (1.1 µs; the general route below: 2.6)
            return a.numpy()  # type: ignore[no-any-return]
        except (TypeError, RuntimeError):  # bfloat16, a conjugate or negative bit: below
            pass
    if aac.is_torch_array(a):
        refuse_meta(a, "A conversion to numpy")
        refuse_dtensor(a, "A conversion to numpy")
        t = a.detach().resolve_conj().resolve_neg()  # numpy() refuses the lazy bits
        if t.device.type != "cpu":
            t = t.cpu()
        return t.numpy()
    if aac.is_cupy_array(a):
        return a.get()  # type: ignore[no-any-return]
    if aac.is_jax_array(a) or aac.is_dask_array(a):
        return np.asarray(a)
    return np.from_dlpack(a)  # array-api-strict on any device, and other DLPack producers


def host_dtype(a: Any) -> np.dtype[Any]:
    """The numpy dtype of an array of any namespace, without reading its values.

    JAX arrays and tracers, CuPy and dask dtypes are numpy dtypes already (a tracer has no
    values to convert); the others tell theirs through a zero-size host copy.
    """
    dtype = getattr(a, "dtype", None)
    if not isinstance(dtype, np.dtype):
        dtype = to_numpy(namespace_of(a).reshape(a, (-1,))[:0]).dtype
    return np.dtype(dtype)


# Below this many bytes, copying into JAX (memory bandwidth) costs less than device_put's
# fixed cost; above it, device_put's zero-copy path wins (30 µs for 4 MB, a copy 330 µs).
_SMALL_FOR_JAX = 1 << 16


@functools.cache
def _jax_transfer() -> Callable[[Any], Any]:
    """The identity, compiled by ``jax.jit`` (see :func:`from_numpy`)."""
    return sys.modules["jax"].jit(lambda a: a)  # type: ignore[no-any-return]


def small_host_view(a: Any) -> np.ndarray[Any, Any] | None:
    """A numpy view of ``a`` if it is a numpy array, a plain torch tensor (not requiring
    grad) or a one-device JAX array in host memory, of at most 64 KiB; else ``None``.

    For such arrays a copy through host numpy costs less than DLPack's fixed cost (torch ->
    JAX 9.5 µs against 60 for 40 bytes; JAX -> torch 3 against 7, measured).
    """
    if type(a) is np.ndarray:
        return a if a.nbytes <= _SMALL_FOR_JAX else None
    if type(a) is _jax_array_type[0]:
        return _small_jax_host_view(a)
    torch = sys.modules.get("torch")
    if torch is not None and type(a) is torch.Tensor:
        if not a.is_cpu or a.requires_grad or a.nbytes > _SMALL_FOR_JAX:
            return None
        try:
            return a.numpy()  # type: ignore[no-any-return]
        except (TypeError, RuntimeError):  # bfloat16, a conjugate or negative bit: DLPack
            return None
    if aac.is_jax_array(a):
        if not isinstance(a, sys.modules["jax"].core.Tracer):
            _jax_array_type[0] = type(a)
        return _small_jax_host_view(a)
    return None


#: The type of concrete JAX arrays, once one was seen (one identity test instead of
#: array-api-compat's checks, half a microsecond)
_jax_array_type: list[type | None] = [None]


#: The last JAX sharding found to be one CPU device: results of one program share their
#: sharding object, so the common case is one identity test (reading the device costs 3 µs).
_host_sharding: list[Any] = [None]


def _small_jax_host_view(a: Any) -> np.ndarray[Any, Any] | None:
    """:func:`small_host_view` of a JAX array."""
    try:
        dtype, sharding = a.dtype, a.sharding
    except Exception:  # noqa: BLE001 - a tracer: no sharding, no values
        return None
    if dtype.kind not in "biufc" or a.size * dtype.itemsize > _SMALL_FOR_JAX:
        return None  # bfloat16 and other ml_dtypes go by DLPack; so do large arrays
    if sharding is not _host_sharding[0]:
        devices = getattr(sharding, "device_set", ())
        if len(devices) != 1 or next(iter(devices)).platform != "cpu":
            return None
        _host_sharding[0] = sharding
    return np.asarray(a)


def _torch_safe(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A numpy array torch may alias: writable, non-negative strides."""
    if not a.flags.writeable or any(s < 0 for s in a.strides):
        return np.array(a)
    return a


def from_numpy(a: np.ndarray[Any, Any], xp: ModuleType, device: Any) -> Any:
    """``a`` in namespace ``xp`` on ``device`` (zero-copy where that is safe)."""
    if aac.is_numpy_namespace(xp):
        return a
    if aac.is_torch_namespace(xp):
        torch = sys.modules["torch"]
        t = torch.from_numpy(_torch_safe(a))
        return t if device is None or t.device == device else t.to(device)
    if aac.is_jax_namespace(xp):
        jax = sys.modules["jax"]
        with precision_scope(xp, a):
            if a.nbytes > _SMALL_FOR_JAX:
                return jax.device_put(a, device)  # on the CPU, large buffers without a copy
            # small: a copy onto the default device. jit's C++ dispatch moves a numpy
            # argument in far faster than jnp.array's Python path or device_put's fixed cost
            # (9.5 µs against 30 and 74 for 40 bytes, measured), so an identity function,
            # compiled once per shape and dtype like jnp.array's own conversion, does it
            # (jit refuses byte-swapped buffers; jnp.array converts them)
            transfer = _jax_transfer() if a.dtype.isnative else sys.modules["jax.numpy"].array
            out = transfer(a)
            if isinstance(out, jax.core.Tracer):  # inside a trace: a constant of it, as before
                return jax.device_put(a, device)
            return out if device is None or out.device == device else jax.device_put(out, device)
    if aac.is_cupy_namespace(xp):
        cupy = sys.modules["cupy"]
        with cupy.cuda.Device(getattr(device, "id", device)):
            return cupy.asarray(a)
    if aac.is_array_api_strict_namespace(xp):
        return xp.from_dlpack(_torch_safe(a), device=device)
    if aac.is_dask_namespace(xp):
        return xp.asarray(a)
    return xp.asarray(a, device=device)


def host_bridge(
    like: Any,
) -> tuple[Callable[[np.ndarray[Any, Any]], Any], Callable[[Any], np.ndarray[Any, Any]]]:
    """Two converters for a loop that crosses between host numpy and arrays like ``like``
    at every step (scipy's adapters): numpy -> ``like``'s namespace and device, and back.

    Chosen once: for a plain CPU torch tensor, ``torch.from_numpy`` and ``Tensor.numpy``
    themselves (zero-copy; 0.5 µs each in place of 1.4 and 2 through :func:`from_numpy`
    and :func:`to_numpy`, measured), with the same safety rules; otherwise those two.
    """
    xp, device = namespace_of(like), device_of(like)
    torch = sys.modules.get("torch")
    if torch is None or type(like) is not torch.Tensor or like.device.type != "cpu":
        return (lambda a: from_numpy(a, xp, device)), to_numpy
    tensor, from_host = torch.Tensor, torch.from_numpy

    def into(a: np.ndarray[Any, Any]) -> Any:
        return from_host(_torch_safe(a))

    def out_of(t: Any) -> np.ndarray[Any, Any]:
        if type(t) is tensor and not t.requires_grad:
            try:
                return t.numpy()  # type: ignore[no-any-return]
            except (TypeError, RuntimeError):  # another device than the CPU: say so below
                pass
        return to_numpy(t)

    return into, out_of


def convert(a: Any, xp: ModuleType, device: Any) -> Any:
    """``a`` (an array of any namespace) as an array of ``xp`` on ``device``.

    Same namespace: moved to ``device`` if needed. CPU arrays of other namespaces go through
    host numpy; accelerator arrays go through DLPack (the consumer's stream is passed by the
    consumer, as the standard requires).
    """
    if namespace_of(a) is xp:
        if device is None or device_of(a) == device:
            return a
        return aac.to_device(a, device)
    dlpack_device = getattr(a, "__dlpack_device__", None)
    if dlpack_device is not None and dlpack_device()[0] not in (1, 3):  # not host memory
        return aac.to_device(xp.from_dlpack(a), device)
    return from_numpy(to_numpy(a), xp, device)


def _shares_memory(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and bool(np.may_share_memory(a, b))
    torch = sys.modules.get("torch")
    if torch is not None and type(a) is torch.Tensor and type(b) is torch.Tensor:
        return _plain_tensors_share(a, b)  # the common case, 0.3 µs instead of 2
    if aac.is_torch_array(a):
        if is_dtensor(a) or is_dtensor(b):  # their storage is each process' local shard
            if not (is_dtensor(a) and is_dtensor(b)):
                return False
            a, b = a.to_local(), b.to_local()  # type: ignore[attr-defined]
        if not aac.is_torch_array(b) or a.device != b.device or a.device.type == "meta":
            return False
        if transformed(a) or transformed(b):  # a torch.func transform's: no storage to read
            return False
        return bool(a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())
    if aac.is_jax_array(a):
        return False  # immutable: sharing is never observable
    if aac.is_cupy_array(a):  # bounds of device pointers, read on the host (no sync)
        return aac.is_cupy_array(b) and bool(sys.modules["cupy"].may_share_memory(a, b))
    inner_a, inner_b = getattr(a, "_array", None), getattr(b, "_array", None)
    if isinstance(inner_a, np.ndarray) and isinstance(inner_b, np.ndarray):
        return bool(np.may_share_memory(inner_a, inner_b))  # array-api-strict
    return False


def _plain_tensors_share(a: Any, b: Any) -> bool:
    """Whether two tensors of the exact type ``torch.Tensor`` (so neither a DTensor nor a
    Parameter) share storage."""
    try:
        pointer = a.untyped_storage().data_ptr()
        if pointer != b.untyped_storage().data_ptr():
            return False
    except NotImplementedError:  # torch.func's wrappers (grad, vmap) have no storage to read
        return False
    # equal pointers: meta tensors (0 for all) and other devices' address spaces are not
    # shared memory
    return bool(pointer != 0 and a.device == b.device)


def fresh(result: Any, xp: ModuleType, sources: tuple[Any, ...]) -> Any:
    """``result`` as a writable array that aliases none of ``sources``.

    Copies only when needed: a numpy scalar becomes a 0-d array, a read-only view or a
    buffer shared with an input is copied. A torch tensor keeps its graph: engines detach
    their results unless the call asked for them attached (API section 11).
    """
    if type(result) in _IMMUTABLE_TYPES:  # JAX arrays: sharing is never observable
        return xp.asarray(result, copy=True) if _is_one_of(result, sources) else result
    torch = sys.modules.get("torch")
    if torch is not None and type(result) is torch.Tensor:  # the common torch result: 0.56 µs
        for s in sources:  # (the general route below: 1.2, per evaluation in a sweep)
            if s is result:  # an empty or meta tensor has no storage pointer to compare
                return result.clone()
            plain = type(s) is torch.Tensor
            if _plain_tensors_share(result, s) if plain else _shares_memory(result, s):
                return result.clone()
        return result
    if isinstance(result, np.generic):
        return np.asarray(result)
    if isinstance(result, np.ndarray):
        if not result.flags.writeable:
            return np.array(result)
        if result.base is None and _owner_unshared(result, sources):
            return result
        if any(_shares_memory(result, s) for s in sources):
            return np.array(result)
        return result
    if aac.is_torch_array(result):
        if any(_shares_memory(result, s) for s in sources):
            return result.clone()
        return result
    if aac.is_jax_array(result):
        _IMMUTABLE_TYPES.add(type(result))  # the first JAX result: its type short-cuts above
    if any(_shares_memory(result, s) for s in sources):
        return xp.asarray(result, copy=True)
    return result


def _owner_unshared(result: np.ndarray[Any, Any], sources: tuple[Any, ...]) -> bool:
    """Whether ``result``, which owns its memory, certainly shares it with no numpy source:
    a source could only be ``result`` itself or a view whose base it is (numpy collapses
    chains of views to the owner). ``False`` (undecided) for any other kind of source."""
    for s in sources:
        if type(s) is not np.ndarray or s is result:
            return False
        base = s.base
        if base is not None and (base is result or type(base) is not np.ndarray):
            return False
    return True


#: Types of immutable arrays met by :func:`fresh` (JAX's, found on first use).
_IMMUTABLE_TYPES: set[type] = set()


def _is_one_of(result: Any, sources: tuple[Any, ...]) -> bool:
    # a loop, not any(<generator>): this runs on every quick JAX call
    for s in sources:  # noqa: SIM110
        if result is s:
            return True
    return False
