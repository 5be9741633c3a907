"""The lifted route (srchain.grid_lifted): π_α of a 1-D format grid's chain through its interpolation nodes as states
of their own. It must keep exactly T_α's entries (the same count, the same dropped mass), give the dense route's law
to GTH's entrywise accuracy on the same states, the same bits on any number of threads, and give way to the dense
route where its Bernstein coefficients do not reproduce the reference rows."""

import numpy as np
import pytest
from _peak_memory import run_measured

import srchain.grid_lifted as gl
from srchain.grid_dense import grid_law_dense
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem

NOISE = make_noise("gaussian", 2.0)
# fp16's subnormals around 0 (1,537 states, every row spans every state: every cell is kept by every row of its
# binade), and bf16 within 2e-12 of 0 (22,425 states: 61,416 extras, mostly the rows' own neighbours among values
# too fine for any other row to keep, so that the interpolated states have interpolated predecessors)
CASES = [("fp16", (-(2.0**-14), 2.0**-15), 1e-3), ("bf16", (-1e-12, 2e-12), 1e-3)]


def _laws(monkeypatch, fmt, domain, alpha, method, threads=None, bits=None):
    problem, grid = get_problem("toy", domain=domain), Grid.of(fmt, domain)
    lifted = grid_law_dense(problem, NOISE, grid, alpha, method=method, threads=threads, sr_bits=bits)
    monkeypatch.setattr(gl, "LIFTED", False)
    dense = grid_law_dense(problem, NOISE, grid, alpha, method=method, threads=threads, sr_bits=bits)
    monkeypatch.setattr(gl, "LIFTED", True)
    return grid, lifted, dense


@pytest.mark.parametrize("method,bits", [("sr", None), ("r", None), ("sr", 3)])  # (SR with 3 random bits too)
@pytest.mark.parametrize("fmt,domain,alpha", CASES)
def test_the_lifted_law_is_the_dense_routes(monkeypatch, fmt, domain, alpha, method, bits):
    grid, (res, nnz, dropped), (ref, nnz_ref, dropped_ref) = _laws(monkeypatch, fmt, domain, alpha, method, bits=bits)
    assert res.method == "gth-lifted" and ref.method == "gth-dense"
    # the same entries kept, row by row decided as T_α decides them (a cell kept by one row more changes the count)
    assert nnz == nnz_ref
    assert dropped == pytest.approx(dropped_ref, abs=1e-14)  # (kept masses summed in another order)
    # The lifted rows equal T_α's entries to the Bernstein coefficients' solve (at most BERNSTEIN_RESIDUAL relative,
    # checked) plus m roundings; a relative change ε of every rate moves each π_i by at most 2(n − 1)ε relative
    # (O'Cinneide 1993), and GTH itself errs by O(n·eps) entrywise: with ε = BERNSTEIN_RESIDUAL that is the bound.
    rtol = 2 * (grid.size - 1) * gl.BERNSTEIN_RESIDUAL
    np.testing.assert_allclose(res.pi, ref.pi, rtol=rtol, atol=0)
    assert res.residual < 1e-14


def test_same_bits_on_one_and_two_threads(monkeypatch):
    fmt, domain, alpha = CASES[0]
    problem, grid = get_problem("toy", domain=domain), Grid.of(fmt, domain)
    one = grid_law_dense(problem, NOISE, grid, alpha, threads=1)[0]
    two = grid_law_dense(problem, NOISE, grid, alpha, threads=2)[0]
    assert one.method == two.method == "gth-lifted"
    assert one.pi.tobytes() == two.pi.tobytes()


def test_coefficients_that_miss_the_reference_rows_give_way_to_the_dense_route(monkeypatch):
    fmt, domain, alpha = CASES[0]
    problem, grid = get_problem("toy", domain=domain), Grid.of(fmt, domain)
    monkeypatch.setattr(gl, "BERNSTEIN_RESIDUAL", -1.0)  # no solve is close enough
    res = grid_law_dense(problem, NOISE, grid, alpha)[0]
    monkeypatch.setattr(gl, "LIFTED", False)
    ref = grid_law_dense(problem, NOISE, grid, alpha)[0]
    assert res.method == ref.method == "gth-dense"
    assert res.pi.tobytes() == ref.pi.tobytes()


def test_bernstein_weights_are_a_partition_of_unity_and_reproduce_polynomials():
    tau = np.linspace(-1.0, 1.0, 7)
    for m in (1, 2, 5, 14):
        B = gl._bernstein(tau, m)
        assert np.all(B >= 0) and np.allclose(B.sum(axis=1), 1.0, rtol=0, atol=1e-15)
        if m > 1:  # Σ_j B_j(τ) j/(m − 1) = u, the identity in u = (1 + τ)/2
            assert np.allclose(B @ (np.arange(m) / (m - 1)), (tau + 1) / 2, rtol=0, atol=1e-15)


def test_states_many_extras_reach_join_the_dense_front(monkeypatch):
    # bf16 within 2e-4 of 0 at α = 1e-4: two interpolated states are reached by more than HUB_PREDECESSORS rows'
    # extras and are eliminated in D's dense front (their rates in W's columns); with the threshold out of reach they
    # are eliminated with the others, their predecessors in longer lists: the same law either way, to the bound above
    problem, grid = get_problem("toy", domain=(-1e-4, 2e-4)), Grid.of("bf16", (-1e-4, 2e-4))
    seen = []
    real_eliminate = gl._eliminate

    def spy(real, W, *rest):
        seen.append(W.shape[1])
        return real_eliminate(real, W, *rest)

    monkeypatch.setattr(gl, "_eliminate", spy)
    hubs = grid_law_dense(problem, NOISE, grid, 1e-4)
    monkeypatch.setattr(gl, "HUB_PREDECESSORS", 10**9)
    none = grid_law_dense(problem, NOISE, grid, 1e-4)
    assert hubs[0].method == none[0].method == "gth-lifted" and hubs[1] == none[1]
    assert seen[0] == seen[1] + 2  # the two hubs
    np.testing.assert_allclose(hubs[0].pi, none[0].pi, rtol=2 * (grid.size - 1) * gl.BERNSTEIN_RESIDUAL, atol=0)


