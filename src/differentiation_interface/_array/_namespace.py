"""Namespaces, devices, dtypes and array specs, without importing any engine.

Everything here is keyed on ``type(a)`` or on a dtype and cached, because it sits on the hot
path of every prepared call: ``array_namespace`` costs over ten times a dict lookup.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType
from typing import Any, NamedTuple

import array_api_compat as aac
import numpy as np

from ._dtensor import is_dtensor
from ._dtensor import placement_of as dtensor_placement

__all__ = [
    "ArraySpec",
    "compat_namespace",
    "device_of",
    "dtype_in",
    "dtype_name",
    "eps_of",
    "is_array",
    "is_complex_dtype",
    "is_eager_and_writable",
    "is_floating_dtype",
    "is_jax_namespace",
    "is_numpy_namespace",
    "is_strict_namespace",
    "is_torch_namespace",
    "is_writable",
    "namespace_name",
    "namespace_of",
    "placement",
    "real_dtype",
    "same_values",
    "spec_accepts",
    "spec_of",
    "spec_traced",
]

_lock = threading.Lock()
_namespace_by_type: dict[type, ModuleType] = {}
_floating_by_dtype: dict[tuple[int, Any], tuple[bool, bool]] = {}

# numpy >= 2.1 implements the Array API in its main namespace (concat, astype, unstack,
# device= ...); using it directly for the library's own work on numpy arrays is cheaper per
# call than the array-api-compat wrapper, which adds a Python layer to each function.
_NUMPY_IS_ARRAY_API = tuple(int(p) for p in np.__version__.split(".")[:2]) >= (2, 1)
if _NUMPY_IS_ARRAY_API:
    _namespace_by_type[np.ndarray] = np


def is_array(a: object) -> bool:
    """Whether ``a`` is an array of any namespace array-api-compat knows (no import)."""
    return type(a) in _namespace_by_type or bool(aac.is_array_api_obj(a))


def namespace_of(a: object) -> ModuleType:
    """The Array-API namespace of ``a`` (array-api-compat's wrapper where one exists).

    The namespace of an array depends only on its type, so it is cached per type. numpy
    arrays get numpy itself when it implements the standard (numpy >= 2.1).
    """
    t = type(a)
    xp = _namespace_by_type.get(t)
    if xp is None:
        xp = np if _NUMPY_IS_ARRAY_API and isinstance(a, np.generic) else aac.array_namespace(a)
        with _lock:
            _namespace_by_type[t] = xp
    return xp


def device_of(a: Any) -> Any:
    """The device of ``a``; ``"cpu"`` for numpy, ``None`` for JAX tracers, the mesh and
    placements (:class:`~._dtensor.DTensorPlacement`) for a torch DTensor."""
    if type(a) is np.ndarray:
        return "cpu"
    if is_dtensor(a):
        return dtensor_placement(a)
    return aac.device(a)


#: The dtypes the Array API standard names (what a namespace exposes as ``xp.<name>``).
DTYPE_NAMES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "complex64",
    "complex128",
)


def placement(a: Any) -> Any:
    """Where ``a`` lives, in a form that is cheap to get and compare: ``None`` for numpy
    (always the CPU), the sharding for JAX arrays (an attribute read, many times cheaper
    than ``array_api_compat.device``), the device otherwise."""
    if type(a) is np.ndarray:
        return None
    sharding = getattr(a, "sharding", None)  # only JAX arrays have one
    if sharding is not None:
        return sharding
    device = getattr(a, "device", None)  # torch, CuPy, array-api-strict: an attribute read
    return device if device is not None and not callable(device) else device_of(a)


def compat_namespace(library: str) -> ModuleType:
    """The Array-API namespace of ``"torch"``, ``"dask"``, ``"cupy"``, ``"numpy"`` (wrapped by
    array-api-compat) or ``"jax"`` (``jax.numpy``, compliant itself). Imports that library:
    for tools choosing a namespace by name (the command line), not for the hot path."""
    if library == "jax":
        return importlib.import_module("jax.numpy")
    module = {"dask": "dask.array"}.get(library, library)
    return importlib.import_module(f"array_api_compat.{module}")


def cuda_device(library: str) -> Any:
    """The first CUDA device of ``"cupy"``, ``"torch"`` or ``"jax"`` (that library's own
    device object), or ``None`` where the library, its driver or a device is missing.
    Imports the library: for tools choosing where to run (the command line, the
    conformance grid), not for the hot path."""
    try:
        if library == "cupy":
            cupy = importlib.import_module("cupy")
            return cupy.cuda.Device(0) if cupy.cuda.runtime.getDeviceCount() > 0 else None
        if library == "torch":
            torch = importlib.import_module("torch")
            return torch.device("cuda", 0) if torch.cuda.is_available() else None
        if library == "jax":
            devices = importlib.import_module("jax").devices("gpu")
            return devices[0] if devices else None
    except Exception:  # noqa: BLE001 - not installed, no driver, no device: none here
        return None
    return None


def is_writable(a: Any) -> bool:
    """Whether ``a`` can be written by index (not a JAX array, not read-only numpy)."""
    return bool(aac.is_writeable_array(a))


def is_eager_and_writable(a: Any) -> bool:
    """Whether ``a`` can be written by index with immediate effect (not JAX, not dask, not a
    torch ``meta`` tensor, which holds no values)."""
    if not aac.is_writeable_array(a) or aac.is_lazy_array(a):
        return False
    return getattr(getattr(a, "device", None), "type", None) != "meta"


def namespace_name(xp: ModuleType) -> str:
    """Short, user-facing name of a namespace, for error messages."""
    return xp.__name__.removeprefix("array_api_compat.").removesuffix(".array")


def is_numpy_namespace(xp: ModuleType) -> bool:
    """Whether ``xp`` is numpy (plain or wrapped)."""
    return bool(aac.is_numpy_namespace(xp))


def is_jax_namespace(xp: ModuleType) -> bool:
    """Whether ``xp`` is ``jax.numpy``."""
    return bool(aac.is_jax_namespace(xp))


def is_strict_namespace(xp: ModuleType) -> bool:
    """Whether ``xp`` is array-api-strict."""
    return bool(aac.is_array_api_strict_namespace(xp))


def is_torch_namespace(xp: ModuleType) -> bool:
    """Whether ``xp`` is torch (plain or wrapped)."""
    return bool(aac.is_torch_namespace(xp))


def _dtype_kind(xp: ModuleType, dtype: Any) -> tuple[bool, bool]:
    key = (id(xp), dtype)
    kind = _floating_by_dtype.get(key)
    if kind is None:
        complex_ = bool(xp.isdtype(dtype, "complex floating"))
        kind = (complex_ or bool(xp.isdtype(dtype, "real floating")), complex_)
        with _lock:
            _floating_by_dtype[key] = kind
    return kind


def is_floating_dtype(xp: ModuleType, dtype: Any) -> bool:
    """Whether ``dtype`` is a real or complex floating dtype of ``xp``."""
    return _dtype_kind(xp, dtype)[0]


def is_complex_dtype(xp: ModuleType, dtype: Any) -> bool:
    """Whether ``dtype`` is a complex floating dtype of ``xp``."""
    return _dtype_kind(xp, dtype)[1]


def real_dtype(xp: ModuleType, dtype: Any) -> Any:
    """The real floating dtype matching ``dtype`` (``complex64 -> float32``), as a dtype of
    ``xp`` (``finfo(...).dtype`` is a string in the torch wrapper, so it is not used)."""
    if not is_complex_dtype(xp, dtype):
        return dtype
    return xp.float32 if dtype == xp.complex64 else xp.float64


def eps_of(xp: ModuleType, dtype: Any) -> float:
    """Machine epsilon of a floating dtype, as a Python float."""
    return float(xp.finfo(dtype).eps)


class ArraySpec(NamedTuple):
    """What preparation remembers of an array: type, shape, dtype and device."""

    type: type
    shape: tuple[int, ...]
    dtype: Any
    device: Any

    def describe(self) -> str:
        """Human-readable form for error messages."""
        namespace = _namespace_by_type.get(self.type)
        kind = namespace_name(namespace) if namespace is not None else self.type.__name__
        return f"{kind} array, shape {self.shape}, dtype {self.dtype}, device {self.device}"


def dtype_name(dtype: Any) -> str:
    """The standard name of a dtype of any namespace (``"float32"``): numpy and JAX dtypes
    have ``name``; torch's and array-api-strict's print as ``<module>.<name>``."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).rpartition(".")[2]


def dtype_in(xp: ModuleType, dtype: Any) -> Any:
    """The dtype of namespace ``xp`` with the same name as ``dtype`` (of another namespace)."""
    return getattr(xp, dtype_name(dtype))


def spec_of(a: Any) -> ArraySpec:
    """The :class:`ArraySpec` of an array."""
    return ArraySpec(type(a), tuple(a.shape), a.dtype, device_of(a))


def _jax_kind(t: type) -> str | None:
    """``"tracer"`` or ``"array"`` for JAX's array types, None for any other (no import)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    if issubclass(t, jax.core.Tracer):
        return "tracer"
    return "array" if issubclass(t, jax.Array) else None


def spec_traced(spec: ArraySpec) -> bool:
    """Whether ``spec`` describes a JAX tracer: an array that exists only while a caller's
    transformation traces its function."""
    return _jax_kind(spec.type) == "tracer"


def spec_accepts(expected: ArraySpec, given: ArraySpec) -> bool:
    """Whether an array described by ``given`` may stand where ``expected`` was seen.

    Equal specs always do. A JAX tracer (an array of a caller's ``jit``, ``vmap``, ``grad``
    or ``scan``) has a type of its own and no concrete device: it stands for a JAX array of
    the same shape and dtype, and a JAX array for it, since its placement is not known
    until the caller's program runs (what is known, shape and dtype, must match).
    """
    if expected == given:
        return True
    kinds = {_jax_kind(expected.type), _jax_kind(given.type)}
    if "tracer" not in kinds or None in kinds:  # first: dtypes of two namespaces may not
        return False  # even be compared (array-api-strict warns)
    return expected.shape == given.shape and expected.dtype == given.dtype


def same_values(a: Any, b: Any) -> bool:
    """Same shape and the same values element by element, NaN equal to NaN (both arrays of
    one namespace)."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    xp = namespace_of(a)
    same = xp.all((a == b) | (xp.isnan(a) & xp.isnan(b)))
    if _jax_kind(type(same)) == "tracer":  # concrete JAX arrays compared inside a caller's
        a, b = np.asarray(a), np.asarray(b)  # trace give a traced answer: ask the host
        same = np.all((a == b) | (np.isnan(a) & np.isnan(b)))
    return bool(same)
