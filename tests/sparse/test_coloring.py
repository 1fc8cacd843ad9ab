"""Colorings: structural validity on random patterns (hypothesis), optimality, decompression."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from differentiation_interface.sparse import _coloring as C
from differentiation_interface.sparse._coloring import ORDERS, kernels, vertex_order

SETTINGS = settings(max_examples=60, deadline=None)
ORIGINAL_THRESHOLD = kernels.COMPILED_ABOVE


@st.composite
def patterns(draw: Any, *, square: bool = False, symmetric: bool = False) -> Any:
    m = draw(st.integers(1, 12))
    n = m if square or symmetric else draw(st.integers(1, 12))
    density = draw(st.floats(0.0, 0.6))
    seed = draw(st.integers(0, 2**31 - 1))
    dense = np.random.default_rng(seed).random((m, n)) < density
    if symmetric:
        dense = dense | dense.T
    return sp.csr_array(dense)


def _colors(kind: str, graph: Any, order: str) -> Any:
    order_list = vertex_order(order, *graph, seed=1)
    if kind == "column":
        return np.asarray(C.column_coloring(graph, order_list))
    if kind == "star":
        return np.asarray(C.star_coloring(graph, order_list))
    colors, edges, trees = C.acyclic_coloring(graph, order_list)
    return np.asarray(colors), edges, trees


def _structurally_orthogonal(pattern: Any, colors: Any) -> bool:
    """No row has nonzeros in two columns of one color."""
    dense = pattern.toarray()
    for row in dense:
        used = colors[np.nonzero(row)[0]]
        if len(used) != len(set(used.tolist())):
            return False
    return True


def _adjacent(dense: np.ndarray) -> np.ndarray:
    adjacency = dense | dense.T
    np.fill_diagonal(adjacency, False)
    return adjacency


@SETTINGS
@given(patterns(), st.sampled_from(ORDERS))
def test_column_and_row_colorings_are_structurally_orthogonal(pattern: Any, order: str) -> None:
    colors = _colors("column", C.column_graph(pattern), order)
    assert _structurally_orthogonal(pattern, colors)
    row_colors = _colors("column", C.column_graph(pattern.T.tocsr()), order)
    assert _structurally_orthogonal(pattern.T.tocsr(), row_colors)
    # Decompression reads every nonzero back from the compressed matrix exactly.
    values = sp.csr_array(pattern.astype(float))
    values.data = np.random.default_rng(0).standard_normal(values.nnz)
    ncolors = int(colors.max()) + 1 if colors.size else 0
    compressed = C.seeds(colors, ncolors) @ values.toarray().T  # row c: J s_c
    assert np.array_equal(compressed.reshape(-1)[C.column_index(pattern, colors)], values.data)
    rows = (
        C.seeds(row_colors, int(row_colors.max()) + 1 if row_colors.size else 0) @ values.toarray()
    )
    assert np.array_equal(rows.reshape(-1)[C.row_index(pattern, row_colors)], values.data)


@SETTINGS
@given(patterns(symmetric=True), st.sampled_from(ORDERS))
def test_star_colorings_color_every_path_on_four_vertices_with_three_colors(
    pattern: Any, order: str
) -> None:
    colors = _colors("star", C.symmetric_graph(pattern), order)
    adjacency = _adjacent(pattern.toarray())
    n = adjacency.shape[0]
    assert not np.any(adjacency & (colors[:, None] == colors[None, :]))  # proper
    for a, b, c, d in itertools.permutations(range(n), 4):
        if adjacency[a, b] and adjacency[b, c] and adjacency[c, d]:
            assert len({colors[a], colors[b], colors[c], colors[d]}) >= 3, (a, b, c, d)
    _check_direct_decompression(pattern, colors)


def _symmetric_values(pattern: Any) -> Any:
    upper = sp.triu(pattern.astype(float), format="csr")
    upper.data = np.random.default_rng(1).standard_normal(upper.nnz)
    full = (upper + sp.triu(upper, k=1, format="csr").T).tocsr()
    full.sort_indices()
    return full


def _check_direct_decompression(pattern: Any, colors: Any) -> None:
    values = _symmetric_values(pattern)
    ncolors = int(colors.max()) + 1 if colors.size else 0
    compressed = C.seeds(colors, ncolors) @ values.toarray()  # row c: H s_c
    got = compressed.reshape(-1)[C.star_index(pattern, colors)]
    assert np.allclose(got, values.toarray()[pattern.nonzero()], rtol=0, atol=1e-12)


def _forest(n: int, edges: list[tuple[int, int]]) -> bool:
    parent = list(range(n))

    def find(v: int) -> int:
        while parent[v] != v:
            v = parent[v]
        return v

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        parent[ra] = rb
    return True


@SETTINGS
@given(patterns(symmetric=True), st.sampled_from(ORDERS))
def test_acyclic_colorings_make_every_two_colored_subgraph_a_forest(
    pattern: Any, order: str
) -> None:
    colors, edges, trees = _colors("acyclic", C.symmetric_graph(pattern), order)
    adjacency = _adjacent(pattern.toarray())
    n = adjacency.shape[0]
    assert not np.any(adjacency & (colors[:, None] == colors[None, :]))
    for c1, c2 in itertools.combinations(sorted(set(colors.tolist())), 2):
        chosen = [(a, b) for a, b in zip(*np.nonzero(np.triu(adjacency)), strict=True)
                  if {colors[a], colors[b]} == {c1, c2}]  # fmt: skip
        assert _forest(n, chosen)
    # Substitution recovers the values exactly (up to rounding).
    values = _symmetric_values(pattern)
    ncolors = int(colors.max()) + 1 if colors.size else 0
    compressed = C.seeds(colors, ncolors) @ values.toarray()
    got = C.substitution(pattern, colors, edges, trees)(compressed)
    assert np.allclose(got, values.toarray()[pattern.nonzero()], atol=1e-9)


def _tridiagonal(n: int) -> Any:
    return sp.csr_array(sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(n, n), dtype=bool))


def _stencil(k: int) -> Any:
    one = sp.diags_array([1, 1, 1], offsets=[-1, 0, 1], shape=(k, k), dtype=bool)
    eye = sp.eye_array(k, dtype=bool)
    return sp.csr_array((sp.kron(eye, one) + sp.kron(one, eye)).astype(bool))


@pytest.mark.parametrize("order", ORDERS[:1] + ORDERS[2:])
def test_banded_colorings_are_optimal(order: str) -> None:
    pattern = _tridiagonal(50)
    assert _colors("column", C.column_graph(pattern), order).max() + 1 == 3
    assert _colors("star", C.symmetric_graph(pattern), order).max() + 1 == 3
    assert _colors("acyclic", C.symmetric_graph(pattern), order)[0].max() + 1 == 2


def test_five_point_stencil_reaches_five_colors() -> None:
    pattern = _stencil(30)
    graph = C.column_graph(pattern)
    largest_first = _colors("column", graph, "largest_first").max() + 1
    colors, best, counts = C.best_coloring("column", graph, ("largest_first", "saturation"), seed=0)
    assert largest_first == 7  # the greedy classic ...
    assert max(colors) + 1 == 5
    assert best == "saturation"
    assert counts == {"largest_first": 7, "saturation": 5}
    star = _colors("star", C.symmetric_graph(pattern), "largest_first")
    assert star.max() + 1 == 5


def test_best_of_several_orders_keeps_the_fewest_colors() -> None:
    pattern = _stencil(10)
    graph = C.column_graph(pattern)
    _, best, counts = C.best_coloring("column", graph, ORDERS, seed=0)
    assert counts[best] == min(counts.values())
    assert list(counts) == list(ORDERS)


def test_random_order_is_reproducible() -> None:
    graph = C.column_graph(_stencil(8))
    first = _colors("column", graph, "random")
    assert np.array_equal(first, _colors("column", graph, "random"))


def test_coloring_10_to_the_5_banded_columns() -> None:
    """Large enough for the compiled loops where numba is installed (speed: benchmarks)."""
    graph = C.column_graph(_tridiagonal(100_000))
    colors, _, _ = C.best_coloring("column", graph, ("largest_first",), seed=0)
    assert max(colors) + 1 == 3


def test_an_order_reaching_the_lower_bound_ends_the_search() -> None:
    """A row of the stencil holds 5 nonzeros: 5 colors cannot be beaten, so the orders after
    the one reaching it are not tried."""
    graph = C.column_graph(_stencil(20))
    assert graph.clique == 5
    _, best, counts = C.best_coloring("column", graph, ("saturation", "largest_first"), seed=0)
    assert (best, counts) == ("saturation", {"saturation": 5})


def _arrowhead(n: int) -> Any:
    """Dense first row and column plus the diagonal."""
    rows = np.concatenate([np.zeros(n, dtype=np.int64), np.arange(n), np.arange(1, n)])
    cols = np.concatenate([np.arange(n), np.arange(n), np.zeros(n - 1, dtype=np.int64)])
    return sp.csr_array((np.ones(rows.shape[0], dtype=bool), (rows, cols)), shape=(n, n))


@pytest.fixture(params=["python", "compiled"])
def loops(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the Python loops, then with the compiled ones (numba) at every size."""
    if request.param == "compiled":
        pytest.importorskip("numba", reason="the compiled loops need numba ([sparse] extra)")
        monkeypatch.setattr(kernels, "COMPILED_ABOVE", 0)
    else:
        monkeypatch.setattr(kernels, "COMPILED_ABOVE", 2**62)
    return str(request.param)