def test_extras_beyond_the_room_made_for_them_are_kept(monkeypatch):
    # no room to start with: every binade's extras arrays are doubled as they fill, and the law keeps its bits
    fmt, domain, alpha = CASES[1]
    problem, grid = get_problem("toy", domain=domain), Grid.of(fmt, domain)
    want = grid_law_dense(problem, NOISE, grid, alpha)[0]
    monkeypatch.setattr(gl, "EXTRAS_PER_ROW", 0)
    got = grid_law_dense(problem, NOISE, grid, alpha)[0]
    assert got.method == want.method == "gth-lifted" and got.pi.tobytes() == want.pi.tobytes()


def _extras_by_their_rule(rows, L, ref_t, blo, far, certain, maybe, own, lo, hi, tol):
    """The extras of :func:`srchain.grid_lifted._extras` read off its docstring, cell by cell: in the row's window,
    not a certain cell, a ``maybe`` cell or a neighbour of the row's own value (a far cell only as a neighbour), with
    its interpolated probability non-zero and at least ``tol`` unless a neighbour."""
    out = []
    for k, i in enumerate(rows):
        near = set(range(max(own[i] - 1, lo[i]), min(own[i] + 1, hi[i]) + 1))
        for cell in sorted((set(maybe.tolist()) & set(range(lo[i], hi[i] + 1))) | near):
            j = cell - blo
            p = max(float(L[k] @ ref_t[j]), 0.0)
            if certain[j] or (far[j] and cell not in near) or p == 0.0 or not (p >= tol or cell in near):
                continue
            out.append((k, cell, p))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_extras_are_the_cells_their_rule_keeps(seed):
    """Random windows, own values, certain, far and maybe cells, and interpolated probabilities on either side of
    tol: the extras merged from the maybe cells and the own value's neighbours are exactly those of the rule, in
    increasing order per row (a maybe cell above the neighbours is kept as well as one below or among them)."""
    rng = np.random.default_rng(seed)
    cells, m, nrows, blo, tol = 40, 3, 25, 100, 1e-3
    rows = np.sort(rng.choice(60, nrows, replace=False)).astype(np.int64)
    lo = np.full(60, blo, dtype=np.int64)
    hi = np.full(60, blo, dtype=np.int64)
    own = np.zeros(60, dtype=np.int64)
    lo[rows] = blo + rng.integers(0, cells // 2, nrows)
    hi[rows] = np.minimum(lo[rows] + rng.integers(2, cells // 2, nrows), blo + cells - 1)
    own[rows] = rng.integers(lo[rows], hi[rows] + 1)
    L = rng.dirichlet(np.ones(m), nrows)
    ref_t = rng.choice([0.0, 1e-5, 5e-4, 2e-3, 0.1], (cells, m)) * rng.uniform(0.5, 2.0, (cells, m))
    certain = rng.random(cells) < 0.3
    far = ~certain & (rng.random(cells) < 0.3)
    maybe = np.flatnonzero(~certain & ~far & (rng.random(cells) < 0.6)).astype(np.int64) + blo
    ex_row, ex_cell, ex_p = gl._extras(rows, L, ref_t, blo, far, certain, maybe, own, lo, hi, tol, 1)
    want = _extras_by_their_rule(rows, L, ref_t, blo, far, certain, maybe, own, lo, hi, tol)
    assert len(want) > nrows  # maybe cells and neighbours both kept
    assert [(int(r), int(c)) for r, c in zip(ex_row, ex_cell, strict=True)] == [(k, c) for k, c, _ in want]
    assert np.allclose(ex_p, [p for _, _, p in want], rtol=1e-15, atol=0)


_PEAK_SCRIPT = """
import srchain.grid_lifted as gl
from srchain.grid_dense import grid_law_dense
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem
est, grew = [], []
bytes_of, law_of = gl.lifted_bytes, gl.lifted_law
gl.lifted_bytes = lambda *a: est.append(bytes_of(*a)) or est[-1]
def measured(*a, **k):
    out, g = grown(law_of, *a, **k)
    grew.append(g)
    return out
gl.lifted_law = measured
toy, noise = get_problem("toy", domain=(-4.0, 10.0)), make_noise("gaussian", 2.0)
for _ in range(2):  # the first run compiles or loads the kernels (with peaks of their own)
    method = grid_law_dense(toy, noise, Grid.of("bf16", (-4.0, 10.0)), 0.01)[0].method
print(method, est[-1], grew[-1])
"""


def test_the_lifted_chains_memory_estimate_bounds_its_peak():
    """:func:`srchain.grid_lifted.lifted_bytes`, which decides whether the route fits ``max_bytes``, bounds what the
    route takes: on bf16 [−4, 10] at α = 0.01 the process's peak resident set (VmHWM, restarted through
    /proc/self/clear_refs) grows by less than the estimate while :func:`lifted_law` runs (measured: 1.27 GB
    estimated, 0.90 GB taken)."""
    method, est, grew = run_measured(_PEAK_SCRIPT)
    assert method == "gth-lifted"
    assert 0 < float(grew) <= float(est)
