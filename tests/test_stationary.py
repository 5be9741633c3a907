"""Tests for srchain.stationary: GTH solvers, exact references on metastable chains, ergodicity checks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import spsolve

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import StationaryResult, birth_death_stationary, check_ergodic, is_birth_death, stationary, tv

FINE = 14.0 / 999  # the fine lattice: 1000 states on [-4, 10]


def toy_chain(delta=FINE, alpha=5e-4, sigma=2.0):
    """SR on objective (8), Gaussian noise: a birth–death chain for these settings (α·|g + ξ| < Δ up to 1e-14)."""
    lat = Lattice.from_domain(delta, (-4.0, 10.0), 1)
    return transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=sigma), lat, alpha).P, lat


@pytest.fixture(scope="module")
def fine():
    P, lat = toy_chain()
    assert is_birth_death(P)
    return P, lat, birth_death_stationary(P)


def log_pi_span_orders(P) -> float:
    """Orders of magnitude spanned by π, from detailed balance in log space (no underflow)."""
    i = np.arange(P.shape[0] - 1)
    logw = np.concatenate([[0.0], np.cumsum(np.log(P[i, i + 1].A1) - np.log(P[i + 1, i].A1))])
    return float((logw.max() - logw.min()) / np.log(10))


def naive_pinned(P, pin):
    """A linear solve of π(I − P) = 0 with π[pin] = 1: small residual, but not safe on metastable chains."""
    n = P.shape[0]
    M = (sp.identity(n, format="csr") - P).T.tocsr()
    keep = np.r_[0:pin, pin + 1 : n]
    x = spsolve(M[keep][:, keep].tocsc(), -M[keep, pin].toarray().ravel())
    pi = np.empty(n)
    pi[keep] = x
    pi[pin] = 1.0
    return pi / pi.sum()


# --------------------------------------------------------------------------------------------------------------
def test_birth_death_closed_form_small():
    # three states: π ∝ (1, p01/p10, p01 p12/(p10 p21))
    P = np.array([[0.7, 0.3, 0.0], [0.2, 0.5, 0.3], [0.0, 0.6, 0.4]])
    w = np.array([1.0, 0.3 / 0.2, 0.3 * 0.3 / (0.2 * 0.6)])
    assert np.allclose(birth_death_stationary(sp.csr_matrix(P)), w / w.sum(), rtol=1e-14, atol=0)


def test_fine_lattice_metastable_matches_closed_form(fine):
    P, lat, exact = fine
    assert log_pi_span_orders(P) > 300  # the chain this test exists for
    for method in ("auto", "gth-dense", "gth-sparse"):
        r = stationary(P, method=method)
        assert tv(r.pi, exact) < 1e-9, method
        assert np.all(np.isfinite(r.pi)) and r.pi.min() >= 0.0
        assert r.residual <= 1e-12
        assert r.underflow == int(np.sum(exact == 0.0)) > 0  # π spans > 308 orders: the tail underflows, and says so
    # relative accuracy on every representable entry above 1e-300
    big = exact > 1e-300
    r = stationary(P, method="gth-dense")
    assert np.max(np.abs(r.pi[big] / exact[big] - 1)) < 1e-10


def test_naive_pinned_solve_fails_where_gth_does_not(fine):
    """The issue's trap: pinned at the wrong basin (2.5), a linear solve returns a residual ~1e-15 and TV ~1."""
    P, lat, exact = fine
    wrong = int(lat.nearest([2.5]))
    pi_bad = naive_pinned(P, wrong)
    assert np.abs(P.T @ pi_bad - pi_bad).sum() < 1e-10  # looks converged...
    assert tv(pi_bad, exact) > 0.5  # ...but is the wrong basin
    assert tv(stationary(P).pi, exact) < 1e-9
    assert tv(stationary(P, method="gth-sparse").pi, exact) < 1e-9


