"""What every JAX plan shares: how ``f`` and its contexts are traced, jitted and run.

Contexts
--------
Each context of ``f`` reaches the jitted function in one of three ways, decided once at
preparation from its value:

``traced``
    Arrays and Python floats/complex numbers are arguments of the jitted function, so a new
    ``Constant`` value of the same shape and dtype reuses the compiled code.
``static``
    Other hashable values (ints, strings, tuples, callables, ``None``) are static arguments:
    they may steer ``f``'s control flow or shapes; a new value compiles once more (and is then
    cached by ``jax.jit``).
``cache``
    ``Cache`` arrays are scratch space whose content is irrelevant. JAX cannot write into the
    caller's buffer, so the jitted function creates zeros of the same shape and dtype instead
    of transferring the buffer at every call.

Unhashable non-array values (lists, dicts of arrays) are traced as pytrees; JAX rejects them
if their leaves are not arrays or numbers.

Errors
------
A function JAX cannot trace (it calls numpy on a tracer, converts a traced value with
``float()``, branches on one, or writes into an array) raises
:class:`UntraceableFunctionError`, chained from JAX's own error, at preparation or at the
first call that traces again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import jax
import jax.numpy as jnp

from ..._array import chunking, is_array
from ...contexts import Cache, Context
from ...errors import UntraceableFunctionError
from .io import CallerIO

__all__ = [
    "CPU_DEFAULTS",
    "Layout",
    "basis",
    "basis_rows",
    "call_traced",
    "compiler_options",
    "constrain",
    "jit",
    "jit_with",
    "map_basis",
    "nested",
    "pull_basis",
    "push_basis",
    "refuses_defaults",
    "reraise",
]

TRACED, STATIC, CACHE = "traced", "static", "cache"


def untraceable(op: str, err: BaseException) -> UntraceableFunctionError:
    """The library's error for a JAX tracing failure of ``f`` in operator ``op``."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    hint = ""
    if "immutable" in str(err):
        hint = (
            " JAX arrays cannot be written in place: build new arrays instead, e.g. with "
            "array_api_extra.at(a)[i].set(v), and do not write into Cache buffers."
        )
    msg = (
        f"`{op}` with AutoJAX could not trace f: {type(err).__name__}: {first_line}. "
        "f must compute with the Array API namespace of its input "
        "(xp = array_api_compat.array_namespace(x)) or with jax.numpy: no numpy functions on "
        "x, no float()/int()/.item() or Python `if` on values computed from x, and no "
        "shapes that depend on values (x[x > 0]) under jit." + hint
    )
    return UntraceableFunctionError(msg)


def _is_untraceable(err: BaseException) -> bool:
    if isinstance(err, jax.errors.JAXTypeError | jax.errors.JAXIndexError):
        return True
    return isinstance(err, TypeError) and "JAX arrays are immutable" in str(err)


class Layout:
    """How each context of ``f`` reaches the jitted function (see the module docstring)."""

    __slots__ = ("caches", "kinds", "passthrough", "static")

    def __init__(self, contexts: Sequence[Context], io: CallerIO) -> None:
        kinds: list[tuple[str, Any]] = []
        for c in contexts:
            v = c.value
            if isinstance(c, Cache) and is_array(v):
                kinds.append((CACHE, (tuple(v.shape), io.dtype(v))))
            elif is_array(v) or isinstance(v, float | complex):
                kinds.append((TRACED, is_array(v)))
            elif _hashable(v):
                kinds.append((STATIC, None))
            else:
                kinds.append((TRACED, False))  # a pytree: JAX checks its leaves
        self.kinds = tuple(kinds)
        self.caches = any(k == CACHE for k, _ in kinds)
        dynamic = [k for k, _ in kinds if k != CACHE]
        #: positions of static values among the dynamic arguments
        self.static = tuple(i for i, k in enumerate(dynamic) if k == STATIC)
        #: whether a call's context values are the dynamic arguments as they are
        self.passthrough = not self.caches and (
            io.identity or not any(k == TRACED and arr for k, arr in kinds)
        )

    def dynamic(self, args: tuple[Any, ...], io: CallerIO) -> tuple[Any, ...]:
        """The values passed to the jitted function for these context values."""
        if self.passthrough and io.identity:
            return args
        out = []
        for (kind, info), v in zip(self.kinds, args, strict=True):
            if kind == CACHE:
                continue
            out.append(io.put(v) if kind == TRACED and info else v)
        return tuple(out)

    def full(self, dynamic: tuple[Any, ...]) -> tuple[Any, ...]:
        """Inside the trace: every argument of ``f``, with zeros standing for caches."""
        if not self.caches:
            return dynamic
        values = iter(dynamic)
        return tuple(
            jnp.zeros(info[0], dtype=info[1]) if kind == CACHE else next(values)
            for kind, info in self.kinds
        )


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


