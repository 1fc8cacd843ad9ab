"""The JAX bridge: a function JAX cannot trace, made a set of JAX primitives.

Four primitives carry a :class:`~._rules.Rules` object (a static parameter):

* ``di_value``: ``f(x)``;
* ``di_pushforward``: ``J(x) t``, linear in ``t``, transposed into ``di_pullback``;
* ``di_pullback``: ``J(x)^T u``, linear in ``u``, transposed into ``di_pushforward``; its
  derivative in ``x`` is ``di_hvp``;
* ``di_hvp``: ``sum_i u_i H_i(x) dx``, linear in ``dx`` and self-adjoint (Hessians are
  symmetric), so ``jax.hessian`` and reverse-over-reverse work;
* ``di_pushforward2``: ``D^2 f(x)[t, dx]``, the derivative of ``di_pushforward`` in ``x``
  (forward over forward), transposed into ``di_hvp``. A third derivative raises.

So ``jax.grad`` costs one pullback of the backend, ``jax.jvp`` one pushforward, and vmapped
seeds (``jacfwd``, ``jacrev``, ``hessian``) one *batched* pushforward or pullback. Each
primitive has its own batching rule: vmapped operands are merged into one leading batch axis
(a parameter of the primitive says which operands carry it); a batched ``x`` is computed
point by point. Under ``jit`` the primitives lower to a host call (on the CPU this library's
own XLA FFI handler, :mod:`._xla_host`; elsewhere JAX's callback emitter); called eagerly
they run the backend directly on the arrays, converted through DLPack.

Primitives rather than ``jax.custom_jvp``/``custom_vjp``: a function has one or the other,
and a callback inside a custom JVP rule cannot be transposed; primitives give forward mode,
reverse mode and vmap, each at the cost of one backend call.
"""

from __future__ import annotations

import importlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._array import is_array, to_numpy
from ..errors import UnsupportedOperationError
from . import _xla_host
from ._rules import Rules, to_namespace

__all__ = ["call"]

_OPS = ("value", "pushforward", "pullback", "hvp", "pushforward2")
_N_SEEDS = {"value": 0, "pushforward": 1, "pullback": 1, "hvp": 2, "pushforward2": 2}


class _Static:
    """The non-array context values of one call: a primitive parameter hashed by identity."""

    __slots__ = ("args", "positions")

    def __init__(self, positions: tuple[int, ...], args: tuple[Any, ...]) -> None:
        self.positions, self.args = positions, args


def call(rules: Rules, x: Any, ctx: tuple[Any, ...]) -> Any:
    """``f(x, *ctx)`` for JAX ``x`` (a tracer or a concrete array), as the ``di_value``
    primitive."""
    positions = tuple(i for i, c in enumerate(ctx) if is_array(c) or _is_tracer(c))
    arrays = tuple(jnp.asarray(ctx[i]) for i in positions)
    static = _Static(positions, tuple(c for i, c in enumerate(ctx) if i not in positions))
    batched = (False,) * (1 + len(arrays))
    return _bind(
        _PRIMS["value"],
        jnp.asarray(x),
        *arrays,
        rules=rules,
        static=static,
        batched=batched,
        nbatch=0,
    )


def _bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    return prim.bind(*args, **params)  # type: ignore[no-untyped-call]


def _abstract_of(prim: Primitive, *avals: Any, **params: Any) -> Any:
    return prim.abstract_eval(*avals, **params)  # type: ignore[no-untyped-call]


def _is_tracer(a: Any) -> bool:
    return isinstance(a, jax.core.Tracer)


