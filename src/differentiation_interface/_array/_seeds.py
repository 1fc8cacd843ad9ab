"""Basis seeds and batching: the directions along which derivatives are probed.

Seeds are built with ``xp.eye(rows, n, k=offset)`` on the caller's device and dtype, so a
chunk of ``B`` basis vectors costs ``B * n`` memory, never ``n * n``, and nothing is ever
written into an array by index (which JAX forbids and which fails across devices).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ._namespace import is_jax_namespace

__all__ = [
    "MAX_STACK_ELEMENTS",
    "basis_chunk",
    "chunking",
    "element_setters",
    "rows",
    "stack",
    "stack_elements",
    "unstack",
    "vectorizer",
]

#: Largest number of elements a batch of stacked seeds or evaluation points may hold in host
#: memory (4 Mi elements, 32 MiB in float64); larger batches are split into chunks. On a
#: CUDA device the budget follows its free memory instead (:func:`stack_elements`).
MAX_STACK_ELEMENTS = 2**22

#: The share of a CUDA device's free memory one stacked batch may take (its inputs; the
#: outputs and f's temporaries take about as much again).
_DEVICE_SHARE = 8


def stack_elements(like: Any) -> int:
    """Most elements one stacked batch of arrays like ``like`` may hold: :data:`MAX_STACK_
    ELEMENTS` in host memory; on a CUDA device (CuPy, torch, JAX) an eighth of the memory
    free there when asked, and never less than in host memory. Read at preparation: a GPU
    evaluates a batchable ``f`` on many stacked points in one call where a CPU-sized chunk
    would take several."""
    free = _free_device_bytes(like)
    if free is None:
        return MAX_STACK_ELEMENTS
    itemsize = int(getattr(getattr(like, "dtype", None), "itemsize", 8) or 8)
    return max(MAX_STACK_ELEMENTS, free // (_DEVICE_SHARE * itemsize))


def _free_device_bytes(like: Any) -> int | None:
    """Free bytes on ``like``'s CUDA device, or ``None`` in host memory (or unknown)."""
    module = type(like).__module__.partition(".")[0]
    try:
        if module == "cupy":
            with like.device:
                free, _ = sys.modules["cupy"].cuda.runtime.memGetInfo()
            return int(free)
        if module == "torch" and like.device.type == "cuda":
            free, _ = sys.modules["torch"].cuda.mem_get_info(like.device)
            return int(free)
        if module.startswith("jax"):
            devices = like.devices()
            if len(devices) != 1:
                return None
            (device,) = devices
            if device.platform not in ("gpu", "cuda", "rocm"):
                return None
            stats = device.memory_stats() or {}
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    except Exception:  # noqa: BLE001 - a tracer, an unknown runtime: the host budget
        return None
    return None


def chunking(n: int, max_batch: int) -> tuple[int, int]:
    """Split ``n`` directions into ``(batch, nchunks)`` equal chunks of at most ``max_batch``.

    Chunks are balanced (``n=2000, max_batch=524`` gives 4 chunks of 500), so padding the
    last chunk wastes at most ``nchunks - 1`` directions.
    """
    if n == 0:
        return 0, 0
    nchunks = math.ceil(n / max(1, min(max_batch, n)))
    return math.ceil(n / nchunks), nchunks


def basis_chunk(
    xp: ModuleType,
    shape: tuple[int, ...],
    start: int,
    count: int,
    dtype: Any,
    device: Any,
    *,
    imaginary: bool = False,
) -> Any:
    """Basis vectors ``start, ..., start + count - 1`` (wrapping around), ``(count, *shape)``.

    With ``imaginary=True`` the seeds are ``1j * e_k`` (for complex inputs).
    """
    n = math.prod(shape)
    head = min(count, n - start)
    rows = xp.eye(head, n, k=start, dtype=dtype, device=device)
    if head < count:  # pad the last chunk by wrapping around, so every chunk has one shape
        rows = xp.concat([rows, xp.eye(count - head, n, k=0, dtype=dtype, device=device)])
    if imaginary:
        rows = rows * 1j
    return xp.reshape(rows, (count, *shape))


#: Most arrays that :func:`stack` and :func:`unstack` move through one compiled JAX program
#: (one program per count and shape; beyond this, compiling would cost more than it saves).
_JAX_PROGRAM_MAX = 64


