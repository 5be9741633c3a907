"""The dense route for a grid chain whose rows span nearly every state (srchain.grid_dense): T_α's rates assembled
straight into an n × n array and solved by dense GTH. It must give the law of the CSR T_α's dense GTH bit for bit,
on any number of threads, pick itself only where it needs less memory than the sparse route, refuse before
allocating, and be what `srchain stationary` runs there."""

import functools
import json

import numpy as np
import pytest
import scipy.sparse as sp
from cli_helpers import assert_one_line_error, run

from srchain.errors import SrchainError
from srchain.grid_chains import grid_transition_matrix
from srchain.grid_dense import DENSE_ROUTE_MIN, grid_law_dense, law_route, route_bytes
from srchain.grids import Grid
from srchain.gth import dense_gth
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.stationary import stationary

NOISE = make_noise("gaussian", 2.0)
# fp16's subnormals (gaps 2^-24) around 0, α·σ far wider than the domain: every row spans every state
DOMAIN = (-(2.0**-14), 2.0**-15)
TOY = get_problem("toy", domain=DOMAIN)
GRID = Grid.of("fp16", DOMAIN)


@pytest.fixture(autouse=True)
def dense_route(monkeypatch):
    """These tests are the dense route's: the lifted one, which grid_law_dense takes first where it applies, is
    tested in test_grid_lifted.py."""
    import srchain.grid_lifted

    monkeypatch.setattr(srchain.grid_lifted, "LIFTED", False)


@pytest.fixture(scope="module")
def operator():
    return grid_transition_matrix(TOY, NOISE, GRID, 1e-3)


def test_the_route_with_less_memory_is_taken(operator):
    n = GRID.size
    assert n >= DENSE_ROUTE_MIN
    assert operator.P.nnz > 0.99 * n * n  # rows span (nearly) every state
    dense, sparse = route_bytes(TOY, NOISE, GRID, 1e-3)
    assert dense > 8.0 * n * n and sparse > 40.0 * operator.P.nnz
    assert law_route(TOY, NOISE, GRID, 1e-3) == (("dense", dense) if dense < sparse else ("sparse", sparse))
    # bf16 on [−4, 10] (the grid: 33,185 values, rows of ~10,600 entries): 8.2 GiB of rates against
    # 23–27 GiB for T_α in CSR with its fill
    wide = get_problem("toy", domain=(-4.0, 10.0))
    bf = Grid.of("bf16", (-4.0, 10.0))
    dense, sparse = route_bytes(wide, NOISE, bf, 0.01)
    assert dense < 11 * 2**30 < 20 * 2**30 < sparse
    assert law_route(wide, NOISE, bf, 0.01) == ("dense", dense)
    # a grid away from 0 keeps narrow rows and the sparse route, unless the dense solver is asked for
    far = get_problem("toy", domain=(1.0, 8.0))
    bf = Grid.of("bf16", (1.0, 8.0))
    assert law_route(far, NOISE, bf, 0.01)[0] == "sparse"
    assert law_route(far, NOISE, bf, 0.01, solver="dense")[0] == "dense"
    assert law_route(far, NOISE, bf, 0.01, solver="gth")[0] == "sparse"
    # enough states for the dense route, but narrow rows: the sparse route needs less
    fp = Grid.of("fp16", (1.0, 8.0))
    dense, sparse = route_bytes(far, NOISE, fp, 1e-3)
    assert fp.size >= DENSE_ROUTE_MIN and sparse < dense
    assert law_route(far, NOISE, fp, 1e-3) == ("sparse", sparse)