def _contexts(static: _Static, arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    if not static.positions and not static.args:
        return ()
    ctx: list[Any] = []
    given, other = iter(arrays), iter(static.args)
    for i in range(len(static.positions) + len(static.args)):
        ctx.append(next(given) if i in static.positions else next(other))
    return tuple(ctx)


# --- shapes --------------------------------------------------------------------------------


def _zeros(aval: Any) -> np.ndarray[Any, Any]:
    return np.zeros(aval.shape, dtype=np.dtype(aval.dtype))


def _value_aval(rules: Rules, static: _Static, x: Any, ctx: tuple[Any, ...]) -> Any:
    """The abstract value of ``f(x)`` for unbatched avals ``x`` and ``ctx``."""
    args = tuple(rules.here(_zeros(c)) for c in ctx)
    shape, dtype = rules.out_spec(rules.here(_zeros(x)), _contexts(static, args))
    name = str(dtype).rpartition(".")[2]
    return jax.core.ShapedArray(shape, jax.dtypes.canonicalize_dtype(np.dtype(name)))


def _strip(aval: Any, batched: bool) -> Any:
    return aval.update(shape=aval.shape[1:]) if batched else aval


def _abstract(op: str) -> Any:
    def abstract_eval(
        *avals: Any,
        rules: Rules,
        static: _Static,
        batched: tuple[bool, ...],
        nbatch: int,
        taped: bool = False,
    ) -> Any:
        if taped:
            avals = avals[:-1]
        base = [_strip(a, b) for a, b in zip(avals, batched, strict=True)]
        n = _N_SEEDS[op]
        if op in ("value", "pushforward", "pushforward2"):
            out = _value_aval(rules, static, base[0], tuple(base[1 + n :]))
        else:
            out = base[0]
        return out.update(shape=(nbatch, *out.shape)) if nbatch else out

    return abstract_eval


# --- computing on concrete arrays -----------------------------------------------------------


def _one(op: str, rules: Rules, x: Any, seeds: tuple[Any, ...], ctx: tuple[Any, ...]) -> Any:
    """One point, one seed (or none)."""
    if op == "value":
        return rules.value(x, ctx)
    if op == "pushforward":
        return rules.pushforward(x, ctx, seeds)[0]
    if op == "pullback":
        return rules.pullback(x, ctx, seeds)[0]
    if op == "pushforward2":
        return rules.second_pushforward(x, ctx, seeds[0], seeds[1:])[0]
    return rules.hvp(x, ctx, seeds[0], seeds[1:])[0]


def _batched_seeds(op: str, rules: Rules, x: Any, seeds: Any, ctx: tuple[Any, ...]) -> list[Any]:
    """One point, a batch of the last seed: one batched backend call."""
    *fixed, last = seeds
    stack = tuple(last[b] for b in range(last.shape[0]))
    if op == "pushforward":
        return list(rules.pushforward(x, ctx, stack))
    if op == "pullback":
        return list(rules.pullback(x, ctx, stack))
    if op == "pushforward2":
        return list(rules.second_pushforward(x, ctx, fixed[0], stack))
    return list(rules.hvp(x, ctx, fixed[0], stack))


def _compute(
    op: str,
    args: tuple[Any, ...],
    rules: Rules,
    static: _Static,
    batched: tuple[bool, ...],
    nbatch: int,
    taped: bool = False,
) -> Any:
    """The primitive's result on concrete arrays (numpy or JAX), as a list of rules-namespace
    arrays (one per batch element) or one array."""
    if taped and op == "pullback" and not nbatch:
        return _taped_pullback(rules, static, args)
    n = _N_SEEDS[op]
    if taped:  # the tape is of no use here: forward mode, or a batch of cotangents
        token, args = int(args[-1]), args[:-1]
        if token >= 0:
            rules.drop_tape(token)
    x, seeds, arrays = args[0], args[1 : 1 + n], args[1 + n :]
    if not nbatch:
        return _one(op, rules, x, seeds, _contexts(static, arrays))
    bx, bseeds, bctx = batched[0], batched[1 : 1 + n], batched[1 + n :]
    if not bx and not any(bctx) and n and bseeds[-1] and not any(bseeds[:-1]):
        return _batched_seeds(op, rules, x, seeds, _contexts(static, arrays))

    def pick(a: Any, flag: bool, b: int) -> Any:
        return a[b] if flag else a

    return [
        _one(
            op,
            rules,
            pick(x, bx, b),
            tuple(pick(s, f, b) for s, f in zip(seeds, bseeds, strict=True)),
            _contexts(static, tuple(pick(c, f, b) for c, f in zip(arrays, bctx, strict=True))),
        )
        for b in range(nbatch)
    ]


def _taped_pullback(rules: Rules, static: _Static, args: tuple[Any, ...]) -> Any:
    """``J(x)^T u`` from the tape of the forward pass: ``args = (x, u, *contexts, token)``
    (a token of -1, or a tape already dropped, recomputes)."""
    return rules.pullback_taped(args[0], _contexts(static, args[2:-1]), int(args[-1]), args[1])


def _host_array(a: Any, dtype: Any) -> np.ndarray[Any, Any]:
    return np.asarray(to_numpy(a), dtype=dtype)


def _host(op: str, params: dict[str, Any], dtype: Any, *args: Any) -> np.ndarray[Any, Any]:
    """The callback under ``jit``: numpy in, numpy out."""
    result = _compute(op, args, **params)
    if isinstance(result, list):
        return np.stack([_host_array(r, dtype) for r in result])
    return _host_array(result, dtype)


def _impl(op: str) -> Any:
    def impl(*args: Any, **params: Any) -> Any:
        aval = _abstract_of(_PRIMS[op], *(jax.typeof(a) for a in args), **params)[0]
        result = _compute(op, args, **params)
        if isinstance(result, list):
            return jnp.stack([_to_jax(r, aval.dtype) for r in result])
        return _to_jax(result, aval.dtype)

    return impl


def _to_jax(a: Any, dtype: Any) -> Any:
    out = to_namespace(a, jnp)
    return out if out.dtype == dtype else out.astype(dtype)


def _lowering(op: str) -> Any:
    """The lowering under ``jit``: a host call running :func:`_host` (see :func:`_emit_host`)."""

    def rule(ctx: Any, *operands: Any, **params: Any) -> Any:
        dtype = np.dtype(ctx.avals_out[0].dtype)
        if op == "pullback" and params.get("taped") and not params["nbatch"]:
            # a gradient's backward pass, straight to its rule (what _compute would choose;
            # its general dispatch measured 4-7 µs of a gradient at n = 10)
            rules, static = params["rules"], params["static"]

            def callback(*arrays: Any) -> tuple[Any, ...]:
                return (_host_array(_taped_pullback(rules, static, arrays), dtype),)

        else:

            def callback(*arrays: Any) -> tuple[Any, ...]:
                return (_host(op, params, dtype, *arrays),)

        return _emit_host(ctx, operands, callback)

    return rule


def _emit_host(ctx: Any, operands: Any, callback: Any) -> Any:
    """``callback`` (numpy arrays in, a tuple of arrays out) as a host call of the program
    ``ctx`` lowers.

    On the CPU, through this library's own XLA FFI handler (:mod:`._xla_host`: the buffers
    as they are, one copy of each result). Elsewhere, JAX's own
    host-callback emitter, which hands the callback the XLA buffers as numpy arrays;
    ``jax.pure_callback`` would first ``device_put`` them into JAX arrays (about 70 µs per
    call on a CPU core), so it is the last resort, for a JAX without that emitter.
    """
    lowered = _xla_host.lower(ctx, operands, callback)
    if lowered is not None:
        return lowered
    emit = getattr(importlib.import_module("jax._src.callback"), "emit_python_callback", None)
    if emit is None:
        spec = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ctx.avals_out]  # type: ignore[no-untyped-call]
        lowered = mlir.lower_fun(
            lambda *a: jax.pure_callback(callback, spec, *a, vmap_method="sequential"),
            multiple_results=True,
        )
        return lowered(ctx, *operands)
    result, _, _ = emit(
        ctx,
        callback,
        None,
        list(operands),
        ctx.avals_in,
        ctx.avals_out,
        has_side_effect=False,
        returns_token=False,
    )
    return result