def test_2d_product_with_fine_lattice_chain(fine):
    """A separable 2-D chain (fine 1000-state chain ⊗ a 40-state one): exact law is the product."""
    P, lat, exact = fine
    Q, _ = toy_chain(delta=14.0 / 39, alpha=0.02)
    q = stationary(Q).pi
    P2 = sp.kron(P, Q, format="csr")
    ex = np.kron(exact, q)
    for shape in ((1000, 40), None):  # slab and graph nested dissection
        r = stationary(P2, method="gth-sparse", shape=shape)
        assert tv(r.pi, ex) < 1e-9 and r.residual <= 1e-12 and r.pi.min() >= 0
    wrong = int(np.ravel_multi_index((lat.nearest([2.5])[()], int(np.argmax(q))), (1000, 40)))
    assert tv(naive_pinned(P2, wrong), ex) > 0.5


@pytest.mark.slow
def test_2d_product_of_fine_lattice_million_states(fine):
    """The issue's 2-D product (10^6 states) of the fine-lattice chain with itself."""
    P, lat, exact = fine
    P2 = sp.kron(P, P, format="csr")
    r = stationary(P2, shape=(1000, 1000))
    assert r.method == "gth-sparse"
    assert tv(r.pi, np.kron(exact, exact)) < 1e-9 and r.residual <= 1e-12


def test_separable_operator_is_product_of_1d_laws():
    lat = Lattice.from_domain(14.0 / 59, (-4.0, 10.0), 2)
    noise = make_noise("gaussian", sigma=2.0)
    P = transition_matrix(get_problem("separable", dim=2), noise, lat, 5e-3).P
    Q, _ = toy_chain(delta=14.0 / 59, alpha=5e-3)
    q = stationary(Q).pi
    r = stationary(P, shape=lat.shape)
    assert tv(r.pi, np.kron(q, q)) < 1e-10


def test_sparse_and_dense_agree_on_small_chains():
    rng = np.random.default_rng(3)
    Q, _ = toy_chain(delta=14.0 / 29, alpha=0.05)
    A = sp.random(30, 30, density=0.15, random_state=rng) + sp.diags(np.ones(29), 1) + sp.diags(np.ones(29), -1)
    A = sp.csr_matrix(A)
    A = sp.diags(1 / A.sum(axis=1).A1) @ A
    for P in (Q, sp.csr_matrix(A), sp.kron(Q, Q, format="csr")):
        d = stationary(P, method="gth-dense").pi
        s = stationary(P, method="gth-sparse").pi
        assert np.max(np.abs(s / d - 1)) < 1e-11


def test_result_fields_and_to_dict():
    r = stationary(np.array([[0.5, 0.5], [0.25, 0.75]]))
    assert isinstance(r, StationaryResult)
    assert np.allclose(r.pi, [1 / 3, 2 / 3], rtol=1e-15)
    d = r.to_dict()
    assert set(d) >= {"method", "residual", "underflow", "seconds", "pi"} and d["underflow"] == 0


def test_reducible_chain_names_closed_classes():
    blocks = sp.block_diag([np.full((4, 4), 0.25), np.array([[1.0]])]).tocsr()
    P = sp.lil_matrix((8, 8))
    P[:4, :4] = 0.25
    P[4, 4] = 0.5
    P[4, 0] = 0.5  # transient, leaks to class {0..3}
    P[5, 5] = 0.5
    P[5, 7] = 0.5
    P[6, 6] = 0.5
    P[6, 5] = 0.5
    P[7, 7] = 1.0  # absorbing
    with pytest.raises(SrchainError, match=r"reducible: 2 closed classes, \{states 0..3\} and \{7\}"):
        check_ergodic(P.tocsr())
    with pytest.raises(SrchainError, match="reducible"):
        stationary(P.tocsr())
    with pytest.raises(SrchainError, match="reducible"):
        stationary(blocks)


