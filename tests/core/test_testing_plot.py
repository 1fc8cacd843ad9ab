"""``di.plot_sparsity`` and ``bench --plot``: the pictures hold what they claim."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import differentiation_interface as di
from differentiation_interface._cli import _main

matplotlib = pytest.importorskip("matplotlib")  # the [plot] extra; part of the test extra
matplotlib.use("Agg")

N = 9
BACKGROUND = (245, 245, 245)


def _tridiagonal(x: Any) -> Any:
    from array_api_compat import array_namespace

    xp = array_namespace(x)
    zero = xp.zeros(1, dtype=x.dtype)
    padded = xp.concat([zero, x, zero])
    return padded[:-2] - 2.0 * x + padded[2:] + x**2


def _pixels(ax: Any) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def _expected_pattern() -> np.ndarray:
    i, j = np.indices((N, N))
    return np.abs(i - j) <= 1  # closed form of the tridiagonal pattern


def test_a_column_colored_jacobian_paints_each_nonzero_with_its_columns_color() -> None:
    import matplotlib.pyplot as plt

    prep = di.prepare_jacobian(_tridiagonal, di.AutoSparse(di.AutoFiniteDiff()), np.zeros(N))
    ax = di.plot_sparsity(prep)
    image = _pixels(ax)
    pattern = _expected_pattern()
    assert image.shape == (N, N, 3)
    np.testing.assert_array_equal(np.all(image == BACKGROUND, axis=-1), ~pattern)
    for j in range(N):  # one shade per column, and columns of one color share a shade
        shades = {tuple(image[i, j]) for i in range(N) if pattern[i, j]}
        assert len(shades) == 1
    shade_of = {int(c): tuple(image[j, j]) for j, c in enumerate(prep.colors)}
    assert len(set(shade_of.values())) == prep.ncolors == 3
    for i in range(N):  # structural orthogonality, visible: no row repeats a shade
        row = [tuple(image[i, j]) for j in range(N) if pattern[i, j]]
        assert len(row) == len(set(row))
    assert (
        ax.get_title() == f"Jacobian sparsity, {N} x {N}\n{3 * N - 2} nonzeros, 3 colors (columns)"
    )
    plt.close(ax.figure)


def test_a_row_colored_jacobian_paints_by_rows_on_given_axes() -> None:
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    # What a reverse-mode AutoSparse preparation exposes: a row coloring.
    rows = np.arange(N) % 3
    prep = SimpleNamespace(
        sparsity=_expected_pattern(), colors=rows, partition="row", operator="jacobian"
    )
    ax = Figure().subplots()
    assert di.plot_sparsity(prep, ax) is ax
    image, pattern = _pixels(ax), _expected_pattern()
    for i in range(N):  # one shade per row
        assert len({tuple(image[i, j]) for j in range(N) if pattern[i, j]}) == 1
    for j in range(N):  # no column repeats a shade
        column = [tuple(image[i, j]) for i in range(N) if pattern[i, j]]
        assert len(column) == len(set(column))
    assert ax.get_title().endswith("3 colors (rows)")
    # A bare pattern without colors: every nonzero is one dark shade.
    plain = _pixels(di.plot_sparsity(pattern.astype(float), Figure().subplots()))
    assert {tuple(p) for p in plain[pattern]} == {(40, 40, 40)}
    assert {tuple(p) for p in plain[~pattern]} == {BACKGROUND}


def test_plot_sparsity_refuses_colors_of_the_wrong_length() -> None:
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match=r"4 colors for a pattern with 9 columns"):
        di.plot_sparsity(_expected_pattern(), Figure().subplots(), colors=[0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"takes a 2-D pattern"):
        di.plot_sparsity(np.ones(3), Figure().subplots())


def test_without_matplotlib_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "differentiation-interface\[plot\]"'):
        di.plot_sparsity(_expected_pattern())
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    plot = str(tmp_path / "b.png")
    assert _main.main(["bench", "--backends", "fd", "--plot", plot]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_bench_plot_writes_a_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib.image

    (tmp_path / "plotmod.py").write_text("def f(x):\n    return (x**2).sum()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        plot = tmp_path / "bench.png"
        argv = [
            "bench",
            "--function",
            "plotmod:f",
            "--x",
            "3",
            "--backends",
            "fd,fd-forward",
            "--operator",
            "gradient,hessian",
            "--plot",
            str(plot),
        ]
        assert _main.main(argv) == 0
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("plotmod", None)
    assert f"wrote {plot}" in capsys.readouterr().out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(str(plot)).shape
    assert width >= 600
    assert height >= 600