# --- differentiation ------------------------------------------------------------------------


def _instantiate(t: Any) -> Any:
    return ad.instantiate_zeros(t) if type(t) is ad.Zero else t  # type: ignore[no-untyped-call]


def _zero_like(value: Any) -> Any:
    """The symbolic zero tangent of ``value``."""
    return ad.Zero(jax.typeof(value).to_tangent_aval())


def _refuse(op: str, what: str) -> None:
    msg = (
        f"di.DifferentiateWith: JAX asked for {what} of the backend's {op}, a derivative of "
        "higher order than the bridge provides (first derivatives, and the second derivative "
        "of a gradient: jax.grad, jax.jvp, jax.vmap, jax.hessian, jax.jacrev and jax.jacfwd "
        "of a gradient). Use the backend itself for this derivative, e.g. di.hessian."
    )
    raise UnsupportedOperationError(msg)


def _check_contexts(op: str, tangents: tuple[Any, ...]) -> None:
    if any(type(t) is not ad.Zero for t in tangents):
        msg = (
            "di.DifferentiateWith differentiates with respect to x only; a context argument "
            "received a JAX tangent. Make it part of x to differentiate with respect to it."
        )
        raise UnsupportedOperationError(msg)


def _jvp(op: str) -> Any:
    n = _N_SEEDS[op]

    def jvp(primals: Any, tangents: Any, **params: Any) -> Any:
        if params.get("taped"):  # a derivative of a taped call: recompute, untaped
            primals, tangents = primals[:-1], tangents[:-1]
            params = {**params, "taped": False}
        tape = params.pop("tape", True)
        if tape and op == "value" and not params["nbatch"] and _tapeable(primals[0], params):
            return _taped_jvp(primals, tangents, params)
        out = _bind(_PRIMS[op], *primals, **params)
        x, seeds, ctx = primals[0], primals[1 : 1 + n], primals[1 + n :]
        dx, dseeds = tangents[0], tangents[1 : 1 + n]
        _check_contexts(op, tangents[1 + n :])
        batched = params["batched"]
        terms = []
        # the part linear in each seed: the same primitive with that seed's tangent
        for i, ds in enumerate(dseeds):
            if type(ds) is not ad.Zero:
                new = list(primals)
                new[1 + i] = ds
                terms.append(_bind(_PRIMS[op], *new, **params))
        if type(dx) is not ad.Zero:
            if op == "value":
                terms.append(_bind(_PRIMS["pushforward"], x, dx, *ctx, **_with(params, 1)))
            elif op in ("pullback", "pushforward"):
                flags = (batched[0], batched[1], batched[0], *batched[2:])
                new_params = {**params, "batched": flags}
                second = "hvp" if op == "pullback" else "pushforward2"
                terms.append(_bind(_PRIMS[second], x, seeds[0], dx, *ctx, **new_params))
            else:
                _refuse(op, "a derivative with respect to x")
        if not terms:
            return out, _zero_like(out)
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return out, total

    return jvp


