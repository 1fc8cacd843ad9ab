"""JAX arrays sharded over fake CPU devices, and over two processes (API section 12).

JAX fixes its device count when it is imported, and pytest's workers import it with one
device, so each check runs as a script in a fresh interpreter with ``XLA_FLAGS`` set: its
assertion messages come back in the failure message here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

HERE = Path(__file__).parent
SRC = str(HERE.parents[2] / "src")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _run(script: str, *args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} {' '.join(args)} failed:\n{output[-6000:]}"
    return done.stdout


@pytest.mark.parametrize("axes", ["explicit", "auto"])
def test_every_operator_and_backend_on_sharded_x(axes: str) -> None:
    out = _run("sharded_operators.py", axes)
    for label in ("reverse", "forward", "fd", "second-order", "sparse", "sparse-fd"):
        assert f"{label} ok" in out


def test_sharding_mismatches_are_library_errors() -> None:
    assert "bad inputs ok" in _run("sharded_operators.py", "bad")


def test_prepared_gradient_and_hvp_never_gather_x() -> None:
    out = _run("no_gather.py")
    assert "gradient AutoJAX() collectives: none" in out
    assert "hvp AutoJAX() collectives: none" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.distributed
def test_two_processes_check_their_own_shards() -> None:
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "distributed_worker.py"), str(port), str(i)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = ["", ""]
    try:
        for i, proc in enumerate(procs):
            try:
                outputs[i] = proc.communicate(timeout=90)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                outputs[i] = proc.communicate(timeout=10)[0] + "\n[timed out after 90 s]"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    report = "\n".join(f"--- process {i}\n{out[-4000:]}" for i, out in enumerate(outputs))
    assert all(p.returncode == 0 for p in procs), report
    for i in range(2):
        for name in ("gradient", "hvp", "sparse jacobian"):
            assert f"process {i}: {name} ok" in outputs[i], report
