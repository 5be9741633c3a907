"""Where lattice nested dissection cuts (srchain.gth.dissection): each cut near the middle of its box, moved to where
the chain's jumps across it are shortest. The widths must be those of the entries themselves, the cut the thinnest
within the window (the middle wherever the widths tie), and on a format's grid, whose middle falls on a binade's end
where the finer side jumps farther, the root separator must be one slab thick where the middle's is two, with less
factor work and the same law."""

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.grids import Grid
from srchain.gth import offdiag, sparse_gth
from srchain.gth.csr import relabel_split
from srchain.gth.dissection import (
    CUT_SLACK,
    LATTICE_LEAF,
    _cut_at,
    _cut_widths,
    axis_max_jumps,
    lattice_nested_dissection,
)
from srchain.gth.multifrontal import Rates, Tree, symbolic_fronts
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem


def _strides(shape):
    return np.array([int(np.prod(shape[a + 1 :])) for a in range(len(shape))], dtype=np.int64)


@pytest.mark.parametrize("shape, seed", [((13, 9), 0), ((7, 5, 6), 1), ((40,), 2)])
def test_the_widths_are_the_entries_own(shape, seed):
    """Against every entry (not only each state's farthest two per axis): R(x) the farthest slab at or right of
    the cut ``x`` that an entry crossing it reaches, L(x) the same on the left; widths min(R, L), reach max."""
    rng = np.random.default_rng(seed)
    shape = np.array(shape, dtype=np.int64)
    n = int(np.prod(shape))
    coords = np.stack(np.unravel_index(np.arange(n), tuple(shape)), axis=1)
    rows, cols = [], []
    for i in range(n):  # each state: a few entries within ±3 cells per axis
        for _ in range(rng.integers(0, 5)):
            c = np.clip(coords[i] + rng.integers(-3, 4, size=shape.size), 0, shape - 1)
            j = int(np.ravel_multi_index(tuple(c), tuple(shape)))
            if j != i:
                rows.append(i)
                cols.append(j)
    G = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    G.sum_duplicates()
    widths, reach = _cut_widths(G.indptr, G.indices, shape, _strides(shape))
    R = np.zeros_like(widths)
    L = np.zeros_like(widths)
    coo = G.tocoo()
    for i, j in zip(coo.row, coo.col, strict=True):
        for a in range(shape.size):
            lo, hi = sorted((coords[i, a], coords[j, a]))
            for x in range(lo + 1, hi + 1):
                R[a, x] = max(R[a, x], hi - x + 1)
                L[a, x] = max(L[a, x], x - lo)
    assert np.array_equal(widths, np.minimum(R, L))
    assert np.array_equal(reach, np.maximum(R, L))
    # and the longest jump per axis (the cut axis is chosen in its units)
    jumps = np.abs(coords[coo.row] - coords[coo.col]).max(axis=0)
    assert np.array_equal(axis_max_jumps(G.indptr, G.indices, shape), jumps)


def test_the_cut_is_the_thinnest_near_the_middle():
    lo, hi = 0, 64
    mid, s = 32, 64 // CUT_SLACK  # the window: 32 ± 8
    flat = np.full((1, 65), 3, dtype=np.int64)
    short = np.ones((1, 65), dtype=np.int64)
    assert _cut_at(flat, short, 0, lo, hi) == mid  # the widths tie: the middle
    w = flat.copy()
    w[0, mid + 5] = 1
    w[0, mid - 6] = 2
    assert _cut_at(w, short, 0, lo, hi) == mid + 5  # the least within the window, however far
    w[0, mid - 5] = 1
    assert _cut_at(w, short, 0, lo, hi) == mid - 5  # of two as near, the lower
    w[0, mid + 2] = 1
    assert _cut_at(w, short, 0, lo, hi) == mid + 2  # of two as thin, the nearer
    far = flat.copy()
    far[0, mid + s + 1] = 1
    far[0, mid - s - 1] = 1
    assert _cut_at(far, short, 0, lo, hi) == mid  # outside the window
    long = short.copy()
    long[0, mid] = s + 1
    assert _cut_at(w, long, 0, lo, hi) == mid  # jumps as long as the window at the middle: no move
    long = short.copy()
    long[0, mid + 2] = s + 1
    assert _cut_at(w, long, 0, lo, hi) == mid - 5  # a candidate whose jumps are that long is passed over