def test_the_estimates_bound_the_memory_used(operator):
    """Each route's estimate is at least the memory its arrays take (NumPy's allocations, traced), and the dense one,
    which decides the route where rows are wide, is within 2x of it (1.48x here)."""
    import tracemalloc

    dense, sparse = route_bytes(TOY, NOISE, GRID, 1e-3)
    grid_law_dense(TOY, NOISE, GRID, 1e-3)  # compiled and warm: the traced peak is the arrays'
    tracemalloc.start()
    try:
        grid_law_dense(TOY, NOISE, GRID, 1e-3)
        dense_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        stationary(grid_transition_matrix(TOY, NOISE, GRID, 1e-3))
        sparse_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert dense_peak <= dense <= 2 * dense_peak
    assert sparse_peak <= sparse


@pytest.mark.parametrize("threads", [1, 2])
def test_the_same_bits_as_dense_gth_of_the_csr_operator(operator, threads):
    res, nnz, dropped = grid_law_dense(TOY, NOISE, GRID, 1e-3, threads=threads)
    assert np.array_equal(res.pi, dense_gth(operator.P, threads=1))
    assert nnz == operator.P.nnz and dropped == operator.dropped_mass
    assert res.method == "gth-dense" and res.underflow == 0
    # the residual is computed from rows assembled again: that of the CSR operator up to the order of its sums
    ref = float(np.abs(operator.P.T @ res.pi - res.pi).sum())
    assert res.residual == pytest.approx(ref, rel=1e-6, abs=1e-15) and res.residual < 1e-13
    # and the law is the chain's: the sparse solver's to its relative accuracy
    sparse = stationary(operator, method="gth")
    assert np.max(np.abs(res.pi - sparse.pi) / sparse.pi) < 1e-10


# bf16 around 0 at a tol where T_α drops every move into the narrowest cells but their neighbours' (as on [−4, 10],
# where 21,443 values have 1–2 predecessors)
BF_DOMAIN = (-(2.0**-116), 2.0**-116)
BF_TOY, BF_GRID, BF_ALPHA, BF_TOL = get_problem("toy", domain=BF_DOMAIN), Grid.of("bf16", BF_DOMAIN), 2.0**-110, 1e-6


@pytest.mark.parametrize("threads", [1, 2])
def test_the_states_with_few_predecessors_are_eliminated_first(threads, monkeypatch):
    """Without a bound on the density that certifies them (srchain.grid_dense.thin_states gives none here), the
    states with few predecessors go first in the dense array: the law is the dense GTH of the CSR T_α so permuted,
    bit for bit, and the law in the grid's order to GTH's entrywise accuracy."""
    import srchain.grid_dense as gd
    from srchain.gth.dense import FEW, few_predecessors_first

    monkeypatch.setattr(gd, "thin_states", lambda *a: None)
    toy, grid, alpha, tol = BF_TOY, BF_GRID, BF_ALPHA, BF_TOL
    P = grid_transition_matrix(toy, NOISE, grid, alpha, tol=tol).P.tocsr()
    off = P - sp.diags(P.diagonal())
    off.eliminate_zeros()
    predecessors = np.bincount(off.indices, minlength=grid.size)
    few = np.flatnonzero(predecessors <= FEW)
    x = grid.points[:, 0]
    # the narrowest cells: one block of values around 0, gaps at most 2^-127 on a domain of ±2^-116
    assert 1000 < few.size < grid.size and np.array_equal(few, np.arange(few[0], few[-1] + 1))
    assert x[few[0]] < 0.0 < x[few[-1]] and np.abs(x[few]).max() < 2.0**-119
    order = few_predecessors_first(predecessors)
    assert order is not None and np.array_equal(order[: few.size], few)
    res, _, _ = grid_law_dense(toy, NOISE, grid, alpha, tol=tol, threads=threads)
    want = np.empty(grid.size)
    want[order] = dense_gth(P[order][:, order], threads=1)
    assert np.array_equal(res.pi, want)
    natural = dense_gth(P, threads=1)
    assert np.array_equal(res.pi > 0, natural > 0)
    big = natural > 1e-280  # (entries deep in the subnormals keep few significant bits in either order)
    assert big.sum() > grid.size // 3
    assert np.max(np.abs(res.pi[big] - natural[big]) / natural[big]) < 1e-11