def test_periodic_chain_raises():
    P = sp.csr_matrix(np.roll(np.eye(4), 1, axis=1))  # a 4-cycle: period 4
    with pytest.raises(SrchainError, match="period 4"):
        check_ergodic(P)
    # the lazy chain is fine and has the same (uniform) law
    r = stationary(0.5 * (sp.identity(4) + P))
    assert np.allclose(r.pi, 0.25, rtol=1e-15)
    # a bipartite birth–death chain without self-loops: period 2
    B = sp.diags([np.r_[1.0, 0.5, 0.5], np.r_[0.5, 0.5, 1.0]], [1, -1], format="csr")
    with pytest.raises(SrchainError, match="period 2"):
        stationary(B)
    assert np.allclose(stationary(B, check=False).pi, [1 / 6, 1 / 3, 1 / 3, 1 / 6])


def test_bad_inputs():
    with pytest.raises(SrchainError, match="row-stochastic"):
        stationary(np.array([[0.5, 0.4], [0.5, 0.5]]))
    # the row named is the one farthest from summing to 1 (row 1, 0.5 off), not the largest sum (row 2)
    with pytest.raises(SrchainError, match="row 1 sums to 0.5 "):
        stationary(np.array([[0.5, 0.5, 0], [0.25, 0, 0.25], [0, 0.6, 0.6]]))
    with pytest.raises(SrchainError, match="negative"):
        stationary(np.array([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(SrchainError, match="unknown stationary method"):
        stationary(np.eye(2) * 0.5 + 0.25, method="magic")
    with pytest.raises(SrchainError, match="tridiagonal"):
        birth_death_stationary(np.full((3, 3), 1 / 3))
    # a birth-death chain cut between states 2 and 3 (no move down from 3): the message names that pair
    P = np.array([[0.5, 0.5, 0, 0], [0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5], [0, 0, 0, 1.0]])
    with pytest.raises(SrchainError, match="between states 2 and 3 in one direction"):
        birth_death_stationary(P)


@st.composite
def chains(draw):
    n = draw(st.integers(2, 25))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1.0, 1e-3, 1e-8]))
    A = rng.random((n, n)) * (rng.random((n, n)) < 0.3) * scale
    A[np.arange(n), (np.arange(n) + 1) % n] += rng.random(n) * 0.1 + 1e-3  # a cycle: irreducible
    A[np.arange(n), np.arange(n)] = 0.0
    A /= max(1.0, A.sum(axis=1).max() * 1.01)
    A[np.arange(n), np.arange(n)] = 1.0 - A.sum(axis=1)  # lazy: aperiodic
    return A


@settings(max_examples=40, deadline=None)
@given(chains())
def test_random_chains_property(P):
    r = stationary(P, method="gth-dense")
    s = stationary(P, method="gth-sparse")
    assert r.pi.min() >= 0 and abs(r.pi.sum() - 1) < 1e-13 and r.residual <= 1e-12
    assert np.max(np.abs(s.pi / r.pi - 1)) < 1e-10
    w, v = np.linalg.eig(P.T)
    e = np.real(v[:, np.argmin(np.abs(w - 1))])
    e = e / e.sum()
    assert tv(e, r.pi) < 1e-8