def _tapeable(x: Any, params: dict[str, Any]) -> bool:
    """Whether reverse mode may keep ``f``'s forward pass: a backend that can, and ``x``
    concrete or traced by ``jit`` only. (Under an outer ``jvp`` or ``vmap`` the taped
    primitive falls back to the untaped rules: see ``_value_taped_jvp``.)"""
    return bool(params["rules"].tapes_allowed) and (
        not _is_tracer(x) or type(x).__name__ == "DynamicJaxprTracer"
    )


def _taped_jvp(primals: Any, tangents: Any, params: dict[str, Any]) -> Any:
    """``value``'s JVP whose forward pass keeps a tape for the transposed pushforward."""
    x, ctx = primals[0], primals[1:]
    _check_contexts("value", tangents[1:])
    out, token = _bind(_VALUE_TAPED, *primals, **params)
    dx = tangents[0]
    if type(dx) is ad.Zero:
        return out, _zero_like(out)
    push = {**_with(params, 1), "taped": True}
    return out, _bind(_PRIMS["pushforward"], x, dx, *ctx, token, **push)


def _no_token() -> Any:
    return jnp.asarray(-1, dtype=jnp.int32)


def _value_taped_jvp(primals: Any, tangents: Any, **params: Any) -> Any:
    """Differentiated again (an outer ``jvp``): the untaped value's rule, and no tape."""
    out, tangent = _jvp("value")(primals, tangents, **params, tape=False)
    token = _no_token()
    return [out, token], [tangent, _zero_like(token)]