@functools.cache
def _ordered_law():
    """The thin-first route's law of the bf16 test grid on one thread, the default chunks."""
    return grid_law_dense(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL, threads=1)[0].pi


@pytest.mark.parametrize("threads,chunk_bytes", [(1, None), (2, None), (1, 2**21)])
def test_values_reached_from_their_neighbours_only_are_eliminated_from_lists(threads, chunk_bytes, monkeypatch):
    """The values that the density's peak certifies T_α reaches from their neighbours only (thin_states) go first,
    their rates in short lists, eliminated as the rows come in (with small chunks, a few rows held at a time), the
    rest in a K × K array (srchain.gth.thin): the law is the dense GTH of the CSR T_α with those values first (bit
    for bit with the core in the grid's order), in less memory than the dense route's."""
    import srchain.grid_chains as gc
    import srchain.grid_dense as gd
    from srchain.grid_dense import dense_bytes, thin_bytes, thin_states

    ordered = _ordered_law()  # (before the chunks are made small)
    if chunk_bytes:
        monkeypatch.setattr(gc, "CHUNK_BYTES", chunk_bytes)
        chunks = gc.prepare_rows(BF_TOY, NOISE, BF_GRID, BF_ALPHA, "sr", BF_TOL, None)[4]
        assert len(chunks) > 20 and gd._ring(chunks, thin_states(NOISE, BF_GRID, BF_ALPHA, BF_TOL)) < 200

    P = grid_transition_matrix(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL).P.tocsr()
    n = BF_GRID.size
    thin = thin_states(NOISE, BF_GRID, BF_ALPHA, BF_TOL)
    T = int(thin.sum())
    assert 1000 < T < n - 1000
    # the certificate holds: every entry to a thin value comes from a neighbour (or is its self-loop)
    coo = P.tocoo()
    assert np.all(np.abs(coo.row - coo.col)[thin[coo.col]] <= 1)
    # in the grid's order (CORE_ORDER off): the dense GTH of the CSR T_α with the thin values first, bit for bit
    order = np.r_[np.flatnonzero(thin), np.flatnonzero(~thin)]
    want = np.empty(n)
    want[order] = dense_gth(P[order][:, order], threads=1)
    monkeypatch.setattr(gd, "CORE_ORDER", False)
    res, nnz, dropped = grid_law_dense(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL, threads=threads)
    assert np.array_equal(res.pi, want) and nnz == P.nnz and res.residual < 1e-14
    # by default the core's values go by how many other rows move to them (fewest first, ties in the grid's
    # order): the thin values' exit rates are still summed in the grid's order, so the law is the dense GTH so
    # permuted to GTH's entrywise accuracy (as in the test above), with the same bits on any threads and chunks
    monkeypatch.setattr(gd, "CORE_ORDER", True)
    off = P - sp.diags(P.diagonal())
    off.eliminate_zeros()
    moves = np.diff(off.tocsc().indptr)
    core = np.flatnonzero(~thin)
    order = np.r_[np.flatnonzero(thin), core[np.argsort(moves[core], kind="stable")]]
    assert not np.array_equal(order, np.r_[np.flatnonzero(thin), core])  # (not the grid's order)
    want[order] = dense_gth(P[order][:, order], threads=1)
    from srchain.gth.thin import ThinFirst

    seen = []
    law = ThinFirst.law
    monkeypatch.setattr(
        ThinFirst, "law", lambda self, *a, order=None, **k: seen.append(order) or law(self, *a, order=order, **k)
    )
    res, nnz, dropped = grid_law_dense(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL, threads=threads)
    assert np.array_equal(core[seen[0]], order[T:])  # (the core's order, as its positions in the grid's order)
    assert nnz == P.nnz and res.residual < 1e-14 and np.array_equal(res.pi > 0, want > 0)
    big = want > 1e-280  # (entries deep in the subnormals keep few significant bits in either order)
    assert big.sum() > n // 3
    assert np.max(np.abs(res.pi[big] - want[big]) / want[big]) < 1e-11
    assert np.array_equal(res.pi, ordered)
    assert thin_bytes(n, T, tables=0, ring=200) < 0.4 * dense_bytes(n, tables=0)  # ((n − T)/n)² = 0.30 here
    # another noise with a peak at 0 has its certificate too; a grid's ends never are thin
    lap = thin_states(make_noise("laplace", 2.0), BF_GRID, BF_ALPHA, BF_TOL)
    assert lap is not None and not lap[0] and not lap[-1] and lap.sum() > 1000


