"""One process of tests/integration/test_distributed.py's torch DTensor test (not collected:
no ``test_`` prefix). Run as ``python _dtensor_worker.py RANK PORT``; it prints ``PASSED`` as
its last line when every check held, else raises."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Shard, distribute_tensor

import differentiation_interface as di

N = 8


def close(result: object, expected: np.ndarray, rtol: float) -> None:
    """``result`` is a DTensor cut like x; its local shard matches ``expected`` (the closed
    form at this process' own entries of x)."""
    assert isinstance(result, DTensor), type(result)
    assert tuple(result.placements) == (Shard(0),), result.placements
    local = result.to_local().numpy()
    np.testing.assert_allclose(local, expected, rtol=rtol, atol=rtol)


def raises(error: type, call: object, match: str) -> None:
    try:
        call()  # type: ignore[operator]
    except error as err:
        message = str(err)
    else:
        raise AssertionError(f"{error.__name__} not raised")
    if match not in message:
        raise AssertionError(message)


def main(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=30))
    try:
        checks(rank)
    finally:
        dist.destroy_process_group()
    print("PASSED", flush=True)


def checks(rank: int) -> None:
    mesh = init_device_mesh("cpu", (2,))
    full = torch.linspace(0.1, 1.0, N, dtype=torch.float64)
    x = distribute_tensor(full, mesh, [Shard(0)])
    t = distribute_tensor(torch.cos(torch.arange(N, dtype=torch.float64)), mesh, [Shard(0)])
    xl, tl = x.to_local().numpy(), t.to_local().numpy()
    assert xl.shape == (N // 2,)
    assert np.allclose(xl, full.numpy()[rank * 4 : rank * 4 + 4])

    def f(v):  # scalar: gradient sin(2x), Hessian diag(2 cos(2x))
        return (torch.sin(v) ** 2).sum()

    def g(v):  # vector: Jacobian diag(2 cos(x))
        return 2.0 * torch.sin(v)

    for backend, rtol in ((di.AutoTorch(), 1e-12), (di.AutoFiniteDiff(), 1e-6)):
        close(di.gradient(f, backend, x), np.sin(2 * xl), rtol)
        value, grad = di.value_and_gradient(f, backend, x)
        np.testing.assert_allclose(float(value.full_tensor()), np.sum(np.sin(full.numpy()) ** 2))
        close(grad, np.sin(2 * xl), rtol)
        (pf,) = di.pushforward(g, backend, x, (t,))
        close(pf, 2 * np.cos(xl) * tl, rtol)
        (pb,) = di.pullback(g, backend, x, (t,))
        close(pb, 2 * np.cos(xl) * tl, rtol)
        (hv,) = di.hvp(f, backend, x, (t,))
        close(hv, 2 * np.cos(2 * xl) * tl, 1e-10 if rtol < 1e-9 else 1e-5)
        prep = di.prepare_gradient(f, backend, x)
        close(di.gradient(f, backend, x, prep=prep), np.sin(2 * xl), rtol)
        out = distribute_tensor(torch.zeros(N, dtype=torch.float64), mesh, [Shard(0)])
        di.gradient(f, backend, x, out=out)
        close(out, np.sin(2 * xl), rtol)

    # the Jacobian by finite differences: a DTensor (n, n) cut along its columns
    jac = di.jacobian(g, di.AutoFiniteDiff(), x)
    assert isinstance(jac, DTensor)
    np.testing.assert_allclose(
        jac.full_tensor().numpy(), np.diag(2 * np.cos(full.numpy())), rtol=1e-6, atol=1e-8
    )

    calls = []

    def counted(v):
        calls.append(1)
        return (torch.sin(v) ** 2).sum()

    # refused, clearly, before f is evaluated
    for backend in (di.AutoJAX(), di.AutoAutograd()):
        raises(
            di.UnsupportedOperationError, lambda b=backend: di.gradient(counted, b, x), "gathers"
        )
    assert not calls, "f ran before the refusal"
    # mixed DTensor / plain tensors
    plain = torch.ones(N, dtype=torch.float64)
    for backend in (di.AutoTorch(), di.AutoFiniteDiff()):
        raises(
            di.ArgumentValueError, lambda b=backend: di.pushforward(g, b, x, (plain,)), "DTensor"
        )
        raises(
            di.ArgumentValueError,
            lambda b=backend: di.gradient(counted, b, x, out=plain),
            "DTensor",
        )
    raises(di.UnsupportedOperationError, lambda: di.jacobian(g, di.AutoTorch(), x), "pullback")
    raises(di.UnsupportedOperationError, lambda: di.hessian(f, di.AutoTorch(), x), "hvp")
    raises(di.UnsupportedOperationError, lambda: di.hessian(f, di.AutoFiniteDiff(), x), "hvp")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