def test_a_dense_row_needs_no_quadratic_table(loops: str) -> None:
    """DSATUR's keys reach n**2 when one vertex meets all others (an arrowhead Hessian): a
    table of buckets per key would take gigabytes at n = 20000; the orders keep a heap."""
    n = 20_000
    graph = C.symmetric_graph(_arrowhead(n))
    order = vertex_order("saturation", *graph)
    assert order[0] == 0  # the hub: the largest degree
    colors = C.star_coloring(graph, order)
    assert colors.max() + 1 == 2  # a star: the hub, then every leaf


def test_the_heap_pops_what_the_compiled_heap_pops() -> None:
    """Dense rows take the heaps; both break ties alike (the bucket path is compared on
    random patterns below)."""
    pytest.importorskip("numba", reason="the compiled loops need numba ([sparse] extra)")
    extra = np.random.default_rng(5).random((400, 400)) < 0.005
    pattern = _arrowhead(400) + sp.csr_array(extra | extra.T)  # one hub, few other edges ...
    graph = C.symmetric_graph(pattern)
    ptr, adj = graph
    orders = []
    for threshold in (2**62, 0):
        kernels.COMPILED_ABOVE = threshold
        try:
            orders.append(vertex_order("saturation", ptr, adj))
        finally:
            kernels.COMPILED_ABOVE = ORIGINAL_THRESHOLD
    stride = int(np.diff(ptr).max()) + 1
    assert stride * (stride + 1) > 8 * (len(ptr) - 1 + len(adj))  # ... so: the heaps
    np.testing.assert_array_equal(orders[1], orders[0])


