"""torch DTensor inputs over a 2-process CPU mesh (gloo), API section 12.

Two local processes run ``_dtensor_worker.py``: each builds ``x`` sharded over a
``DeviceMesh`` of both, differentiates with ``AutoTorch`` and ``AutoFiniteDiff`` (gradient,
value_and_gradient, pushforward, pullback, hvp, a prepared call, ``out=``, and the finite-
difference Jacobian) and checks its own shards against closed forms; then the refusals
(other engines, mixed DTensor / plain tensors, Jacobians and Hessians). Every wait has a
timeout and both processes are killed whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch.distributed")

pytestmark = pytest.mark.distributed

WORKER = Path(__file__).with_name("_dtensor_worker.py")
TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dtensor_two_processes() -> None:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.fail("torch was built without torch.distributed / gloo")
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for rank in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            try:
                out, _ = p.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                pytest.fail(f"a DTensor worker did not finish within {TIMEOUT_S} s")
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
    for rank, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        lines = out.strip().splitlines()
        assert p.returncode == 0, f"rank {rank}:\n{out}"
        assert lines, f"rank {rank}: no output"
        assert lines[-1] == "PASSED", f"rank {rank}:\n{out}"