def test_a_refused_k_bit_law_is_refused_before_any_sample_row(monkeypatch):
    """k-bit SR on bf16 [−4, 10] under Laplace noise needs 3.2e10 CDF evaluations and is refused: law_route says so
    before it builds the estimate's sample rows (3.5 s of 4-bit rows before), with the assembly's own message."""
    import srchain.grid_chains as gc

    def no_rows(*args, **kwargs):
        raise AssertionError("sample rows built for a refused law")

    monkeypatch.setattr(gc, "grid_move_tables", no_rows)
    wide = get_problem("toy", domain=(-4.0, 10.0))
    with pytest.raises(SrchainError, match="CDF evaluations"):
        law_route(wide, make_noise("laplace", 2.0), Grid.of("bf16", (-4.0, 10.0)), 0.01, "sr", sr_bits=4)


def test_lists_outgrown_fall_back_to_the_dense_array(monkeypatch):
    """Where a row's list of rates to thin values would outgrow its capacity (here: one entry), the law comes from
    the n × n array instead, states with few predecessors first: that route's bits."""
    import srchain.grid_dense as gd
    import srchain.gth.thin as thin

    monkeypatch.setattr(thin, "CAP", 1)
    res, _, _ = grid_law_dense(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL)
    monkeypatch.setattr(gd, "thin_states", lambda *a: None)
    dense, _, _ = grid_law_dense(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL)
    assert np.array_equal(res.pi, dense.pi)


def test_thin_elimination_gives_the_dense_eliminations_censored_rates():
    """srchain.gth.thin eliminates the thin values with the dense kernel's operations, entry by entry: the core's
    censored rates it leaves are those of front_eliminate on the permuted n × n array, bit for bit, and each thin
    value's multipliers are the dense factor's column below it."""
    from srchain.grid_dense import thin_states
    from srchain.gth.front import front_eliminate
    from srchain.gth.thin import CAP, ThinFirst, add_thin

    P = grid_transition_matrix(BF_TOY, NOISE, BF_GRID, BF_ALPHA, tol=BF_TOL).P.tocsr()
    n = BF_GRID.size
    thin = thin_states(NOISE, BF_GRID, BF_ALPHA, BF_TOL)
    T = int(thin.sum())
    order = np.r_[np.flatnonzero(thin), np.flatnonzero(~thin)]
    Q = P[order][:, order].tocsr()
    Q.setdiag(0)
    Q.eliminate_zeros()
    F = Q.toarray()
    tf = ThinFirst(n, T, ring=T + 1)  # every thin row held: fed all at once
    coo = Q.tocoo()
    core = coo.col >= T
    tf.ring[coo.row[core & (coo.row < T)], coo.col[core & (coo.row < T)] - T] = coo.data[core & (coo.row < T)]
    tf.C[coo.row[core & (coo.row >= T)] - T, coo.col[core & (coo.row >= T)] - T] = coo.data[core & (coo.row >= T)]
    for r, c, d in zip(coo.row[~core], coo.col[~core], coo.data[~core], strict=True):
        assert add_thin(tf.ocol, tf.oval, tf.ocnt, tf.irow, tf.icnt, r, c, d)
    assert tf.eliminate(T)
    assert front_eliminate(F, T) == 0
    assert np.array_equal(tf.C, F[T:, T:])
    K = n - T
    for p in range(0, T, 97):
        rows = tf.fidx[p, 1 : tf.fcnt[p]]
        base = K * K + p * (CAP + 1)
        assert np.array_equal(tf.factor[base + 1 : base + tf.fcnt[p]], F[rows, p])
        assert np.count_nonzero(F[p + 1 :, p]) == rows.size