#: XLA options the engine compiles CPU programs with when the selector names none. XLA's
#: classic loop emitters compiled 30 programs (gradients, Jacobians, Hessians, hvps of 10
#: functions, n = 10 to 1e5; benchmarks/bench_jax_compiler_options.py) faster than its
#: default MLIR fusion emitters (compiling is a large part of a gradient's preparation) and
#: mostly ran them faster too, with bit-identical float64 results (figures in
#: docs/backends/jax.md). Plans whose programs measured slower opt out
#: (``JAXPlan.cpu_defaults``).
CPU_DEFAULTS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False}
_UNKNOWN_OPTION = "No such compile option"
_defaults_usable = True  # False once this JAX has refused CPU_DEFAULTS


def compiler_options(chosen: Any, jx: Any) -> dict[str, Any] | None:
    """The XLA options for programs running on ``jx``'s platform.

    ``chosen`` is ``AutoJAX.compiler_options``: a dict is used as it is; ``None`` gives
    :data:`CPU_DEFAULTS` on CPU (unless this JAX refused them) and nothing elsewhere.
    """
    if chosen is not None:
        return dict(chosen) or None
    if not _defaults_usable or isinstance(jx, jax.core.Tracer):
        return None  # a tracer: the enclosing jit compiles, with its own options
    devices: Any = jx.sharding.device_set if isinstance(jx, jax.Array) else None
    platform = next(iter(devices)).platform if devices else jax.default_backend()
    return CPU_DEFAULTS if platform == "cpu" else None


def refuses_defaults(err: BaseException, options: dict[str, Any] | None) -> bool:
    """Whether ``err`` is this JAX refusing :data:`CPU_DEFAULTS` (then never used again)."""
    global _defaults_usable  # noqa: PLW0603 - one fact about the installed JAX
    if options is not CPU_DEFAULTS or _UNKNOWN_OPTION not in str(err):
        return False
    _defaults_usable = False
    return True


def jit(
    fun: Callable[..., Any],
    lead: int,
    layout: Layout | None,
    sharding: Any,
    options: dict[str, Any] | None = None,
) -> Any:
    """``jax.jit(fun)`` for ``fun(*lead_arrays, *dynamic_contexts)``.

    Parameters
    ----------
    fun : callable
        The computation (returning an array or a tuple of results).
    lead : int
        Number of leading array arguments (``x``, and tangents or seeds).
    layout : Layout or None
        Where the static context arguments are (``None``: no context arguments).
    sharding : jax.sharding.Sharding or None
        ``out_shardings`` pinning results to ``x``'s device (see ``single_device_sharding``).
    options : dict or None
        XLA compiler options (see :func:`compiler_options`).
    """
    static = () if layout is None else tuple(lead + i for i in layout.static)
    settings: dict[str, Any] = {"static_argnums": static}
    if sharding is not None:
        settings["out_shardings"] = sharding
    return jit_with(fun, options, **settings)