def _value_taped_batch(args: Any, dims: Any, **params: Any) -> Any:
    """Vmapped (an outer ``vmap``): the untaped value, batched, and no tape."""
    out, dim = _batch("value")(args, dims, **params)
    return [out, _no_token()], [dim, None]


def _value_taped_abstract(*avals: Any, **params: Any) -> Any:
    y = _abstract("value")(*avals, **params)
    return [y, jax.core.ShapedArray((), np.dtype(np.int32))]


def _value_taped_host(rules: Rules, static: _Static, dtype: Any, *args: Any) -> Any:
    y, token = rules.value_and_tape(args[0], _contexts(static, args[1:]))
    return y, np.asarray(token, dtype=np.int32)


def _value_taped_impl(*args: Any, rules: Rules, static: _Static, **_: Any) -> Any:
    y, token = _value_taped_host(rules, static, None, *args)
    aval = _abstract("value")(
        *(jax.typeof(a) for a in args),
        rules=rules,
        static=static,
        batched=(False,) * len(args),
        nbatch=0,
    )
    return [_to_jax(y, aval.dtype), jnp.asarray(token)]


def _value_taped_lowering(ctx: Any, *operands: Any, rules: Rules, static: _Static, **_: Any) -> Any:
    dtype = np.dtype(ctx.avals_out[0].dtype)

    def callback(*arrays: Any) -> tuple[Any, ...]:
        y, token = _value_taped_host(rules, static, dtype, *arrays)
        return _host_array(y, dtype), token

    return _emit_host(ctx, operands, callback)


def _with(params: dict[str, Any], extra: int) -> dict[str, Any]:
    """``value`` params for ``pushforward``: the tangent is batched like ``x``."""
    b = params["batched"]
    return {**params, "batched": (b[0], *(b[0],) * extra, *b[1:])}


def _transpose(op: str) -> Any:
    def transpose(ct: Any, *args: Any, **params: Any) -> Any:
        n = _N_SEEDS[op]
        token = None
        if params.get("taped"):
            token, args = args[-1], args[:-1]
            params = {**params, "taped": False}
        undefined = [ad.is_undefined_primal(a) for a in args]  # type: ignore[no-untyped-call]
        if undefined[0] or any(undefined[1 + n :]) or sum(undefined) != 1:
            _refuse(op, "a transpose with respect to x")
        i = undefined.index(True)
        if op == "hvp" and i != 2:
            _refuse(op, "a transpose with respect to the cotangent")
        ct = _instantiate(ct)
        new = list(args)
        flags = list(params["batched"])
        nbatch = params["nbatch"]
        if op == "pushforward2":
            # D^2 f[t, dx] is symmetric in (t, dx); its transpose in either is sum_i ct_i H_i s
            # for the other seed s: a Hessian-vector product with cotangent ct.
            other = 3 - i
            new = [args[0], ct, args[other], *args[3:]]
            flags = [flags[0], bool(nbatch), flags[other], *flags[3:]]
            target = "hvp"
        else:
            target = {"pushforward": "pullback", "pullback": "pushforward", "hvp": "hvp"}[op]
            new[i] = ct
            flags[i] = bool(nbatch)  # outputs carry the batch axis when there is one
        new_params = {**params, "batched": tuple(flags)}
        if token is not None and target == "pullback":  # the taped forward pass, reused
            new, new_params = [*new, token], {**new_params, "taped": True}
        out = _bind(_PRIMS[target], *new, **new_params)
        if nbatch and not params["batched"][i]:
            out = out.sum(axis=0)  # an unbatched seed: its cotangent sums over the batch
        result = [None if k != i else out for k in range(len(args))]
        return result if token is None else [*result, None]

    return transpose


