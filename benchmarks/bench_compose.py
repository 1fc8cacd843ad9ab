"""DifferentiateWith's crossing cost (issue 15), ratios within one run.

Goal: a gradient through ``di.DifferentiateWith`` costs at most 30 µs more than the two
engines' own work at n = 10, and at most 1.2x that work at n = 1e6 (CPU). Two directions:

* **torch inside JAX**: ``jax.jit(jax.grad(loss))`` with ``loss(x) = sum(g(x)**2)`` and
  ``g = DifferentiateWith(torch_f, AutoTorch())``, against the same gradient by hand: the
  torch forward on a DLPack view of ``x``, ``jax.grad`` of the JAX part (``jit``-compiled),
  ``torch.autograd.grad`` of the torch part, DLPack back; and against the bridge a JAX
  user writes inside ``jit``: ``jax.pure_callback`` in a ``jax.custom_vjp``.
* **JAX inside torch**: ``loss.backward()`` with ``g = DifferentiateWith(jax_f, AutoJAX())``
  against ``torch.autograd.grad`` of the torch part and ``jax.vjp`` of a jitted ``jax_f``
  (by hand, DLPack both ways), and at n = 10 against the leanest ``torch.autograd.Function``
  written for this one ``f`` (numpy views into the compiled value and VJP, copies out): what
  a bridge costs at least.

A third candidate, *own work*, runs each engine's part alone on arrays of its own made
beforehand (no conversion at all): the floor. For JAX that is its value and its VJP, each
one compiled program (``jax.jit(f)``, ``jax.jit`` of ``jax.vjp`` applied to the cotangent):
the cheapest way JAX gives a value now and a VJP later. Keeping JAX's residuals between the
two (``jax.jit(lambda x: jax.vjp(f, x))`` and a compiled apply) measured slower at
n = 1e6 (9.2 ms against 7.6), and an eager ``jax.vjp`` function costs ~200 µs at n = 10; an
earlier version of this floor computed the residuals outside the timed region, which no
bridge can. ``f(x) = sin(x) * x``, float32.

Run: ``python benchmarks/bench_compose.py [--rounds 31]``; prints Markdown tables and writes
``benchmarks/results/compose.json``.
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

sys.path.insert(0, os.path.dirname(__file__))

import differentiation_interface as di  # noqa: E402
from _harness import Group, GroupResult, environment, write_json  # noqa: E402


def torch_f(x: Any) -> Any:
    return torch.sin(x) * x


def jax_f(x: Any) -> Any:
    return jnp.sin(x) * x


def _torch_value(x: Any) -> Any:
    return torch_f(torch.from_numpy(np.array(x))).numpy()


def _torch_vjp(x: Any, u: Any) -> Any:
    t = torch.from_numpy(np.array(x)).requires_grad_(True)
    (g,) = torch.autograd.grad(torch_f(t), t, torch.from_numpy(np.array(u)))
    return g.numpy()


@jax.custom_vjp
def _callback_bridge(x: Any) -> Any:
    """The bridge a JAX user writes for a torch function: ``jax.pure_callback`` for the
    value and, in a custom VJP, for torch's VJP (which runs the forward pass again)."""
    return jax.pure_callback(_torch_value, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


def _callback_fwd(x: Any) -> Any:
    return _callback_bridge(x), x


def _callback_bwd(x: Any, u: Any) -> Any:
    return (jax.pure_callback(_torch_vjp, jax.ShapeDtypeStruct(x.shape, x.dtype), x, u),)


_callback_bridge.defvjp(_callback_fwd, _callback_bwd)


def torch_in_jax(n: int, rounds: int) -> GroupResult:
    g = di.DifferentiateWith(torch_f, di.AutoTorch())
    bridged = jax.jit(jax.grad(lambda x: jnp.sum(g(x) ** 2)))
    outer = jax.jit(jax.grad(lambda y: jnp.sum(y**2)))

    def by_hand(x: Any) -> Any:
        t = torch.from_dlpack(x).requires_grad_(True)
        y = torch_f(t)
        gy = outer(jnp.from_dlpack(y.detach()))
        (gx,) = torch.autograd.grad(y, t, torch.from_dlpack(gy))
        return jnp.from_dlpack(gx)

    x = jnp.linspace(0.5, 2.0, n, dtype=jnp.float32)
    np.testing.assert_allclose(bridged(x), by_hand(x), rtol=1e-5, atol=1e-5)
    # the two engines' work alone, each on its own arrays made beforehand (no conversion)
    xt = torch.from_numpy(np.asarray(x).copy())
    y0 = jnp.asarray(np.sin(np.asarray(x)) * np.asarray(x))
    gy0 = torch.from_numpy(np.asarray(outer(y0)).copy())

    def own_work() -> Any:
        t = xt.detach().requires_grad_(True)
        y = torch_f(t)
        outer(y0).block_until_ready()
        return torch.autograd.grad(y, t, gy0)

    callback_bridge = jax.jit(jax.grad(lambda x: jnp.sum(_callback_bridge(x) ** 2)))
    np.testing.assert_allclose(callback_bridge(x), by_hand(x), rtol=1e-5, atol=1e-5)

    group = Group(f"torch inside jax.jit(jax.grad), n={n}", rounds=rounds)
    group.add("own work", own_work)
    group.add("by hand", lambda: by_hand(x).block_until_ready())
    group.add("pure_callback by hand", lambda: callback_bridge(x).block_until_ready())
    group.add("DifferentiateWith", lambda: bridged(x).block_until_ready())
    return group.run()


def jax_in_torch(n: int, rounds: int) -> GroupResult:
    g = di.DifferentiateWith(jax_f, di.AutoJAX())
    jitted = jax.jit(jax_f)

    def bridged(x: Any) -> Any:
        t = x.detach().requires_grad_(True)
        (g(t) ** 2).sum().backward()
        return t.grad

    def by_hand(x: Any) -> Any:
        t = x.detach().requires_grad_(True)
        y_jax, vjp = jax.vjp(jitted, jnp.from_dlpack(x))
        y = torch.from_dlpack(y_jax).requires_grad_(True)
        (gy,) = torch.autograd.grad((y**2).sum(), y)
        (gx,) = vjp(jnp.from_dlpack(gy))
        t.grad = torch.from_dlpack(gx)
        return t.grad

    x = torch.linspace(0.5, 2.0, n, dtype=torch.float32)
    np.testing.assert_allclose(bridged(x), by_hand(x), rtol=1e-5, atol=1e-5)
    xj = jnp.asarray(x.numpy())
    vjp_of = jax.jit(lambda x, u: jax.vjp(jax_f, x)[1](u)[0])
    y0 = torch.sin(x) * x
    gy0 = jnp.asarray((2 * y0).numpy())

    def own_work() -> Any:
        jitted(xj).block_until_ready()
        y = y0.detach().requires_grad_(True)
        torch.autograd.grad((y**2).sum(), y)
        return vjp_of(xj, gy0).block_until_ready()

    class Bridge(torch.autograd.Function):
        """The leanest bridge written for this one f: numpy views in, copies out."""

        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return torch.from_numpy(np.array(jitted(x.detach().numpy())))

        @staticmethod
        def backward(ctx: Any, gy: Any) -> Any:
            (x,) = ctx.saved_tensors
            return torch.from_numpy(np.array(vjp_of(x.detach().numpy(), gy.numpy())))

    def function_by_hand(x: Any) -> Any:
        t = x.detach().requires_grad_(True)
        (Bridge.apply(t) ** 2).sum().backward()
        return t.grad

    group = Group(f"JAX inside torch .backward(), n={n}", rounds=rounds)
    group.add("own work", own_work)
    group.add("by hand", lambda: by_hand(x))
    if n <= 10**4:  # numpy views: host memory, small arrays
        group.add("autograd.Function by hand", lambda: function_by_hand(x))
    group.add("DifferentiateWith", lambda: bridged(x))
    return group.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    groups = []
    for make in (torch_in_jax, jax_in_torch):
        for n in (10, 10**6):
            result = make(n, args.rounds)
            extra = result.median("DifferentiateWith") - result.median("own work")
            print(result.table(baseline="own work"))
            print(f"crossing cost over the engines' own work: {extra * 1e6:.1f} µs\n", flush=True)
            groups.append(
                {**result.to_dict("own work"), "baseline": "own work", "extra_us": extra * 1e6}
            )
    payload = {
        "environment": environment(),
        "goal": "<= 30 µs + own work at n = 10, <= 1.2x own work at n = 1e6",
        "groups": groups,
    }
    write_json(payload, os.path.join(args.out, "compose.json"))


if __name__ == "__main__":
    main()