def jit_with(fun: Callable[..., Any], options: dict[str, Any] | None, **settings: Any) -> Any:
    """``jax.jit(fun, compiler_options=options, **settings)``; no options on a JAX too old
    to take them (``compiler_options`` is newer than the oldest JAX supported).

    JAX refuses compiler options on a jit called inside another trace (a caller's
    ``jax.jit``, or a sparse program fusing the plan), so a jit with options carries its
    option-free twin as ``nested`` (see :func:`nested`).
    """
    global _defaults_usable  # noqa: PLW0603 - one fact about the installed JAX
    if options:
        try:
            jitted: Any = jax.jit(fun, compiler_options=options, **settings)
        except TypeError:
            if options is not CPU_DEFAULTS:
                raise
            _defaults_usable = False
        else:
            jitted.nested = jax.jit(fun, **settings)
            return jitted
    return jax.jit(fun, **settings)


def nested(jitted: Any, err: ValueError) -> Any:
    """``jitted``'s option-free twin if ``err`` is JAX refusing its options under a trace;
    else raise ``err``. Only the rare traced call pays the failed attempt."""
    twin = getattr(jitted, "nested", None)
    if twin is None or "compiler_options" not in str(err):
        raise err
    return twin


def compiled_call(jitted: Any, *args: Any) -> Any:
    """The C++ entry point of ``jitted``'s executable for these arguments, or None.

    ``jitted.lower(*args).compile()`` finds the executable a call has compiled already
    (once, at preparation: it costs far more than a call), and the ``Compiled`` object's
    C++ callable runs it as fast as ``jitted`` itself while checking each argument's type,
    shape, dtype and sharding in C++: a mismatch raises ``TypeError`` or ``ValueError``
    instead of tracing again. It runs in the precision it was compiled in, whatever the
    calling thread's 64-bit mode. The entry point is built without running the computation
    again (``Compiled`` builds it on its first call); the attributes this takes are private,
    so anything unexpected gives None, and the plan keeps its Python path.
    """
    try:
        compiled = jitted.lower(*args).compile()
        call = compiled._executable.create_cpp_call(compiled._params)
    except Exception:  # noqa: BLE001 - any failure only means "no express closure"
        return None
    return call if type(call).__name__ == "PjitFunction" else None


def constrain(a: Any, sharding: Any) -> Any:
    """Inside a trace: ``a`` laid out by ``sharding`` (a multi-device sharding of the
    caller's ``x`` or ``f(x)``). Meshes with explicit axes carry shardings in the types
    (``jax.sharding.reshard``); others take a constraint the compiler propagates."""
    mesh = getattr(sharding, "mesh", None)
    explicit = getattr(jax.sharding.AxisType, "Explicit", None)
    if explicit is not None and explicit in getattr(mesh, "axis_types", ()):
        return jax.sharding.reshard(a, sharding)  # type: ignore[no-untyped-call]
    return jax.lax.with_sharding_constraint(a, sharding)  # type: ignore[no-untyped-call]


def reraise(op: str, err: TypeError | IndexError) -> NoReturn:
    """Raise the library's error for an untraceable ``f``, or ``err`` itself otherwise."""
    if _is_untraceable(err):
        raise untraceable(op, err) from err
    raise err


def call_traced(op: str, fun: Callable[..., Any], *args: Any) -> Any:
    """``fun(*args)`` (an eager JAX transformation at preparation) with error translation."""
    try:
        return fun(*args)
    except (TypeError, IndexError) as err:
        reraise(op, err)


def basis(shape: tuple[int, ...], dtype: Any, *, imaginary: bool = False) -> Any:
    """Inside a trace: the ``n`` basis vectors of arrays of ``shape``, ``(n, *shape)``.

    With ``imaginary=True`` the ``2n`` seeds ``e_k`` then ``1j * e_k`` (complex inputs).
    Only for bases that fit one batch (see :func:`map_basis`).
    """
    n = math.prod(shape)
    eye = jnp.eye(n, dtype=dtype)
    if imaginary:
        eye = jnp.concatenate([eye, eye * 1j])
    return jnp.reshape(eye, (eye.shape[0], *shape))