@functools.cache
def _jax_programs() -> tuple[Callable[..., Any], Callable[[Any], tuple[Any, ...]], Any]:
    """Stacking and splitting along a new leading axis as compiled JAX programs.

    Eagerly, ``jnp.stack`` of one array costs 25 µs and ``s[i, ...]`` 60 µs per entry
    (three entries: 250 µs); compiled, either is one dispatch of 5-7 µs (measured on this
    project's CPU). Precision follows the arrays (a float64 array stays float64). The third
    program takes the only entry of a batch of one out of a buffer it may reuse (donated):
    no copy (0.2 ms instead of 0.6 for 8 MB).
    """
    jax, jnp = sys.modules["jax"], sys.modules["jax.numpy"]
    lead = jax.jit(lambda *arrays: jnp.stack(arrays))
    split = jax.jit(lambda s: tuple(s[i] for i in range(s.shape[0])))
    only = jax.jit(lambda s: s[0], donate_argnums=0)
    return lead, split, only


def _jax_compiled(a: Any, count: int) -> bool:
    """Whether :func:`_jax_programs` serve ``count`` arrays like ``a``: a JAX array on one
    device, or a tracer (inside a trace a compiled program is inlined like any operation);
    sharded arrays keep their operations' own placement rules."""
    jax = sys.modules.get("jax")
    if jax is None or not 0 < count <= _JAX_PROGRAM_MAX:
        return False
    if isinstance(a, jax.core.Tracer):
        return True
    return isinstance(getattr(a, "sharding", None), jax.sharding.SingleDeviceSharding)


def stack(xp: ModuleType, arrays: tuple[Any, ...] | list[Any]) -> Any:
    """Stack same-shaped arrays along a new leading axis.

    numpy outputs of ``f`` are often numpy scalars, which ``np.stack`` converts one by one;
    ``np.asarray`` of the list is much faster for them and gives the same array. JAX arrays
    go through one compiled program (:func:`_jax_programs`).
    """
    if xp is np and arrays and isinstance(arrays[0], np.generic | np.ndarray):
        return np.asarray(arrays)
    if arrays and is_jax_namespace(xp) and _jax_compiled(arrays[0], len(arrays)):
        return _jax_programs()[0](*arrays)
    return xp.stack(list(arrays), axis=0)


def rows(xp: ModuleType, stacked: Any) -> Any:
    """Iterate over the entries of ``stacked`` along its leading axis (views where possible)."""
    if isinstance(stacked, np.ndarray):
        return iter(stacked)
    return (stacked[k, ...] for k in range(stacked.shape[0]))


def unstack(stacked: Any, count: int | None = None, *, owned: bool = False) -> tuple[Any, ...]:
    """Split a stacked array along its leading axis (the first ``count`` entries); JAX
    arrays through one compiled program (:func:`_jax_programs`).

    ``owned``: nobody else holds ``stacked`` (an engine's fresh result), so a JAX batch of
    one may give its buffer to the entry (``stacked`` is deleted).
    """
    size = stacked.shape[0]
    count = size if count is None else count
    if type(stacked) is not np.ndarray and _jax_compiled(stacked, size):
        programs = _jax_programs()
        if owned and size == 1 and not isinstance(stacked, sys.modules["jax"].core.Tracer):
            return (programs[2](stacked),)
        parts = programs[1](stacked)
        return parts if count == size else parts[:count]
    return tuple(stacked[i, ...] for i in range(count))


def vectorizer(xp: ModuleType) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]] | None:
    """The namespace's own map over a leading axis that traces a function once, or ``None``.

    For JAX, ``jax.vmap``: a function written for one point then evaluates stacked points
    in one call, and inside a caller's trace (``jax.jit``) it appears once in the program
    instead of once per point (a Python loop would unroll, and XLA's compile time grows
    faster than the program). Other namespaces have none the library relies on (torch's
    ``vmap`` warns and loops on operations without batching rules).
    """
    if is_jax_namespace(xp):
        return sys.modules["jax"].vmap  # type: ignore[no-any-return]
    return None


def element_setters(buffer: Any) -> list[Callable[[Any], Any]] | None:
    """One setter per element of a contiguous plain torch tensor (C order): the ``copy_`` of
    a 0-d view of that element, made once. ``None`` for other arrays (written by index).

    A coordinate sweep writes two elements per evaluation of ``f``; through a kept view a
    write is one ``copy_`` (0.8 µs on this project's CPU) where ``buffer[index] = value``
    goes through torch's indexing (2 µs). Values may be 0-d tensors on the buffer's
    device: nothing is read back to the host.
    """
    torch = sys.modules.get("torch")
    if torch is None or type(buffer) is not torch.Tensor or not buffer.is_contiguous():
        return None
    return [cell.copy_ for cell in buffer.view(-1).unbind()]
