"""The sparse GTH's memory cuts keep the law's bits: rates relabelled once, only the top of the factor kept
(the cut subtrees factored again in back-substitution), update stacks allocated at their depth.

The reference is the previous solver, kept verbatim in ``tests/_gth_reference.py`` (a matrix and its full
transpose, the whole factor, doubling stacks, one thread); the laws must agree to the last bit whatever the budget
for the kept factor and the thread count. The dense GTH, an independent elimination order, checks the law itself.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.errors import SrchainError
from srchain.gth import dense_gth, offdiag, sparse_gth
from srchain.gth.csr import relabel_split
from srchain.gth.dissection import LATTICE_LEAF, lattice_nested_dissection
from srchain.gth.multifrontal import Rates, Tree, subtree_sizes, symbolic_fronts
from srchain.gth.sparse import keep_plan
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from tests._gth_reference import sparse_gth_reference


def _chain(problem: str, side: int, alpha: float):
    prob = get_problem(problem, dim=2, coupling=1.0 if problem == "coupled" else None)
    lat = Lattice.from_domain(14.0 / (side - 1), (-4.0, 10.0), 2)
    return transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha).P, lat.shape


def _tree(P, shape):
    G = offdiag(P)
    shp = np.asarray(shape, dtype=np.int64)
    newpos, s0, s1, nch = lattice_nested_dissection(shp, G.indptr, G.indices, LATTICE_LEAF)
    return G, newpos, Tree(s0, s1, nch)


@pytest.fixture(scope="module")
def coupled():
    # 120 × 120 = 14,400 states, jumps of up to 7 cells: a tree of 1023 fronts, 4.4e6 factor entries
    return _chain("coupled", 120, 0.02)


@pytest.fixture(scope="module")
def coupled_law(coupled):
    """The previous solver's law of the ``coupled`` chain."""
    return sparse_gth_reference(*coupled)


@pytest.fixture
def cuts(monkeypatch):
    """The cut subtrees each solve factored again (a list of their counts, one per solve)."""
    import srchain.gth.sparse as sparse

    seen = []
    real = sparse._refactor_and_solve

    def spy(tree, rates, front_ptr, front_idx, block, cut, *rest):
        seen.append(int(cut.size))
        return real(tree, rates, front_ptr, front_idx, block, cut, *rest)

    monkeypatch.setattr(sparse, "_refactor_and_solve", spy)
    return seen


def _factor_entries(P, shape) -> int:
    G, newpos, tree = _tree(P, shape)
    rates = Rates(*relabel_split(G.indptr, G.indices, G.data, newpos, tree.own_start, tree.own_end))
    front_ptr, _ = symbolic_fronts(tree, rates)
    return int((np.diff(front_ptr) * (tree.own_end - tree.own_start)).sum())


@pytest.mark.parametrize("share", [None, 0.5, 0.2, 0.05, 0.0])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_law_has_the_bits_of_the_previous_solver_whatever_the_kept_share(coupled, coupled_law, cuts, share, threads):
    P, shape = coupled
    want = coupled_law
    budget = None if share is None else share * 8.0 * _factor_entries(P, shape)
    got = sparse_gth(P, shape=shape, threads=threads, factor_bytes=budget)
    assert got.tobytes() == want.tobytes()
    assert (cuts == []) if share is None else (cuts[0] >= 1)  # the default budget keeps this factor whole


@pytest.mark.parametrize("problem,side,alpha", [("separable", 90, 0.05), ("coupled", 50, 0.2)])
def test_same_bits_on_other_chains_and_the_graph_ordering(cuts, problem, side, alpha):
    P, shape = _chain(problem, side, alpha)
    for shp in (shape, None):  # lattice nested dissection, then the generic graph ordering
        want = sparse_gth_reference(P, shp)
        for budget in (None, 8.0 * 200_000, 0.0):
            got = sparse_gth(P, shape=shp, threads=2, factor_bytes=budget)
            assert got.tobytes() == want.tobytes(), (shp, budget)
    assert len(cuts) == 4 and min(cuts) >= 1


def test_a_basin_behind_a_deep_barrier_keeps_its_bits_whatever_the_budget(cuts):
    # the censored rates over this barrier leave float64's range: the chain is factored with an exponent per entry
    # (srchain.gth.extended, every block kept, so no subtree is factored again), the same law whatever the budget
    # and the thread count, and the previous solver's law (right on this chain) to GTH's relative accuracy
    from tests.test_gth_edges import _barrier_lattice

    A = _barrier_lattice(33, 31, 8).tocsr()
    want = sparse_gth_reference(A, (33, 31))
    laws = [sparse_gth(A, shape=(33, 31), threads=t, factor_bytes=b) for t in (1, 2) for b in (None, 8.0 * 5000, 0.0)]
    assert all(law.tobytes() == laws[0].tobytes() for law in laws)
    assert cuts == []
    np.testing.assert_allclose(laws[0], want, rtol=1e-12, atol=1e-290)


def test_the_refactored_law_is_the_dense_gth_law(coupled):
    # an independent elimination order (one dense front): agreement to the relative accuracy of GTH, whose
    # componentwise error is O(n·eps) (O'Cinneide 1993); with n = 900 here, 1e-11 leaves a factor > 50 of room
    P, shape = _chain("coupled", 30, 0.05)
    pi = sparse_gth(P, shape=shape, threads=2, factor_bytes=0.0)
    np.testing.assert_allclose(pi, dense_gth(P), rtol=1e-11, atol=0)