def test_the_residual_leaves_out_exactly_the_chunks_of_least_mass_and_bounds_what_they_change(monkeypatch):
    """The residual assembles the rows again, chunk by chunk, but leaves out the chunks of least π while their mass
    sums to at most SKIP_MASS (on bf16 [−4, 10] at α = 0.01 every value within 0.5 of 0, the widest rows), and adds
    that mass S: ‖πP − π‖₁ over every row lies within S of the sum over the others (P is stochastic), so the result
    is an upper bound, and the exact value when S = 0 (chunks whose π underflowed add exactly +0). A law planted
    with zeros in whole chunks and in half of one, and chunks of mass 0.5, 0.75 and 2 times SKIP_MASS (set to 1e-5,
    so that the mass left out shows in the residual): exactly the zero chunks and the 0.5 one are left out (each of
    the two smallest is within SKIP_MASS alone, not both together), the half-zero and the others are summed."""
    import srchain.grid_chains as gc
    import srchain.grid_dense as gd
    import srchain.gth.dense as dense

    monkeypatch.setattr(gc, "CHUNK_BYTES", 2**21)  # many small chunks of rows
    monkeypatch.setattr(gd, "SKIP_MASS", 1e-5)  # below every true chunk's mass here (1.7e-4 and up)
    _, _, _, grads, chunks, _ = gc.prepare_rows(TOY, NOISE, GRID, 1e-3, "sr", 1e-14, None)
    assert len(chunks) >= 6
    true_pi = grid_law_dense(TOY, NOISE, GRID, 1e-3)[0].pi
    planted = true_pi.copy()
    for a, b in (chunks[0], chunks[3]):
        planted[a:b] = 0.0  # two whole chunks
    a, b = chunks[5]
    planted[a : (a + b) // 2] = 0.0  # and half of another, which must still be summed
    for k, mass in ((1, 0.75e-5), (2, 2e-5), (4, 0.5e-5)):
        a, b = chunks[k]
        planted[a:b] *= mass / planted[a:b].sum()
    monkeypatch.setattr(dense, "dense_gth_rates", lambda F, threads, progress=False, order=None: planted.copy())
    calls = []
    rows = gd._rows
    monkeypatch.setattr(gd, "_rows", lambda args, a, b: calls.append((a, b)) or rows(args, a, b))
    res, _, _ = grid_law_dense(TOY, NOISE, GRID, 1e-3)
    args = (TOY, NOISE, GRID, 1e-3, "sr", 1e-14, grads, None)
    kept = [c for i, c in enumerate(chunks) if i not in (0, 3, 4)]
    assert calls[len(chunks) :] == kept
    flow = np.zeros(GRID.size)  # the kept chunks, in the same order
    for a, b in kept:
        flow += rows(args, a, b)[0].T @ planted[a:b]
    a, b = chunks[4]
    left_out = float(planted[a:b].sum())
    assert res.residual == float(np.abs(flow - planted).sum()) + left_out
    full = flow + rows(args, a, b)[0].T @ planted[a:b]  # every chunk (the zero ones add +0)
    exact = float(np.abs(full - planted).sum())
    # within the left-out mass of each other, up to float64's rounding of the sums (~1e-16 relative)
    assert exact > 100 * left_out and abs(res.residual - exact) <= left_out + 1e-12 * exact


def test_refused_before_allocating():
    with pytest.raises(SrchainError, match="dense rates of T_alpha") as err:
        grid_law_dense(TOY, NOISE, GRID, 1e-3, max_bytes=8.0 * GRID.size**2)
    assert "\n" not in str(err.value)


def test_srchain_stationary_takes_the_dense_route(tmp_path, operator, capsys):
    out = tmp_path / "law.json"
    lo, hi = DOMAIN
    chain = ["--problem", "toy", "--format", "fp16", "--domain", f"{lo:.14f}", f"{hi:.15f}", "--alpha", "0.001"]
    code, _, err = run(["stationary", *chain, "--solver", "dense", "--json", str(out)], capsys)
    assert code == 0, err
    (row,) = json.loads(out.read_text())["results"]
    assert row["solver"] == "gth-dense" and row["nnz"] == operator.P.nnz
    assert np.array_equal(np.array(row["pi"]), dense_gth(operator.P))
    # its memory is checked before any work, in one line
    code, _, err = run(["stationary", *chain, "--solver", "dense", "--max-memory", "0.01"], capsys)
    assert_one_line_error(code, err, "dense rates of T_alpha")


def test_srchain_formats_solves_a_grid_holding_0_on_the_dense_route(tmp_path, capsys):
    """`srchain formats` on a grid whose rows span every state: SR's and R's laws come from the dense route (the
    same bits as grid_law_dense), and the row says why it has no mixing time or drift."""
    out = tmp_path / "f.json"
    lo, hi = DOMAIN
    argv = ["formats", "--formats", "fp16", "--domain", repr(lo), repr(hi), "--alpha", "0.001", "--no-bc"]
    code, _, err = run([*argv, "--json", str(out), "--quiet"], capsys)
    assert code == 0, err
    (study,) = json.loads(out.read_text())["formats"]
    rows = {r["method"]: r for r in study["results"]}
    for method in ("sr", "r"):
        res, _, _ = grid_law_dense(TOY, NOISE, GRID, 1e-3, method)
        assert rows[method]["law"] == "exact" and np.array_equal(np.array(rows[method]["pi"]), res.pi)
        assert "dense route" in rows[method]["note"] and rows[method]["mixing_time"] is None
    assert rows["sr"]["tv_to_limit"] is not None and rows["r"]["stall_count"] is not None
    # SR's drift (the k-bit bias's reference) needs T_alpha; R has no drift in the table
    assert rows["sr"]["note"].endswith("no mixing time or drift") and rows["r"]["note"].endswith("no mixing time")


def test_srchain_formats_gives_the_k_bit_bias_on_the_dense_route(tmp_path, capsys):
    """With --sr-bits the k-bit row on the dense route takes its bias from the steps' law (srchain.grid_kbit), not
    from T_α: the same as π_k·(drift_k − drift_SR) from the two transition matrices of this small grid (1,537
    states), to 1e-9 relative (T_α's drifts carry ~1e-13 absolute of rounding and dropped entries; the bias is
    ~1e-7 here, its relative form ~1e-2)."""
    out = tmp_path / "f.json"
    lo, hi = DOMAIN
    argv = ["formats", "--formats", "fp16", "--domain", repr(lo), repr(hi), "--alpha", "0.001", "--no-bc"]
    code, _, err = run([*argv, "--sr-bits", "3", "--json", str(out), "--quiet"], capsys)
    assert code == 0, err
    (study,) = json.loads(out.read_text())["formats"]
    row = next(r for r in study["results"] if r["method"] == "sr3")
    assert "the k-bit bias from the steps' law" in row["note"]
    x = GRID.points[:, 0]
    P = grid_transition_matrix(TOY, NOISE, GRID, 1e-3, "sr").P
    Pk = grid_transition_matrix(TOY, NOISE, GRID, 1e-3, "sr", sr_bits=3).P
    pi = np.array(row["pi"])
    drift, drift_k = P @ x - x, Pk @ x - x
    want = float(pi @ (drift_k - drift))
    assert row["kbit_bias"] == pytest.approx(want, rel=1e-9)
    assert row["kbit_bias_relative"] == pytest.approx(want / float(pi @ np.abs(drift)), rel=1e-9)
