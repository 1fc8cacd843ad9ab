"""How the caller's arrays reach a jitted JAX function, and how results go back.

Plans receive arrays of the caller's namespace. Each namespace has its cheapest safe route
into JAX (measured on CPU in ``docs/backends/jax.md``):

* **numpy** is passed straight to the jitted callable, whose C++ dispatch copies it;
  ``jnp.asarray`` and ``jax.device_put`` are several times slower because numpy buffers are
  rarely 64-byte aligned, so neither can alias them. Results come back with ``np.array`` (a
  copy: a numpy view of a JAX buffer is read-only).
* **JAX** arrays go in and come out as they are (immutable, so sharing is unobservable).
* **JAX tracers** (a plan called inside another JAX transformation, as second-order
  compositions do) are handled like JAX arrays, without any device placement.
* **other host arrays** (array-api-strict on any device, torch on CPU, dask) go through a
  zero-copy numpy view (``to_numpy``) and come back through ``from_numpy`` of a fresh copy;
  torch ``bfloat16``, which numpy lacks (JAX has it), goes both ways through DLPack instead.
* **torch ``meta`` tensors** have no values to compute with: refused with
  :class:`~differentiation_interface.UnsupportedOperationError` before anything runs.
* **accelerator arrays** (CuPy, torch on CUDA) go through DLPack both ways and are copied on
  the way back, since the exported buffer is JAX's.

Entering JAX's 64-bit mode is not this module's business: see
:mod:`differentiation_interface._array._precision`.

The adapter has the name and vocabulary every engine computing outside the caller's
namespace shares (``io.py`` of the torch and autograd engines): :class:`CallerIO`, whose
``put`` takes a caller array to the engine and ``back`` brings results to fresh arrays of the
caller's namespace and device. Here one subclass per kind of caller array is picked once,
at preparation (:func:`io_for`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..._array import (
    convert,
    device_of,
    from_numpy,
    namespace_of,
    refuse_extended,
    refuse_foreign,
    refuse_meta,
    to_numpy,
)

__all__ = ["CallerIO", "io_for", "single_device_sharding"]

_HOST_DLPACK_DEVICES = (1, 3)  # kDLCPU, kDLCUDAHost: memory numpy can view


def single_device_sharding(x: Any) -> Any:
    """The sharding that pins results to a committed JAX ``x``'s device, or ``None``.

    JAX places derivatives that do not depend on ``x`` (the gradient of ``sum(x)``) on the
    *default* device even when ``x`` lives elsewhere; compiling with ``out_shardings`` set to
    this keeps every result on ``x``'s device at no cost per call. Uncommitted arrays live on
    the default device already, and multi-device shardings are left to JAX.
    """
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer) or not x.committed:
        return None
    devices = x.sharding.device_set
    if len(devices) != 1:
        return None
    return jax.sharding.SingleDeviceSharding(next(iter(devices)))


class CallerIO:
    """The route between one kind of caller array and JAX (base class: JAX arrays).

    Attributes
    ----------
    kind : str
        ``"numpy"``, ``"jax"``, ``"tracer"``, ``"host"`` or ``"dlpack"``.
    identity : bool
        Whether :meth:`put` returns its argument unchanged (no per-argument work).
    """

    kind = "jax"
    identity = True

    def put(self, a: Any) -> Any:
        """``a`` as something a jitted JAX function accepts."""
        return a

    def back(self, outs: tuple[Any, ...], x: Any) -> tuple[Any, ...]:
        """Results (``None`` entries kept) as fresh arrays of ``x``'s namespace and device."""
        return outs

    def dtype(self, a: Any) -> Any:
        """The numpy dtype ``a`` has once in JAX (call inside the precision scope)."""
        return np.dtype(self.put(a).dtype)