def _corner_jump_chain(L=24, seed=5):
    """A lazy random-walk chain on an L×L lattice with ±1 moves everywhere and ±2 moves only in one corner,
    random rates spanning many orders of magnitude: its separators must thicken in the corner, and only there."""
    rng = np.random.default_rng(seed)
    n = L * L
    x, y = np.divmod(np.arange(n), L)
    rows, cols, vals = [], [], []
    for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (2, 0), (-2, 0), (0, 2), (0, -2), (2, -2)]:
        ok = (x + dx >= 0) & (x + dx < L) & (y + dy >= 0) & (y + dy < L)
        if max(abs(dx), abs(dy)) == 2:
            ok &= (x < L // 4) & (y < L // 4)  # long jumps only in the corner
        i = np.flatnonzero(ok)
        rows.append(i)
        cols.append((x[i] + dx) * L + y[i] + dy)
        vals.append(10.0 ** rng.uniform(-12, 0, i.size))
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    A = A / (2.0 * A.sum(axis=1).max())
    A = sp.csr_matrix(A) + sp.diags(1.0 - np.asarray(A.sum(axis=1)).ravel())
    return sp.csr_matrix(A)


def test_local_separators_follow_local_jumps():
    """Lattice nested dissection: the separators are exact vertex separators whatever the jumps (±2 in a
    corner only), one cell thick away from the long jumps; the sparse solve matches dense GTH entrywise."""
    from srchain import gth
    from srchain.gth import sparse_gth as _gth_sparse

    L = 24
    P = _corner_jump_chain(L)
    d = stationary(P, method="gth-dense").pi
    assert np.max(np.abs(stationary(P, method="gth-sparse", shape=(L, L)).pi / d - 1)) < 1e-11
    for leaf in (1, 4, 32):
        assert np.max(np.abs(_gth_sparse(P, shape=(L, L), leaf=leaf) / d - 1)) < 1e-11
    G = P.tolil()
    G.setdiag(0)
    G = sp.csr_matrix(G)
    G.eliminate_zeros()
    jmax = gth.axis_max_jumps(G.indptr, G.indices, np.array([L, L]))
    assert jmax.tolist() == [2, 2]
    newpos, own_start, own_end, nchild = gth.lattice_nested_dissection(np.array([L, L]), G.indptr, G.indices, 4)
    assert np.array_equal(np.sort(newpos), np.arange(L * L))
    root = np.flatnonzero((newpos >= own_start[-1]) & (newpos < own_end[-1]))
    assert L <= root.size <= L + L // 4  # one column, thickened only where the corner's long jumps cross it
    # every edge goes between a node's states and states of the same node, an ancestor or a descendant:
    # no edge joins two sibling subtrees (the separators separate)
    size = gth.subtree_sizes(nchild)
    node_of = np.searchsorted(own_end, newpos, side="right")
    first = np.arange(nchild.size) - size + 1  # subtree of t = postorder range [first[t], t]
    coo = G.tocoo()
    a, b = node_of[coo.row], node_of[coo.col]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    assert np.all(first[hi] <= lo)  # the lower node lies in the higher node's subtree


def test_sparse_gth_does_not_depend_on_threads():
    from srchain.gth import sparse_gth as _gth_sparse
    from srchain.stationary import _as_csr

    lat = Lattice.from_domain(14.0 / 79, (-4.0, 10.0), 2)
    P = _as_csr(transition_matrix(get_problem("coupled", dim=2), make_noise("gaussian", sigma=2.0), lat, 5e-3).P)
    one = _gth_sparse(P, shape=lat.shape, threads=1, leaf=8)
    for threads in (2, 3, 5):
        assert np.array_equal(_gth_sparse(P, shape=lat.shape, threads=threads, leaf=8), one)
    d = stationary(P, method="gth-dense").pi
    big = d > 1e-250
    assert np.max(np.abs(one[big] / d[big] - 1)) < 1e-10


def test_small_chains_numpy_gth_matches_numba_kernel(monkeypatch):
    """Chains of at most SMALL_MAX states are solved by NumPy GTH (nothing to compile); the same chain through the
    Numba dense kernel must give the same law, entry by entry, across hundreds of orders of magnitude."""
    import srchain.stationary as S

    P, lat = toy_chain(delta=14.0 / 149, sigma=1.5)  # 150 states, metastable: π spans > 300 orders
    assert P.shape[0] <= S.SMALL_MAX and log_pi_span_orders(P) > 300
    small = stationary(P, method="gth-dense").pi
    monkeypatch.setattr(S, "SMALL_MAX", 0)
    kernel = stationary(P, method="gth-dense").pi
    big = kernel > 1e-300
    # GTH is entrywise relatively stable (O'Cinneide 1993): both are within a few hundred eps of the truth
    assert np.max(np.abs(small[big] / kernel[big] - 1)) < 1e-12
    assert np.array_equal(small == 0, kernel == 0)