# --- vmap ----------------------------------------------------------------------------------


def _batch(op: str) -> Any:
    def batch(args: Any, dims: Any, **params: Any) -> Any:
        if params.get("taped"):  # batched: computed without the tape
            args, dims = args[:-1], dims[:-1]
            params = {**params, "taped": False}
        old, nb = params["batched"], params["nbatch"]
        size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
        if size == 0:  # nothing to compute (a Hessian of an empty x): zeros of the right shape
            avals = [
                jax.typeof(a) if d is None else _drop_axis(jax.typeof(a), d)
                for a, d in zip(args, dims, strict=True)
            ]
            aval = _abstract_of(_PRIMS[op], *avals, **params)[0]
            return jnp.zeros((0, *aval.shape), dtype=aval.dtype), 0
        new_args, flags = [], []
        for arg, d, was in zip(args, dims, old, strict=True):
            if d is None and not was:
                new_args.append(arg)
                flags.append(False)
                continue
            new_args.append(_merge(arg, d, was, size, nb))
            flags.append(True)
        out = _bind(
            _PRIMS[op],
            *new_args,
            **{**params, "batched": tuple(flags), "nbatch": size * max(nb, 1)},
        )
        if nb:
            out = out.reshape((size, nb, *out.shape[1:]))
        return out, 0

    return batch


def _drop_axis(aval: Any, d: int) -> Any:
    return aval.update(shape=aval.shape[:d] + aval.shape[d + 1 :])


def _merge(a: Any, d: int | None, was: bool, size: int, nb: int) -> Any:
    """Operand ``a`` with the new vmap axis ``d`` (size ``size``) merged into the primitive's
    batch axis (size ``nb``, 0 if none yet): the new axis outermost."""
    if d is None:  # batched before, not now: repeat for the new axis
        a = jnp.broadcast_to(a[None], (size, *a.shape))
    else:
        a = jnp.moveaxis(a, d, 0)
        if not was and nb:  # batched now, not before: repeat for the old axis
            a = jnp.broadcast_to(a[:, None], (size, nb, *a.shape[1:]))
    return a.reshape((size * nb, *a.shape[2:])) if nb else a


def _make(op: str) -> Primitive:
    prim = Primitive(f"di_{op}")
    prim.def_impl(_impl(op))  # type: ignore[no-untyped-call]
    prim.def_abstract_eval(_abstract(op))  # type: ignore[no-untyped-call]
    mlir.register_lowering(prim, _lowering(op), cacheable=False)
    ad.primitive_jvps[prim] = _jvp(op)
    if op != "value":
        ad.primitive_transposes[prim] = _transpose(op)
    batching.primitive_batchers[prim] = _batch(op)
    return prim


_PRIMS = {op: _make(op) for op in _OPS}


def _make_value_taped() -> Primitive:
    """``(f(x), token)``: the forward pass of reverse mode, keeping a tape; transformed
    again, it becomes the untaped ``di_value`` (no tape, token -1)."""
    prim = Primitive("di_value_taped")
    prim.multiple_results = True
    prim.def_impl(_value_taped_impl)  # type: ignore[no-untyped-call]
    prim.def_abstract_eval(_value_taped_abstract)  # type: ignore[no-untyped-call]
    mlir.register_lowering(prim, _value_taped_lowering, cacheable=False)
    ad.primitive_jvps[prim] = _value_taped_jvp
    batching.primitive_batchers[prim] = _value_taped_batch
    return prim


_VALUE_TAPED = _make_value_taped()