class _NumpyIO(CallerIO):
    kind = "numpy"

    def __init__(self, device: Any) -> None:
        # numpy callers compute on the CPU: only when JAX's default device is an
        # accelerator does a numpy array need an explicit placement.
        self.device = device
        self.identity = device is None

    def put(self, a: Any) -> Any:
        return a if self.device is None else jax.device_put(a, self.device)

    def back(self, outs: tuple[Any, ...], x: Any) -> tuple[Any, ...]:
        if len(outs) == 2:  # (value or None, derivative): the hot path, unrolled
            y, d = outs
            return (None if y is None else np.array(y)), np.array(d)
        return tuple([None if o is None else np.array(o) for o in outs])

    def dtype(self, a: Any) -> Any:
        return np.dtype(jax.dtypes.canonicalize_dtype(a.dtype))


class _TracerIO(CallerIO):
    kind = "tracer"


class _HostIO(CallerIO):
    """array-api-strict, torch on CPU, dask and other arrays numpy can view.

    numpy has no ``bfloat16``; JAX has it (``jnp.bfloat16``), and DLPack carries it between
    torch and JAX without numpy, both ways.
    """

    kind = "host"
    identity = False

    def put(self, a: Any) -> Any:
        refuse_foreign(a, "jax", "AutoJAX")
        try:
            return to_numpy(a)
        except TypeError:  # a dtype numpy lacks (torch bfloat16): zero-copy, read only
            detach = getattr(a, "detach", None)
            return jnp.from_dlpack(detach() if detach is not None else a)

    def back(self, outs: tuple[Any, ...], x: Any) -> tuple[Any, ...]:
        xp, device = namespace_of(x), device_of(x)
        return tuple(None if o is None else _host_back(o, xp, device) for o in outs)

    def dtype(self, a: Any) -> Any:
        return np.dtype(jax.dtypes.canonicalize_dtype(self.put(a).dtype))


def _host_back(o: Any, xp: ModuleType, device: Any) -> Any:
    """A JAX result as a fresh host array of ``xp`` on ``device``."""
    if o.dtype == jnp.bfloat16:  # numpy has none: DLPack, then a copy off JAX's buffer
        return _copy(xp, xp.from_dlpack(o))
    return from_numpy(np.array(o), xp, device)


class _DLPackIO(CallerIO):
    """CuPy and torch on an accelerator: zero-copy import, copied export."""

    kind = "dlpack"
    identity = False

    def put(self, a: Any) -> Any:
        refuse_foreign(a, "jax", "AutoJAX")
        detach = getattr(a, "detach", None)  # torch tensors that require grad
        return jnp.from_dlpack(detach() if detach is not None else a)

    def back(self, outs: tuple[Any, ...], x: Any) -> tuple[Any, ...]:
        xp, device = namespace_of(x), device_of(x)
        return tuple(None if o is None else _copy(xp, convert(o, xp, device)) for o in outs)


def _copy(xp: ModuleType, a: Any) -> Any:
    return xp.asarray(a, copy=True)


_JAX_IO = CallerIO()
_TRACER_IO = _TracerIO()
_HOST_IO = _HostIO()
_DLPACK_IO = _DLPackIO()
_numpy_io: _NumpyIO | None = None


def _numpy() -> _NumpyIO:
    global _numpy_io  # noqa: PLW0603 - built once, on first use (needs JAX's device list)
    if _numpy_io is None:
        on_cpu = jax.devices()[0].platform == "cpu"
        _numpy_io = _NumpyIO(None if on_cpu else jax.devices("cpu")[0])
    return _numpy_io


def io_for(x: Any) -> CallerIO:
    """The route for arrays like ``x`` (x's contexts and tangents share its namespace)."""
    if type(x) is np.ndarray:
        refuse_extended(x, "AutoJAX()")
        return _numpy()
    if isinstance(x, jax.core.Tracer):
        return _TRACER_IO
    if isinstance(x, jax.Array):
        return _JAX_IO
    refuse_foreign(x, "jax", "AutoJAX")
    refuse_meta(x, "AutoJAX()")  # (before asking a meta tensor for its DLPack device)
    dlpack_device = getattr(x, "__dlpack_device__", None)
    if (
        dlpack_device is not None
        and dlpack_device()[0] not in _HOST_DLPACK_DEVICES
        and jax.default_backend() != "cpu"  # a CPU-only JAX takes accelerator arrays via host
    ):
        return _DLPACK_IO
    return _HOST_IO
