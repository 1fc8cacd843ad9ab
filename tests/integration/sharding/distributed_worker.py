"""One of two JAX processes on 127.0.0.1 (run by test_sharding.py, which starts both).

Usage: ``python distributed_worker.py <coordinator port> <process id>``. Each process has
2 fake CPU devices; x is sharded over all 4, and each process checks its own shards of a
gradient, an hvp and a sparse Jacobian against closed forms.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"

import array_api_compat as aac
import jax
import numpy as np

jax.config.update("jax_cpu_collectives_implementation", "gloo")
port, pid = int(sys.argv[1]), int(sys.argv[2])
jax.distributed.initialize(
    coordinator_address=f"127.0.0.1:{port}",
    num_processes=2,
    process_id=pid,
    initialization_timeout=30,
)

from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import differentiation_interface as di  # noqa: E402

N = 16


def f(x):  # sum(sin(x)^2): gradient sin(2x), hvp 2 cos(2x) t
    xp = aac.array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def g(x):  # elementwise: a diagonal Jacobian diag(cos(x) + x), one color
    xp = aac.array_namespace(x)
    return xp.sin(x) + 0.5 * x**2


def global_array(host, sharding):
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def check(name, result, expected):
    assert result.shape == expected.shape, (name, result.shape)
    shards = result.addressable_shards
    assert shards, name
    for shard in shards:
        assert shard.device.process_index == pid, (name, shard.device)
        got, want = np.asarray(shard.data), expected[shard.index]
        assert np.allclose(got, want, rtol=1e-5, atol=1e-5), (name, shard.index, got, want)
    print(f"process {pid}: {name} ok on {len(shards)} local shard(s)", flush=True)


assert jax.process_count() == 2, jax.process_count()
assert len(jax.devices()) == 4, jax.devices()
mesh = jax.make_mesh((4,), ("d",))
sharding = NamedSharding(mesh, P("d"))
host = np.linspace(0.1, 1.6, N, dtype=np.float32)
t_host = np.cos(np.arange(N, dtype=np.float32))
x = global_array(host, sharding)
t = global_array(t_host, sharding)
assert not x.is_fully_addressable

grad = di.gradient(f, di.AutoJAX(), x)
assert grad.sharding.is_equivalent_to(x.sharding, 1), grad.sharding
check("gradient", grad, np.sin(2 * host))

(hv,) = di.hvp(f, di.AutoJAX(), x, (t,))
assert hv.sharding.is_equivalent_to(x.sharding, 1), hv.sharding
check("hvp", hv, 2 * np.cos(2 * host) * t_host)

jacobian = di.jacobian(g, di.AutoSparse(di.AutoJAX(), output="dense"), x)
expected = np.diag(np.cos(host) + host)
check("sparse jacobian", jacobian, expected)
print(f"process {pid}: done", flush=True)
