"""A prepared gradient and hvp on 8 fake CPU devices never gather x (run by test_sharding.py).

The compiled program of each prepared plan (after XLA's SPMD partitioning, per device) is
read as text: its parameters and results are x's shards (n / 8 elements), and it holds no
all-gather. A program that does gather (a replicated result) is compiled the same way to
show that the check sees one. Every addressable shard of the results is checked against
the closed form.
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import differentiation_interface as di

N = 1024
SHARD = N // 8


def f(x):  # elementwise, then a reduction
    return jnp.sum(jnp.sin(x) ** 2 + 0.5 * x**2)


def collectives(text):
    return sorted(set(re.findall(r"\b(all-gather|all-to-all|collective-permute|all-reduce)", text)))


def check(name, text, shapes):
    found = collectives(text)
    assert "all-gather" not in found, (name, found)
    assert f"f32[{SHARD}]" in text, (name, "no shard-sized array")
    assert f"f32[{N}]" not in text, (name, "an array of x's full size")
    print(name, "collectives:", found or "none", "| per-device shapes:", shapes, flush=True)


def check_shards(name, result, expected):
    for shard in result.addressable_shards:
        got, want = np.asarray(shard.data), expected[shard.index]
        assert np.allclose(got, want, rtol=1e-5, atol=1e-5), (name, shard.index)
    assert len(result.addressable_shards) == 8, name
    assert result.sharding.spec == P("d"), name


if __name__ == "__main__":
    mesh = jax.make_mesh((8,), ("d",))
    sharding = NamedSharding(mesh, P("d"))
    host = np.linspace(-2.0, 2.0, N, dtype=np.float32)
    x = jax.device_put(jnp.asarray(host), sharding)
    t_host = np.cos(np.arange(N, dtype=np.float32))
    t = jax.device_put(jnp.asarray(t_host), sharding)
    for backend in (di.AutoJAX(),):  # reverse mode: forward mode pushes all n basis seeds
        prep = di.prepare_gradient(f, backend, x)
        text = prep.plan.plain.lower(x).compile().as_text()
        check(f"gradient {backend}", text, sorted(set(re.findall(r"f32\[\d+\]", text))))
        g = di.gradient(f, backend, x, prep=prep)
        check_shards("gradient", g, np.sin(2 * host) + host)

        prep = di.prepare_hvp(f, backend, x, (t,))
        seeds = jnp.stack([t], axis=0)
        text = prep.plan.plain.lower(x, seeds).compile().as_text()
        check(f"hvp {backend}", text, sorted(set(re.findall(r"f32\[[\d,]+\]", text))))
        (hv,) = di.hvp(f, backend, x, (t,), prep=prep)
        check_shards("hvp", hv, (2 * np.cos(2 * host) + 1.0) * t_host)

    # The check can fail: a program whose result is replicated gathers x.
    gathered = jax.jit(jax.grad(f), out_shardings=NamedSharding(mesh, P()))
    text = gathered.lower(x).compile().as_text()
    assert "all-gather" in collectives(text), collectives(text)
    print("a replicated gradient shows:", collectives(text), flush=True)