def basis_rows(shape: tuple[int, ...], dtype: Any, start: Any, count: int, imaginary: bool) -> Any:
    """Inside a trace: seeds ``start .. start + count - 1`` of :func:`basis`, ``(count, *shape)``.

    ``start`` may be traced (a loop counter): each row is a one-hot comparison of iotas, so
    a chunk costs ``count * n`` and the whole basis never exists. Seeds past the end are
    zeros (their pushforwards are zeros, dropped by the caller).
    """
    n = math.prod(shape)
    index = start + jax.lax.iota(jnp.int32, count)
    position = jnp.where(index >= n, index - n, index) if imaginary else index
    rows = (position[:, None] == jax.lax.iota(jnp.int32, n)[None, :]).astype(dtype)
    if imaginary:  # rows n .. 2n - 1 are 1j * e_k
        rows = rows * jnp.where(index >= n, 1j, 1.0).astype(dtype)[:, None]
    return jnp.reshape(rows, (count, *shape))


def map_basis(
    apply: Callable[[Any], Any],
    shape: tuple[int, ...],
    dtype: Any,
    batch: int,
    *,
    imaginary: bool = False,
) -> Any:
    """``apply(seeds)`` over every seed of :func:`basis`, results stacked along axis 0.

    ``apply`` maps stacked seeds ``(k, *shape)`` to stacked results ``(k, ...)``. A basis
    that fits one batch is applied at once; a larger one in ``lax.map`` over balanced chunks
    of at most ``batch`` seeds, each chunk built inside the loop (:func:`basis_rows`), so the
    program holds ``batch * n`` seeds, never ``n * n`` (``2**17`` float64 inputs would
    otherwise ask XLA for 137 GB).
    """
    n = math.prod(shape)
    count = 2 * n if imaginary else n
    if count <= batch:
        return apply(basis(shape, dtype, imaginary=imaginary))
    size, nchunks = chunking(count, batch)
    starts = jnp.arange(nchunks, dtype=jnp.int32) * size

    def chunk(start: Any) -> Any:
        return apply(basis_rows(shape, dtype, start, size, imaginary))

    stacked = jax.lax.map(chunk, starts)  # (nchunks, size, ...)
    return jnp.reshape(stacked, (nchunks * size, *stacked.shape[2:]))[:count]


def push_basis(
    g: Callable[[Any], Any],
    x: Any,
    shape: tuple[int, ...],
    dtype: Any,
    batch: int,
    out_axis: int,
    *,
    imaginary: bool = False,
) -> tuple[Any, Any]:
    """``(g(x), tangents)``: the pushforwards of every seed of the basis of ``x`` (of
    ``shape`` and ``dtype``, see :func:`basis`) stacked along ``out_axis``.

    A basis that fits one batch is pushed in one ``vmap`` (what ``jax.jacfwd`` does); a
    larger one is linearized once and mapped in chunks (:func:`map_basis`), so that memory
    stays ``O(n * batch)``.
    """
    n = math.prod(shape)
    if (2 * n if imaginary else n) <= batch:
        seeds = basis(shape, dtype, imaginary=imaginary)
        return jax.vmap(lambda t: jax.jvp(g, (x,), (t,)), out_axes=(None, out_axis))(seeds)
    y, lin = jax.linearize(g, x)
    tangents = map_basis(jax.vmap(lin), shape, dtype, batch, imaginary=imaginary)
    return y, jnp.moveaxis(tangents, 0, out_axis)


def pull_basis(
    pullback: Callable[[Any], Any],
    shape: tuple[int, ...],
    dtype: Any,
    batch: int,
    *,
    imaginary: bool = False,
) -> Any:
    """The pullbacks of every seed of the basis of ``f(x)`` (``shape``, ``dtype``), stacked
    along axis 0 (``vmap``, or chunks built inside ``lax.map``: :func:`map_basis`)."""
    return map_basis(jax.vmap(pullback), shape, dtype, batch, imaginary=imaginary)
