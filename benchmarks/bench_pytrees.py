"""Pytrees: gradients of a dict of 10 parameter arrays against the native calls (issue 14).

Goals (ratios in the same run, medians of interleaved rounds): prepared ``di.gradient`` of
an MLP-like loss whose parameters are a dict of 10 leaves (~1e4 and ~1e6 parameters) at most
1.10x ``jax.jit(jax.grad(loss))`` on the same dict and 1.10x ``torch.autograd.grad`` over
the parameter tensors. Also measured: the raveled route (``AutoFiniteDiff`` cannot take trees
natively; shown for JAX through ``di.ravel`` by hand as the reference of what raveling costs)
and the cost of strict checks on a 100-leaf tree (prepared call with ``strict=True`` against
``strict=False``).

Run: ``python benchmarks/bench_pytrees.py [--rounds 21]``; prints Markdown tables and writes
``benchmarks/results/pytrees.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import jax

jax.config.update("jax_cpu_enable_async_dispatch", False)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from array_api_compat import array_namespace  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di  # noqa: E402
from _harness import Group, environment, write_json  # noqa: E402


def _params(total: float, leaves: int = 10) -> tuple[dict[str, Any], int]:
    """``leaves // 2`` square weight matrices and as many bias vectors, ``total`` entries."""
    rng = np.random.default_rng(0)
    layers = leaves // 2
    width = max(2, int((total / layers) ** 0.5))
    p = {f"w{i}": rng.normal(size=(width, width)) / width for i in range(layers)}
    p.update({f"b{i}": rng.normal(size=(width,)) for i in range(layers)})
    return p, width


def _loss(p: dict[str, Any], X: Any) -> Any:
    xp = array_namespace(X)
    h = X
    for i in range(len(p) // 2):
        h = xp.tanh(h @ p[f"w{i}"] + p[f"b{i}"])
    return xp.sum(h**2)


def _jax_group(total: float, rounds: int) -> Any:
    p, width = _params(total)
    X = np.random.default_rng(1).normal(size=(8, width))
    with jax.enable_x64(True):
        pj = {k: jnp.asarray(v) for k, v in p.items()}
        Xj = jnp.asarray(X)
        native = jax.jit(jax.grad(_loss))
        native(pj, Xj)
        backend = di.AutoJAX()
        prep = di.prepare_gradient(_loss, backend, pj, di.Constant(Xj))
        flat, unravel = di.ravel(pj)
        raveled = jax.jit(jax.grad(lambda v, X: _loss(unravel(v), X)))
        raveled(flat, Xj)
        g = Group(f"gradient, dict of 10 JAX arrays, {int(total):.0e} parameters", rounds=rounds)
        g.add("native jit(grad)(dict)", lambda: jax.block_until_ready(native(pj, Xj)))
        g.add(
            "di.gradient, prepared",
            lambda: jax.block_until_ready(
                di.gradient(_loss, backend, pj, di.Constant(Xj), prep=prep)
            ),
        )
        g.add(
            "raveling by hand: ravel + jit(grad) + unravel",
            lambda: jax.block_until_ready(unravel(raveled(di.ravel(pj)[0], Xj))),
        )
        return g.run()


def _torch_group(total: float, rounds: int) -> Any:
    p, width = _params(total)
    pt = {k: torch.asarray(v) for k, v in p.items()}
    Xt = torch.asarray(np.random.default_rng(1).normal(size=(8, width)))

    def native() -> Any:
        leaves = {k: v.detach().requires_grad_(True) for k, v in pt.items()}
        return torch.autograd.grad(_loss(leaves, Xt), list(leaves.values()))

    backend = di.AutoTorch()
    prep = di.prepare_gradient(_loss, backend, pt, di.Constant(Xt))
    g = Group(f"gradient, dict of 10 torch tensors, {int(total):.0e} parameters", rounds=rounds)
    g.add("native autograd.grad(leaves)", native)
    g.add(
        "di.gradient, prepared", lambda: di.gradient(_loss, backend, pt, di.Constant(Xt), prep=prep)
    )
    return g.run()


def _autograd_group(total: float, rounds: int) -> Any:
    """HIPS autograd differentiates dicts itself (``autograd.grad`` of a dict argument)."""
    import autograd
    import autograd.numpy as anp

    p, width = _params(total)
    X = np.random.default_rng(1).normal(size=(8, width))

    def loss_np(p: dict[str, Any], X: Any) -> Any:
        h = X
        for i in range(len(p) // 2):
            h = anp.tanh(h @ p[f"w{i}"] + p[f"b{i}"])
        return anp.sum(h**2)

    native = autograd.grad(loss_np)
    backend = di.AutoAutograd()
    prep = di.prepare_gradient(_loss, backend, p, di.Constant(X))
    g = Group(
        f"gradient, dict of 10 numpy arrays (autograd), {int(total):.0e} parameters", rounds=rounds
    )
    g.add("native autograd.grad(dict)", lambda: native(p, X))
    g.add(
        "di.gradient, prepared", lambda: di.gradient(_loss, backend, p, di.Constant(X), prep=prep)
    )
    return g.run()


def _strict_group(backend: Any, rounds: int) -> Any:
    """Strict against non-strict prepared calls on a 100-leaf tree of small arrays."""
    p, width = _params(1e3, leaves=100)
    X = np.random.default_rng(1).normal(size=(2, width))
    if isinstance(backend, di.AutoJAX):
        with jax.enable_x64(True):
            p = {k: jnp.asarray(v) for k, v in p.items()}
            X = jnp.asarray(X)
    else:
        p = {k: torch.asarray(v) for k, v in p.items()}
        X = torch.asarray(X)
    strict = di.prepare_gradient(_loss, backend, p, di.Constant(X))
    loose = di.prepare_gradient(_loss, backend, p, di.Constant(X), strict=False)
    g = Group(f"strict checks, 100 leaves, {backend!r}", rounds=rounds)
    with jax.enable_x64(True):
        g.add("strict=False", lambda: di.gradient(_loss, backend, p, di.Constant(X), prep=loose))
        g.add("strict=True", lambda: di.gradient(_loss, backend, p, di.Constant(X), prep=strict))
        return g.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument(
        "--output", default=os.path.join(os.path.dirname(__file__), "results", "pytrees.json")
    )
    args = parser.parse_args()
    results = []
    for total in (1e4, 1e6):
        r = _jax_group(total, args.rounds)
        print(r.table(baseline="native jit(grad)(dict)"), "\n")
        results.append(r.to_dict(baseline="native jit(grad)(dict)"))
        r = _torch_group(total, args.rounds)
        print(r.table(baseline="native autograd.grad(leaves)"), "\n")
        results.append(r.to_dict(baseline="native autograd.grad(leaves)"))
        r = _autograd_group(total, args.rounds)
        print(r.table(baseline="native autograd.grad(dict)"), "\n")
        results.append(r.to_dict(baseline="native autograd.grad(dict)"))
    for backend in (di.AutoJAX(), di.AutoTorch()):
        r = _strict_group(backend, args.rounds)
        print(r.table(baseline="strict=False"), "\n")
        entry = r.to_dict(baseline="strict=False")
        entry["strict_cost_s"] = r.median("strict=True") - r.median("strict=False")
        results.append(entry)
    write_json({"environment": environment(), "groups": results}, args.output)


if __name__ == "__main__":
    main()
