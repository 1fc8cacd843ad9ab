"""The command line on a user's own function: ``--function module:callable --x SHAPE``,
bad input (one line, status 2), tables at 80 columns, the benchmark's repeats."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._cli import _main
from differentiation_interface._cli._function import user_scenarios
from differentiation_interface.testing import benchmark_differentiation, default_scenarios

USER_MODULE = textwrap.dedent(
    """
    from array_api_compat import array_namespace

    def energy(x):
        xp = array_namespace(x)
        return xp.sum(xp.sin(x) ** 2)

    def stretch(x):
        return x[1:] * x[:-1]

    def needs_six(x):
        return x.reshape(2, 3).sum()

    def returns_text(x):
        return "not an array"

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    return "usermod"


def _fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


def test_check_on_a_users_function(user_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "check",
        "--function",
        f"{user_module}:energy",
        "--x",
        "6",
        "--backends",
        "fd,fd-forward",
    ]
    assert _main.main(argv) == 0
    out = capsys.readouterr().out
    _fits(out)
    assert "backend     push   pull   grad   jac    hvp    hess" in out  # what fits a sum
    assert "12 of 12 checks passed on 2 backend(s)." in out


def test_check_finds_a_wrong_backend_by_agreement(capsys: pytest.CaptureFixture[str]) -> None:
    def energy(x: Any) -> Any:
        return np.sum(np.sin(x) ** 2)

    scenarios = user_scenarios(energy, (5,), np.float64, ["gradient"])
    coarse = di.AutoFiniteDiff(method="forward", step=0.5)
    backends = [di.AutoFiniteDiff(), di.AutoFiniteDiff(method="forward"), coarse]
    assert _main.check(backends, scenarios=scenarios) == 1
    out = capsys.readouterr().out
    assert "FAILED AutoFiniteDiff(method='forward', step=0.5) on gradient:energy" in out
    assert "2 of 3 checks passed" in out


def test_bench_pivots_backends_by_operators(
    user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "bench",
        "--function",
        f"{user_module}:stretch",
        "--x",
        "4",
        "--backends",
        "fd,fd-forward",
        "--operator",
        "pushforward,jacobian",
    ]
    assert _main.main(argv) == 0
    out = capsys.readouterr().out
    _fits(out)
    lines = out.splitlines()
    assert lines[0] == "time per prepared call:"
    assert lines[1].split() == ["backend", "push", "jac"]
    assert lines[3].startswith("fd ")
    assert lines[5].startswith("fd-forward ")
    ratios = lines[4].split() + lines[6].split()
    assert "1.0x" in ratios  # the fastest of each operator
    assert all(r.endswith("x") and float(r[:-1]) >= 1.0 for r in ratios)
    assert "preparation time (engine import excluded):" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--function", "usermod:nothere", "--x", "3"],
            "'usermod' has no attribute 'nothere'; its callables: energy, needs_six",
        ),
        (
            ["--function", "nomodule:f", "--x", "3"],
            "no module named 'nomodule'; run from the directory holding nomodule.py",
        ),
        (["--function", "usermod", "--x", "3"], "is not of the form module:callable"),
        (["--function", "usermod:NOT_CALLABLE", "--x", "3"], "is an int, not a callable"),
        (
            ["--function", "usermod:needs_six", "--x", "5"],
            "f rejected x of shape (5,) and dtype float64: ValueError",
        ),
        (["--function", "usermod:returns_text", "--x", "5"], "f(x) returned 'str', not an array"),
        (["--function", "usermod:energy", "--x", "5x?"], "--x '5x?' is not a shape"),
        (["--function", "usermod:energy"], "--function needs --x SHAPE"),
        (
            ["--function", "usermod:stretch", "--x", "4", "--operator", "gradient"],
            "gradient needs f(x) to be 0-d; f(x) has shape (3,)",
        ),
        (["--operator", "laplacian"], "unknown operator 'laplacian'; choose among pushforward"),
        (["--backends", "fd,jacks"], "unknown backend 'jacks'; choose among fd"),
    ],
)
def test_bad_input_is_one_line_with_status_2(
    user_module: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main.main(["check", "--backends", "fd", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_bad_input_prints_no_traceback_from_the_shell(tmp_path: Path) -> None:
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "differentiation_interface",
            "bench",
            "--function",
            "usermod:needs_six",
            "--x",
            "4",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: f rejected x of shape (4,)")


def test_the_default_check_fits_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert _main.main(["check", "--backends", "fd,fd-forward,fd-over-fd"]) == 0
    out = capsys.readouterr().out
    _fits(out)
    assert "…" not in out  # nothing had to be clipped
    header = out.splitlines()[1].split()
    assert header == ["backend", "push", "pull", "deriv", "grad", "jac", "d2", "hvp", "hess"]


def test_preparation_time_excludes_the_engine_import() -> None:
    from differentiation_interface.testing import _benchmark

    imported: list[object] = []
    real = _benchmark.engine_for

    def spy(backend: Any) -> Any:
        imported.append(backend)
        return real(backend)

    s = default_scenarios()[0]
    original, _benchmark.engine_for = _benchmark.engine_for, spy
    try:
        rows = benchmark_differentiation(di.AutoFiniteDiff(), [s], rounds=1, min_time=1e-4)
    finally:
        _benchmark.engine_for = original
    assert imported == [di.AutoFiniteDiff()]  # imported before the preparation was timed
    assert rows[0].preparation_seconds > 0


def test_progress_bar_is_quiet_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from differentiation_interface.testing._progress import progress_bar

    with progress_bar(3, "timing", delay=0.0) as advance:  # pytest's streams: no terminal
        advance("fd")
    assert capsys.readouterr().err == ""
    stream = io.StringIO()
    with progress_bar(4, "timing", enabled=True, stream=stream, delay=0.0) as advance:
        advance("fd gradient")
        advance("jax gradient")
    drawn = stream.getvalue()
    assert "timing [" in drawn
    assert "2/4 jax gradient" in drawn
    assert drawn.endswith("\r")  # erased at the end
    stream = io.StringIO()
    with progress_bar(4, "timing", enabled=True, stream=stream, delay=60.0) as advance:
        advance("fd")  # a short run: nothing drawn during the first second (here minute)
    assert stream.getvalue() == ""
