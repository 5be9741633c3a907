"""T_α's rows assembled a chunk at a time into one buffer (srchain.assemble.RowsBuffer): the same CSR, bit for bit,
whatever the chunks, whether the buffer had to grow, and whether its memory is NumPy's or mapped."""

import numpy as np
import pytest

import srchain.assemble as asm
import srchain.grid_chains as gc
import srchain.operators as ops
from srchain.assemble import RowsBuffer
from srchain.grids import Grid
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import get_problem

NOISE = make_noise("gaussian", 2.0)


def _same(P, Q):
    P, Q = P.tocsr(), Q.tocsr()
    assert np.array_equal(P.indptr, Q.indptr)
    assert np.array_equal(P.indices, Q.indices)
    assert P.data.tobytes() == Q.data.tobytes()


@pytest.mark.parametrize("mapped", [False, True])
def test_a_buffer_that_grows_keeps_what_was_written(mapped, monkeypatch):
    """A first chunk sparser than the rest (the buffer is sized from it, then too small twice) and empty chunks: the
    arrays are what was claimed, in order, and they are views of the buffer (nothing copied at the end)."""
    if mapped:
        monkeypatch.setattr(asm, "_MAPPED_ROWS", 0)  # every buffer in memory of its own
    buf = RowsBuffer(100, np.int32)
    rng = np.random.default_rng(0)
    want_i, want_v = [], []
    sizes = []
    for rows, nnz in ((10, 5), (30, 0), (20, 400), (40, 90)):
        cols, vals = buf.claim(rows, nnz)
        sizes.append(buf.data.size)
        c, v = rng.integers(0, 100, nnz).astype(np.int32), rng.random(nnz)
        cols[:], vals[:] = c, v
        want_i.append(c)
        want_v.append(v)
    # sized for 10 rows of 0.5 entries (55 with the 10% more), then for 60 rows of 6.75 (743): no growth at the end
    assert sizes == [55, 55, 743, 743]
    cols, vals = buf.arrays()
    assert np.array_equal(cols, np.concatenate(want_i)) and cols.dtype == np.int32
    assert np.array_equal(vals, np.concatenate(want_v))
    assert np.shares_memory(vals, buf.data) and buf.used == 495


@pytest.mark.parametrize("chunk_bytes", [2**16, 2**18])
def test_talpha_on_a_lattice_is_the_same_in_many_chunks(chunk_bytes, monkeypatch):
    """T_α of a 2-D coupled chain built in one chunk, and in many (from dozens to hundreds, into one buffer)."""
    p = get_problem("coupled", dim=2)
    lat = Lattice.from_domain(0.25, p.domain, 2)
    whole = ops.transition_matrix(p, NOISE, lat, 0.05)
    monkeypatch.setattr(ops, "CHUNK_BYTES", chunk_bytes)
    assert ops._chunk_rows(lat.dim, whole.window, lat.size) < lat.size // 10
    monkeypatch.setattr(asm, "_MAPPED_ROWS", 0)
    _same(ops.transition_matrix(p, NOISE, lat, 0.05).P, whole.P)


# a 2-D bf16 box (a hundred chunks of rows), and bf16 down to its smallest
# subnormal at tol = 1e-6, whose 1,216 rows near 0 are interpolated within binades (tests/test_grid_interp.py)
FORMAT_CASES = [(2, (0.03125, 0.25), 2e-4, 1e-14), (1, (-(2.0**-116), 2.0**-116), 2.0**-121, 1e-6)]


@pytest.mark.parametrize("dim,domain,alpha,tol", FORMAT_CASES)
def test_talpha_on_a_format_grid_is_its_chunks_joined(dim, domain, alpha, tol, monkeypatch):
    """T_α on a format's grid is its chunks' pieces, each built on its own, joined (on 1-D, the interpolated rows
    are copied into the buffer)."""
    monkeypatch.setattr(gc, "CHUNK_BYTES", 2**18)  # (the 2-D box's laws are one per value: chunks of 1,365 rows)
    p = get_problem("separable", dim=2, domain=domain) if dim == 2 else get_problem("toy", domain=domain)
    grid = Grid.of("bf16", domain, dim=dim)
    alpha, method, bits, grads, chunks, _ = gc.prepare_rows(p, NOISE, grid, alpha, "sr", tol, None)
    assert len(chunks) > 5
    pieces = [gc.chunk_rows(p, NOISE, grid, alpha, method, tol, grads, bits, a, b, np.int32) for a, b in chunks]
    monkeypatch.setattr(asm, "_MAPPED_ROWS", 0)
    P = gc.grid_transition_matrix(p, NOISE, grid, alpha, tol=tol).P
    assert np.array_equal(P.indptr, np.r_[0, np.cumsum(np.concatenate([q[0] for q in pieces]))])
    assert np.array_equal(P.indices, np.concatenate([q[1] for q in pieces]))
    assert P.data.tobytes() == np.concatenate([q[2] for q in pieces]).tobytes()