@SETTINGS
@given(patterns(), st.sampled_from(ORDERS))
def test_compiled_loops_compute_what_the_python_loops_compute(pattern: Any, order: str) -> None:
    """Tie for tie: the same order, graph and colors with numba's loops as without."""
    pytest.importorskip("numba", reason="the compiled loops need numba ([sparse] extra)")
    results = []
    for threshold in (2**62, 0):
        kernels.COMPILED_ABOVE = threshold
        try:
            graph = C.column_graph(pattern)
            found = vertex_order(order, *graph, seed=3)
            results.append((graph[0], graph[1], found, C.column_coloring(graph, found)))
        finally:
            kernels.COMPILED_ABOVE = ORIGINAL_THRESHOLD
    for python, compiled in zip(*results, strict=True):
        np.testing.assert_array_equal(compiled, python)


def test_empty_patterns() -> None:
    empty = sp.csr_array((3, 4), dtype=bool)
    colors = _colors("column", C.column_graph(empty), "natural")
    assert colors.tolist() == [0, 0, 0, 0]
    assert C.column_index(empty, colors).shape == (0,)


def test_invalid_colorings_are_refused() -> None:
    pattern = _tridiagonal(4)
    with pytest.raises(C.ColoringError):
        C.column_index(pattern, np.zeros(4, dtype=np.int64))
    with pytest.raises(C.ColoringError):
        C.star_index(pattern, np.array([0, 1, 0, 1]))  # a two-colored path on 4 vertices


def test_unknown_order_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown vertex order"):
        vertex_order("fastest", [0, 0], [])
