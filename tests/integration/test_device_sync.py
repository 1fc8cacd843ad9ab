"""Prepared torch calls never wait for the device (issue 18: no host round trip on a GPU path).

On a CUDA device, reading a tensor's value from Python (``.item()``, ``float()``, ``bool()``,
``torch.equal``) or copying it to the host blocks until the GPU has finished everything queued
before it: a hidden round trip per call that the device tool's benchmarks would only show as a
slowdown. A dispatch mode sees every ATen operation a call runs, on the CPU as on CUDA, so the
test runs everywhere (CI has no GPU) and once more on a CUDA device where one exists.
Preparation may read values (it probes ``f``); the prepared calls must not.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import differentiation_interface as di  # noqa: E402
from differentiation_interface._array import cuda_device  # noqa: E402
from tests.helpers import prepared  # noqa: E402

#: ATen operations that hand a tensor's value to Python: each one waits for the device.
_VALUE_READS = frozenset(
    {
        "aten._local_scalar_dense.default",
        "aten.is_nonzero.default",
        "aten.equal.default",
        "aten.item.default",
    }
)


class DeviceWaits(TorchDispatchMode):
    """Records the operations of a block that make the host wait for an accelerator: value
    reads, and copies of accelerator tensors to the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        name = str(func)
        to_host = name.startswith(("aten._to_copy", "aten.copy_")) and _to_host(args, kwargs)
        if name in _VALUE_READS or to_host:
            where = "".join(traceback.format_stack(limit=6)[:-1])
            self.waits.append(f"{name}\n{where}")
        return func(*args, **kwargs)


def _to_host(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a copy takes an accelerator tensor to the CPU (``_to_copy(t, device=cpu)`` or
    ``cpu_tensor.copy_(accelerator_tensor)``)."""
    source = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else args[0]
    if not isinstance(source, torch.Tensor) or source.device.type == "cpu":
        return False
    target = kwargs.get("device")
    if target is None and isinstance(args[0], torch.Tensor) and args[0] is not source:
        target = args[0].device
    return target is not None and torch.device(target).type == "cpu"


# Array-API functions: the sparse backends trace them with the library's sparsity tracer.
def rosenbrock(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_rows(x: Any) -> Any:  # batchable: finite differences stack the points
    xp = array_namespace(x)
    a, b = x[..., 1:], x[..., :-1]
    return xp.sum(100.0 * (a - b * b) ** 2 + (1.0 - b) ** 2, axis=-1)


def tridiagonal(x: Any) -> Any:
    xp = array_namespace(x)
    zero = xp.zeros_like(x[:1])
    return xp.sin(x) + xp.concat([zero, x[:-1]]) * x - 0.5 * xp.concat([x[1:], zero])


def _calls(x: Any) -> dict[str, tuple[str, Any, Any, tuple[Any, ...]]]:
    """``{name: (operator, f, backend, extra arguments)}`` of the calls checked."""
    tangents = ((torch.cos(x),),)
    fd = di.AutoFiniteDiff()
    calls: dict[str, tuple[str, Any, Any, tuple[Any, ...]]] = {}
    for mode in ("reverse", "forward"):
        backend = di.AutoTorch(mode=mode)
        calls |= {
            f"{mode} gradient": ("gradient", rosenbrock, backend, ()),
            f"{mode} value_and_gradient": ("value_and_gradient", rosenbrock, backend, ()),
            f"{mode} hvp": ("hvp", rosenbrock, backend, tangents),
            f"{mode} hessian": ("hessian", rosenbrock, backend, ()),
            f"{mode} jacobian": ("jacobian", tridiagonal, backend, ()),
            f"{mode} pushforward": ("pushforward", tridiagonal, backend, tangents),
            f"{mode} pullback": ("pullback", tridiagonal, backend, tangents),
        }
    forward = di.AutoTorch(mode="forward")
    return calls | {
        "sparse jacobian": ("jacobian", tridiagonal, di.AutoSparse(forward), ()),
        "sparse jacobian, dense output": (
            "jacobian",
            tridiagonal,
            di.AutoSparse(forward, output="dense"),
            (),
        ),
        "sparse hessian": ("hessian", rosenbrock, di.AutoSparse(di.AutoTorch()), ()),
        "finite differences, f point by point": ("gradient", rosenbrock, fd, ()),
        "finite differences, stacked points": ("gradient", rosenbrock_rows, fd, ()),
        "finite differences, jacobian": ("jacobian", tridiagonal, fd, ()),
        "finite differences, hessian": ("hessian", rosenbrock, fd, ()),
    }


NAMES = list(_calls(torch.zeros(3)))


def _device(kind: str) -> Any:
    if kind == "cpu":
        return torch.device("cpu")
    device = cuda_device("torch")
    if device is None:
        pytest.skip("needs a CUDA device visible to torch")
    return device


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_prepared_torch_calls_make_the_host_wait_for_nothing(kind: str, name: str) -> None:
    x = torch.linspace(-1.0, 1.5, 12, dtype=torch.float64, device=_device(kind))
    operator, f, backend, extra = _calls(x)[name]
    call = prepared(operator, f, backend, x, *extra)
    expected = call()
    watch = DeviceWaits()
    with watch:
        result = call()
    assert not watch.waits, f"{len(watch.waits)} waits; the first:\n{watch.waits[0]}"
    for got, want in zip(_leaves(result), _leaves(expected), strict=True):  # a real call
        np.testing.assert_allclose(_host(got), _host(want), rtol=1e-12)


def test_the_watch_sees_value_reads_and_copies_to_the_host() -> None:
    """The detector itself: a value read is caught (on any device); a copy to the host is
    caught where the source is an accelerator tensor (a fake one: ``meta`` stands in)."""
    watch = DeviceWaits()
    with watch:
        float(torch.ones(2).sum())
    assert len(watch.waits) == 1
    assert "_local_scalar_dense" in watch.waits[0]
    assert _to_host((torch.empty(2, device="meta"),), {"device": torch.device("cpu")})
    assert _to_host((torch.empty(2), torch.empty(2, device="meta")), {})
    assert not _to_host((torch.empty(2),), {"device": torch.device("cpu")})


def _leaves(result: Any) -> list[Any]:
    return list(result) if isinstance(result, tuple) else [result]


def _host(a: Any) -> np.ndarray:
    if isinstance(a, tuple):
        a = a[0]
    if a.layout != torch.strided:
        a = a.to_dense()
    return a.detach().cpu().numpy()