@pytest.mark.parametrize(
    "noise,method",
    [
        (NOISE, "sr"),
        (NOISE, "r"),
        (make_noise("laplace", 1.0), "sr"),
        (make_noise("minibatch", 2.0, batch=3, samples=8), "sr"),
    ],
    ids=["gaussian-sr", "gaussian-r", "laplace-sr", "minibatch-sr"],
)
def test_a_separable_lattice_reads_one_law_per_value(noise, method, monkeypatch):
    """On a separable problem's 2-D lattice each axis' move law is one table row per value (41 + 41 rows for 41²
    states), and T_α is bit for bit the one built from a table row per state and axis."""
    p = get_problem("separable", dim=2)
    lat = Lattice.from_domain(0.35, p.domain, 2)
    targets, probs, row_of, _ = ops.move_tables(p, noise, lat, 0.05, method)
    assert targets.shape[0] == sum(lat.shape) and row_of.shape == (lat.size, 2)
    shared = ops.transition_matrix(p, noise, lat, 0.05, method).P
    monkeypatch.setattr(ops, "per_value", lambda *a: (None, None))
    assert ops.move_tables(p, noise, lat, 0.05, method)[0].shape[0] == 2 * lat.size
    _same(shared, ops.transition_matrix(p, noise, lat, 0.05, method).P)


def test_a_law_with_gaps_gives_the_product_chain():
    """Two-point minibatch noise at α = 1: each axis' move law is two separate pairs of cells with zeros between
    them inside the window, and the 2-D separable chain is still the product of two 1-D chains: the combinations
    walk past a zero entry to the next one along its axis, not past the rest of the row."""
    import scipy.sparse as sp

    noise = make_noise("minibatch", 2.0, batch=1, samples=2)
    p1, p2 = get_problem("toy"), get_problem("separable", dim=2)
    P1 = ops.transition_matrix(p1, noise, Lattice.from_domain(0.1, p1.domain), 1.0, tol=0.0).P.tocsr()
    P1.sort_indices()
    first, last = P1.indices[P1.indptr[:-1]], P1.indices[P1.indptr[1:] - 1]
    assert (np.diff(P1.indptr) < last - first + 1).all()  # every row has a zero between its first and last entry
    P2 = ops.transition_matrix(p2, noise, Lattice.from_domain(0.1, p2.domain, 2), 1.0, tol=0.0).P.tocsr()
    K = sp.kron(P1, P1, format="csr")
    assert np.array_equal(P2.indptr, K.indptr) and np.array_equal(P2.indices, K.indices)
    assert np.abs(P2.data - K.data).max() < 1e-15  # the same products, each row normalised once more


@pytest.mark.parametrize("dim", [1, 2])
def test_an_entry_of_probability_exactly_tol_is_kept(dim):
    """T_α keeps an entry whose probability is at least tol: a far move (two or more cells along axis 0, the other
    axes staying) is kept at tol equal to its probability, as the assembly multiplies it, and dropped one float
    above."""
    p = get_problem("toy") if dim == 1 else get_problem("separable", dim=dim)
    lat = Lattice.from_domain(0.5, p.domain, dim)
    targets, probs = ops.move_laws(p, NOISE, lat, 0.3, "sr", tol=0.0)[:2]
    i, c = lat.size // 2, targets.shape[2] // 2  # a state inside the box; its own index is the window's centre
    far = [w for w in range(targets.shape[2]) if abs(w - c) >= 2 and probs[i, 0, w] > 0]
    w0 = far[len(far) // 2]
    q, col = 1.0, 0
    for k in range(dim):
        w = w0 if k == 0 else c
        q *= probs[i, k, w]
        col += int(targets[i, k, w]) * int(lat.strides[k])
    kept = []
    for tol in (q, np.nextafter(q, np.inf)):
        lengths, cols, _, _ = asm.build_rows(targets, probs, lat, tol)
        start = int(np.sum(lengths[:i]))
        kept.append(col in cols[start : start + lengths[i]])
    assert kept == [True, False]