def test_split_rates_hold_each_rate_once_where_its_front_reads_it(coupled):
    P, shape = coupled
    G, newpos, tree = _tree(P, shape)
    optr, oind, odat, tptr, tind, tdat = relabel_split(
        G.indptr, G.indices, G.data, newpos, tree.own_start, tree.own_end
    )
    n = P.shape[0]
    out = sp.csr_matrix((odat, oind, optr), shape=(n, n))
    into = sp.csr_matrix((tdat, tind, tptr), shape=(n, n)).T  # row c of the second holds B[r, c]
    assert out.nnz + into.nnz == G.nnz
    perm = np.empty(n, dtype=np.int64)
    perm[newpos] = np.arange(n)
    B = G[perm][:, perm]  # B[newpos[i], newpos[j]] = G[i, j]
    assert abs(out + into - B).max() == 0
    # row r's rates out go to its own node or later; the others come from beyond the node of their column
    first = np.repeat(tree.own_start, tree.own_end - tree.own_start)
    last = np.repeat(tree.own_end, tree.own_end - tree.own_start)
    o = out.tocoo()
    assert np.all(o.col >= first[o.row])
    i = sp.coo_matrix(into)
    assert np.all(i.row >= last[i.col])
    assert np.all(np.diff(tind[tptr[0] : tptr[-1]])[np.diff(np.repeat(np.arange(n), np.diff(tptr))) == 0] > 0)


def test_keep_plan_keeps_the_top_of_the_tree_within_the_budget(coupled):
    P, shape = coupled
    G, newpos, tree = _tree(P, shape)
    rates = Rates(*relabel_split(G.indptr, G.indices, G.data, newpos, tree.own_start, tree.own_end))
    front_ptr, _ = symbolic_fronts(tree, rates)
    block = np.diff(front_ptr) * (tree.own_end - tree.own_start)
    nch = tree.nchild
    nt = nch.size
    size = subtree_sizes(nch)
    parent = np.full(nt, -1)
    for t in range(nt):
        c = t - 1
        for _ in range(int(nch[t])):
            parent[c] = t
            c -= size[c]
    total = int(block.sum())
    ptr, cuts = keep_plan(nch, block, total)  # all fits: every block, in postorder
    assert cuts.size == 0 and np.array_equal(ptr, np.cumsum(block) - block)
    for budget in (0.6 * total, 0.2 * total, 0.0):
        ptr, cuts = keep_plan(nch, block, budget)
        kept = ptr >= 0
        assert block[kept].sum() <= budget
        # kept blocks do not overlap
        order = np.argsort(ptr[kept])
        assert np.all(ptr[kept][order][1:] >= (ptr[kept] + block[kept])[order][:-1])
        # the parent of a kept node is kept; the cut subtrees and the kept nodes partition the tree
        assert np.all(kept[parent[kept & (parent >= 0)]])
        cover = kept.astype(int)
        for t in cuts:
            cover[t - size[t] + 1 : t + 1] += 1
            assert parent[t] < 0 or kept[parent[t]]
        assert np.all(cover == 1)
    assert keep_plan(nch, block, 0.0)[1].tolist() == [nt - 1]  # nothing kept: the whole tree is one cut


def test_max_bytes_shrinks_the_kept_factor_before_it_refuses(coupled, coupled_law, cuts):
    P, shape = coupled
    want = coupled_law
    full = 8.0 * _factor_entries(P, shape)
    # room for the rates, the workspaces (fronts of at most 1000 states here) and half the factor: the solve keeps
    # less than all of it and gives the same bits
    base = 12.0 * P.nnz + 4.0 * 4 * P.shape[0] + 48.0 * P.shape[0] + 2 * 8.0 * 1000**2
    got = sparse_gth(P, shape=shape, threads=2, max_bytes=base + full / 2)
    assert got.tobytes() == want.tobytes()
    assert cuts and cuts[0] >= 1
    with pytest.raises(SrchainError, match="max_memory is"):
        sparse_gth(P, shape=shape, threads=2, max_bytes=1e5)


def test_large_zeroed_arrays_come_from_their_own_mapping():
    """srchain._pages.zeros: float64 zeros, writable; from MAPPED_MIN bytes on in an anonymous mapping of its own
    (no MADV_HUGEPAGE, whose compaction stalled the first pass over bf16's dense core), below it NumPy's."""
    import mmap

    from srchain._pages import MAPPED_MIN, zeros

    small, large = zeros(1000), zeros(MAPPED_MIN // 8)
    for a, size in ((small, 1000), (large, MAPPED_MIN // 8)):
        assert a.dtype == np.float64 and a.shape == (size,) and a.flags.writeable
        a[-1] = 1.5
        assert a[-1] == 1.5 and a[:-1].max() == 0.0
    assert small.base is None and isinstance(large.base, memoryview) and isinstance(large.base.obj, mmap.mmap)


@pytest.mark.parametrize("budget", [None, 0.0])
def test_a_mapped_factor_gives_the_same_law(coupled, coupled_law, cuts, monkeypatch, budget):
    """The sparse GTH's factor comes from srchain._pages.zeros (its own mapping from MAPPED_MIN bytes on): with the
    threshold at 0 every factor (the kept one, or with a budget of 0 the subtrees' factored again) is mapped, and
    the law keeps its bits."""
    import mmap

    import srchain._pages as pages
    from srchain.gth import sparse

    mapped = []
    real = pages.zeros

    def spy(size):
        a = real(size)
        if size:  # (an empty one is NumPy's)
            mapped.append(isinstance(a.base, memoryview) and isinstance(a.base.obj, mmap.mmap))
        return a

    monkeypatch.setattr(pages, "MAPPED_MIN", 0)
    monkeypatch.setattr(sparse, "zeros", spy)
    P, shape = coupled
    got = sparse_gth(P, shape=shape, threads=2, factor_bytes=budget)
    assert got.tobytes() == coupled_law.tobytes()
    assert mapped and all(mapped) and (cuts != []) == (budget == 0.0)
