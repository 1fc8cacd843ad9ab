"""A gradient and a Hessian-vector product of x sharded over 8 fake CPU devices.

Shown and executed by docs/how-to/distributed.md. XLA_FLAGS must be set before JAX is
imported: on a machine with real accelerators, leave it out and use jax.devices().
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import differentiation_interface as di

mesh = jax.make_mesh((8,), ("d",))
x = jax.device_put(jnp.linspace(-1.0, 1.0, 1024), NamedSharding(mesh, P("d")))
t = jax.device_put(jnp.ones(1024), x.sharding)


def f(x):
    return jnp.sum(jnp.sin(x) ** 2)


prep = di.prepare_gradient(f, di.AutoJAX(), x)
g = di.gradient(f, di.AutoJAX(), x, prep=prep)
print("gradient:", g.sharding.spec, "over", len(g.sharding.device_set), "devices")
print("each device holds", g.addressable_shards[0].data.shape, "of", g.shape)
assert np.allclose(np.asarray(g), np.sin(2 * np.linspace(-1.0, 1.0, 1024)), atol=1e-6)

(hv,) = di.hvp(f, di.AutoJAX(), x, (t,))
print("hvp:", hv.sharding.spec)

# The compiled program of the prepared gradient, per device: x's shard in, its gradient out.
text = prep.plan.plain.lower(x).compile().as_text()
print("all-gather in the program:", "all-gather" in text)

# Finite differences work on the same arrays (one evaluation of f per coordinate; float32
# differences of a sum of 1024 terms are accurate to about 1e-2).
g_fd = di.gradient(f, di.AutoFiniteDiff(), x)
print("finite differences:", g_fd.sharding.spec, float(jnp.max(jnp.abs(g_fd - g))) < 5e-2)
