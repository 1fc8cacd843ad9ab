"""Every operator on JAX arrays sharded over 4 fake CPU devices (run by test_sharding.py).

Run as a script: XLA_FLAGS must give JAX its devices before JAX is imported, so this cannot
run inside a pytest process that imported JAX already. Values are checked shard by shard
against closed forms, layouts against the shardings of x and f(x).
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import array_api_compat as aac
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import differentiation_interface as di


def f_scalar(x):  # sum(sin(x)^2): gradient sin(2x), Hessian diag(2 cos(2x))
    xp = aac.array_namespace(x)
    return xp.sum(xp.sin(x) ** 2)


def f_vector(x):  # 2 sin(x): Jacobian diag(2 cos(x))
    return 2.0 * aac.array_namespace(x).sin(x)


WEIGHTS = np.arange(8.0, dtype=np.float32)


def f_of_scalar(x):  # sin(x) * w: derivative cos(x) w, second derivative -sin(x) w
    xp = aac.array_namespace(x)
    return xp.sin(x) * xp.asarray(WEIGHTS, device=aac.device(x))


def check_shards(name, result, expected, rtol):
    """Every addressable shard of ``result`` against the same slice of ``expected``."""
    expected = np.asarray(expected)
    assert result.shape == expected.shape, (name, result.shape, expected.shape)
    for shard in result.addressable_shards:
        got = np.asarray(shard.data)
        want = expected[shard.index]
        assert np.allclose(got, want, rtol=rtol, atol=rtol), (name, shard.index, got, want)


def check_layout(name, result, like):
    ok = result.sharding.is_equivalent_to(like.sharding, result.ndim)
    assert ok, (name, result.sharding, like.sharding)


def dense(m):
    return m.todense() if hasattr(m, "todense") else m


def run(mesh, backends):
    xs = NamedSharding(mesh, P("d"))
    x_host = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    x = jax.device_put(jnp.asarray(x_host), xs)
    t_host = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    t = jax.device_put(jnp.asarray(t_host), xs)
    x0 = jax.device_put(jnp.asarray(np.float32(0.5)), NamedSharding(mesh, P()))
    y_vec = f_vector(x)
    grad = np.sin(2 * x_host)
    hess = np.diag(2 * np.cos(2 * x_host))
    jac = np.diag(2 * np.cos(x_host))
    for label, backend in backends:
        second = 3e-2 if "fd" in label else 1e-4
        first = 2e-3 if "fd" in label else 1e-5

        def go(op, *args, f=f_scalar, point=x, label=label, backend=backend):
            try:
                return getattr(di, op)(f, backend, point, *args)
            except Exception as err:
                raise AssertionError(f"{label} {op}: {type(err).__name__}: {err}") from err

        g = go("gradient")
        check_shards(f"{label} gradient", g, grad, first)
        check_layout(f"{label} gradient", g, x)
        v, g = go("value_and_gradient")
        check_shards(f"{label} value", v, np.sum(np.sin(x_host) ** 2), 1e-5)
        check_shards(f"{label} value_and_gradient", g, grad, first)
        (pf,) = go("pushforward", (t,), f=f_vector)
        check_shards(f"{label} pushforward", pf, 2 * np.cos(x_host) * t_host, first)
        check_layout(f"{label} pushforward", pf, y_vec)
        (pb,) = go("pullback", (t,), f=f_vector)
        check_shards(f"{label} pullback", pb, 2 * np.cos(x_host) * t_host, first)
        check_layout(f"{label} pullback", pb, x)
        j = dense(go("jacobian", f=f_vector))
        check_shards(f"{label} jacobian", j, jac, first)
        d = go("derivative", f=f_of_scalar, point=x0)
        check_shards(f"{label} derivative", d, np.cos(0.5) * WEIGHTS, first)
        d2 = go("second_derivative", f=f_of_scalar, point=x0)
        check_shards(f"{label} second_derivative", d2, -np.sin(0.5) * WEIGHTS, second)
        (hv,) = go("hvp", (t,))
        check_shards(f"{label} hvp", hv, 2 * np.cos(2 * x_host) * t_host, second)
        check_layout(f"{label} hvp", hv, x)
        g, (hv,) = go("gradient_and_hvp", (t,))
        check_layout(f"{label} gradient_and_hvp", g, x)
        check_shards(f"{label} gradient_and_hvp", hv, 2 * np.cos(2 * x_host) * t_host, second)
        h = dense(go("hessian"))
        check_shards(f"{label} hessian", h, hess, second)
        _, g, h = go("value_gradient_and_hessian")
        check_layout(f"{label} value_gradient_and_hessian", g, x)
        check_shards(f"{label} value_gradient_and_hessian", dense(h), hess, second)
        # prepared calls (the quick tier) give the same
        prep = di.prepare_gradient(f_scalar, backend, x)
        for _ in range(2):
            g = di.gradient(f_scalar, backend, x, prep=prep)
            check_shards(f"{label} prepared gradient", g, grad, first)
            check_layout(f"{label} prepared gradient", g, x)
        print(label, "ok", flush=True)


def bad_inputs(mesh):
    x = jax.device_put(jnp.linspace(0.1, 1.0, 8), NamedSharding(mesh, P("d")))
    replicated = jax.device_put(jnp.ones(8), NamedSharding(mesh, P()))
    other = jax.make_mesh((2,), ("d",), devices=jax.devices()[:2])
    x_other = jax.device_put(jnp.linspace(0.1, 1.0, 8), NamedSharding(other, P("d")))
    for backend in (di.AutoJAX(), di.AutoFiniteDiff()):
        with pytest.raises(di.ArgumentValueError, match="sharded like x"):
            di.hvp(f_scalar, backend, x, (replicated,))
        for strict in (True, False):
            prep = di.prepare_gradient(f_scalar, backend, x, strict=strict)
            for wrong in (x_other, jax.device_put(x, NamedSharding(mesh, P()))):
                with pytest.raises(di.PreparationMismatchError, match=r"\[mismatch\] x sharding"):
                    di.gradient(f_scalar, backend, wrong, prep=prep)
        with pytest.raises(di.ImmutableOutputError):
            di.gradient(f_scalar, backend, x, out=jnp.zeros(8))
    print("bad inputs ok", flush=True)


if __name__ == "__main__":
    assert len(jax.devices()) == 4, jax.devices()
    backends = [
        ("reverse", di.AutoJAX()),
        ("forward", di.AutoJAX(mode="forward")),
        ("fd", di.AutoFiniteDiff()),
        ("second-order", di.SecondOrder(di.AutoJAX(mode="forward"), di.AutoJAX())),
        ("second-order-fd", di.SecondOrder(di.AutoFiniteDiff(), di.AutoJAX())),
        ("sparse", di.AutoSparse(di.AutoJAX())),
        ("sparse-fd", di.AutoSparse(di.AutoFiniteDiff())),
    ]
    which = sys.argv[1]
    if which == "bad":
        bad_inputs(jax.make_mesh((4,), ("d",)))
    else:
        kind = AxisType.Explicit if which == "explicit" else AxisType.Auto
        run(jax.make_mesh((4,), ("d",), axis_types=(kind,)), backends)
