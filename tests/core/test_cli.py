"""The command line: ``python -m differentiation_interface check``."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import differentiation_interface as di
from differentiation_interface._cli import _main


def test_check_passes_with_finite_differences(capsys: pytest.CaptureFixture[str]) -> None:
    status = _main.check([di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward")])
    out = capsys.readouterr().out
    assert status == 0
    assert "checks passed on 2 backend(s)" in out
    assert "FAILED" not in out


def test_check_fails_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    # A deliberately wrong engine: finite differences with a huge step are inaccurate.
    status = _main.check([di.AutoFiniteDiff(method="forward", step=0.5)])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED AutoFiniteDiff(method='forward', step=0.5) on" in out


def test_main_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "differentiation_interface", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "check" in result.stdout


def test_main_check_on_the_default_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_main, "default_backends", lambda: [di.AutoFiniteDiff()])
    assert _main.main(["check"]) == 0


def test_bench_writes_csv_and_json(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    csv_path, json_path = tmp_path / "b.csv", tmp_path / "b.json"
    status = _main.main(
        ["bench", "--backends", "fd", "--csv", str(csv_path), "--json", str(json_path)]
    )
    assert status == 0
    assert csv_path.read_text().startswith("backend,scenario,operator,prepared,seconds,calls")
    assert '"operator": "hessian"' in json_path.read_text()
    out = capsys.readouterr().out
    assert "time per prepared call:" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    header = out.splitlines()[1].split()
    assert header == ["backend", "push", "pull", "deriv", "grad", "jac", "d2", "hvp", "hess"]


def test_check_on_another_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main.main(["check", "--backends", "fd", "--namespace", "strict-device1"]) == 0
    assert "check on strict-device1" in capsys.readouterr().out


def test_unknown_backend_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main.main(["check", "--backends", "fdd"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --backends: unknown backend 'fdd'; choose among fd, fd-forward, fd-over-fd, "
        "jax, jax-forward, torch, torch-forward, autograd\n"
    )


@pytest.mark.parametrize("name", _main.GPU_NAMESPACES)
def test_gpu_namespaces_say_when_there_is_no_gpu(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the namespace's library sees no CUDA device (or is not installed), one line
    and exit 2; where it sees one, the check runs on it."""
    code = _main.main(["check", "--backends", "fd", "--namespace", name])
    if _main.gpu_available(name):
        assert code == 0
        assert f"check on {name}" in capsys.readouterr().out
    else:
        assert code == 2
        assert capsys.readouterr().err == (
            f"error: --namespace {name!r} needs a CUDA GPU, and this machine has none for it.\n"
        )