def test_the_cut_axis_is_the_longest_in_units_of_the_jumps():
    """A 40 × 30 lattice whose chain jumps up to 3 cells along axis 0 and 1 along axis 1: in units of its jumps
    axis 1 is the longer (30 against 40/3), and cutting it takes one slab of 40 cells, against three of 30 across
    axis 0 (the longest axis, where every cut is at the middle)."""
    shape = (40, 30)
    n = shape[0] * shape[1]
    i, j = np.unravel_index(np.arange(n), shape)
    rows, cols = [], []
    for di, dj in [(d, 0) for d in (-3, -2, -1, 1, 2, 3)] + [(0, -1), (0, 1)]:
        ok = (i + di >= 0) & (i + di < shape[0]) & (j + dj >= 0) & (j + dj < shape[1])
        rows.append(np.flatnonzero(ok))
        cols.append(np.ravel_multi_index((i[ok] + di, j[ok] + dj), shape))
    G = sp.csr_matrix((np.ones(sum(r.size for r in rows)), (np.concatenate(rows), np.concatenate(cols))), (n, n))
    shp = np.array(shape, dtype=np.int64)
    for thin, axis, cells in ((True, 1, 40), (False, 0, 90)):
        newpos, s0, s1, _ = lattice_nested_dissection(shp, G.indptr, G.indices, LATTICE_LEAF, thin)
        root = np.unravel_index(np.flatnonzero((newpos >= s0[-1]) & (newpos < s1[-1])), shape)
        assert root[0].size == cells and np.unique(root[axis]).size == cells // shape[1 - axis]


@pytest.fixture(scope="module")
def binade_end():
    """bf16 on [1/16, 1/4]²: 257 values per axis, the middle value (128) is 1/8, where the spacing doubles. At
    α = 5e-5 (σ = 2) the kept moves reach about 7.6e-4: across 1/8 from the finer side (gaps 2^-11) they land two
    values on, from the coarser (2^-10) one."""
    grid = Grid.of("bf16", (1 / 16, 1 / 4), dim=2)
    problem = get_problem("separable", dim=2, domain=(1 / 16, 1 / 4))
    P = transition_matrix(problem, make_noise("gaussian", sigma=2.0), grid, 5e-5).P.tocsr()
    return P, grid


def _tree(P, shape, thin_cuts):
    G = offdiag(P)
    shp = np.asarray(shape, dtype=np.int64)
    newpos, s0, s1, nch = lattice_nested_dissection(shp, G.indptr, G.indices, LATTICE_LEAF, thin_cuts)
    rates = Rates(*relabel_split(G.indptr, G.indices, G.data, newpos, s0, s1))
    front_ptr, _ = symbolic_fronts(Tree(s0, s1, nch), rates)
    m = np.diff(front_ptr).astype(float)
    work = float((m * m * (s1 - s0)).sum())
    root = np.flatnonzero((newpos >= s0[-1]) & (newpos < s1[-1]))
    return np.unravel_index(root, tuple(shp)), work


def test_a_cut_moves_off_a_binade_end(binade_end):
    P, grid = binade_end
    side = grid.shape[0]
    (i, j), work = _tree(P, grid.shape, True)
    (i0, j0), work0 = _tree(P, grid.shape, False)
    assert np.unique(i0).tolist() in ([127, 128], [128, 129], [126, 127]) and j0.size == 2 * side  # the middle: two
    assert np.unique(i).size == 1 and i[0] != side // 2 and j.size == side  # one slab, off the middle
    assert abs(int(i[0]) - side // 2) <= (side - 1) // CUT_SLACK
    assert work < 0.95 * work0


def test_the_separators_separate_and_the_law_is_the_same(binade_end, monkeypatch):
    """Every entry joins a node's states to the same node, an ancestor or a descendant (no two sibling subtrees,
    which are factored apart); and the law in the thin cuts' order is the law in the middle cuts' order, entry by
    entry: two GTH eliminations, each to GTH's entrywise accuracy (O'Cinneide), so they agree far below the 1e-10
    of tests/test_stationary.py's sparse-against-dense checks, and a separator that let an entry through would not."""
    import srchain.gth.sparse as sparse
    from srchain.gth import subtree_sizes

    P, grid = binade_end
    G = offdiag(P)
    shp = np.asarray(grid.shape, dtype=np.int64)
    newpos, s0, s1, nchild = lattice_nested_dissection(shp, G.indptr, G.indices, LATTICE_LEAF)
    node_of = np.searchsorted(s1, newpos, side="right")
    first = np.arange(nchild.size) - subtree_sizes(nchild) + 1  # subtree of t: the postorder range [first[t], t]
    coo = G.tocoo()
    a, b = node_of[coo.row], node_of[coo.col]
    assert np.all(first[np.maximum(a, b)] <= np.minimum(a, b))
    thin = sparse_gth(P, shape=grid.shape)
    real = sparse.lattice_nested_dissection
    monkeypatch.setattr(sparse, "lattice_nested_dissection", lambda *args: real(*args, False))
    middle = sparse_gth(P, shape=grid.shape)
    assert not np.array_equal(thin, middle)  # (another order: not the same rounding)
    big = middle > 1e-250
    assert np.max(np.abs(thin[big] / middle[big] - 1)) < 1e-10
