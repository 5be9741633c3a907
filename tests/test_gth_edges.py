"""The banded GTH solver's frames (srchain.gth.banded): a law spanning thousands of orders of magnitude is carried as
``mant · 2^(600·frame)`` with every mantissa inside [2^-600, 2^600], and matches the birth–death law in log space.

Birth–death chain on N states, up-rate u and down-rate r: detailed balance gives π_i/π_{i+1} = r/u exactly, so
log2 π_i − log2 π_{N−1} = (N − 1 − i)·log2(r/u). With r/u = 2e-200 the law spans ~2200 decimal orders, far outside
float64: a solver that stops rescaling loses the small states to underflow (mantissa 0, log −inf).
"""

import math

import numpy as np
import pytest

from srchain.gth.banded import banded_gth
from srchain.gth.scaling import SCALE_EXP


def _birth_death_band(n, up, down):
    B = np.zeros((n, 3))
    B[1:, 0] = down  # i → i − 1
    B[:-1, 2] = up  # i → i + 1
    return B


@pytest.mark.parametrize("up,down", [(0.5, 1e-200), (1e-200, 0.5), (0.25, 0.5)])
def test_banded_frames_carry_laws_beyond_float64(up, down):
    n = 12
    mant, frame = banded_gth(_birth_death_band(n, up, down), 1)
    assert np.all(mant > 0)
    lo, hi = 2.0**-SCALE_EXP, 2.0**SCALE_EXP
    assert np.all((mant >= lo) & (mant <= hi)), mant
    log2 = np.log2(mant) + SCALE_EXP * frame
    want = (n - 1 - np.arange(n)) * math.log2(down / up)
    np.testing.assert_allclose(log2 - log2[-1], want, rtol=1e-12, atol=1e-9)


def _two_basins():
    """Birth–death chain with log10 π = [0, −300, −600, −300, 0]: two basins of mass ½ behind a barrier that falls
    1e-300 per step, below what one float64 product can carry."""
    L = np.array([0.0, -300.0, -600.0, -300.0, 0.0])
    n = L.size
    B = np.zeros((n, 3))
    for i in range(n - 1):
        d = L[i + 1] - L[i]  # log10 π_{i+1}/π_i = log10 up_i/down_{i+1}
        if d >= 0:
            B[i, 2], B[i + 1, 0] = 0.5, 0.5 * 10.0**-d
        else:
            B[i + 1, 0], B[i, 2] = 0.5, 0.5 * 10.0**d
    P = np.diag(B[1:, 0], -1) + np.diag(B[:-1, 2], 1)
    P += np.diag(1.0 - P.sum(axis=1))
    return B, P


WANT = np.array([0.5, 0.5e-300, 0.0, 0.5e-300, 0.5])


def test_banded_law_keeps_a_basin_behind_a_barrier_deeper_than_float64():
    # before the fix the back-substitution underflowed at the barrier's bottom and gave the left basin 0 (TV ½)
    from srchain.gth.scaling import law_from_frames

    B, _ = _two_basins()
    pi = law_from_frames(*banded_gth(B, 1))
    np.testing.assert_allclose(pi, WANT, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_other_gth_solvers_keep_a_basin_behind_a_barrier_deeper_than_float64(method):
    # before the fix the back-substitutions underflowed at the barrier's bottom as banded GTH's did
    import scipy.sparse as sp

    from srchain.stationary import stationary

    _, P = _two_basins()
    np.testing.assert_allclose(stationary(sp.csr_matrix(P), method=method).pi, WANT, rtol=1e-12, atol=0)


def _barrier_chain(L):
    """Birth–death chain with log10 π_i − log10 π_{i+1} = L_i − L_{i+1}: the downhill rate is ½, the uphill one
    ½·10^(−rise)."""
    import scipy.sparse as sp

    rise = np.diff(L)
    up = np.where(rise >= 0, 0.5, 0.5 * 10.0 ** np.minimum(rise, 0))
    down = np.where(rise >= 0, 0.5 * 10.0 ** -np.maximum(rise, 0), 0.5)
    P = sp.diags([down, up], [-1, 1]).tolil()
    P.setdiag(1.0 - np.asarray(P.sum(axis=1)).ravel())
    return P.tocsr()


def _barrier_lattice(ny, nx, c):
    """A ny × nx lattice (C order): half the time a step of a free walk in y, half the time a step of the
    birth–death chain in x whose law is 1 on every column but c−1, c, c+1, where it is 1e-300, 1e-600, 1e-300.
    Exact law: uniform over the ``nx − 3`` basin columns (the barrier's mass is below 1e-300)."""
    import scipy.sparse as sp

    L = np.zeros(nx)
    L[[c - 1, c, c + 1]] = -300.0, -600.0, -300.0
    P = 0.5 * sp.kron(sp.identity(ny), _barrier_chain(L)) + 0.5 * sp.kron(_barrier_chain(np.zeros(ny)), sp.identity(nx))
    return P.tocsr()


@pytest.mark.parametrize("c", [2, 8, 12])
def test_sparse_gth_keeps_a_basin_behind_a_deep_barrier_inside_a_lattice(c):
    # 31 × 33 states, ordered by lattice nested dissection: the barrier runs down columns left of the top separator
    # (column 16) and the left half's separators cross it, so fronts hold states on both sides and at its bottom.
    # Before the fix the fronts' common frame flushed the far side to 0 and the left basin's mass came out wrong
    # (0.036 instead of 1/6 at c = 2 on 8 × 9; every c up to 15 was wrong on this lattice).
    from srchain.gth import sparse_gth

    ny, nx = 31, 33
    pi = sparse_gth(_barrier_lattice(ny, nx, c), shape=(ny, nx)).reshape(ny, nx)
    cols = pi.sum(axis=0)
    want = np.full(nx, 1.0 / (nx - 3))
    want[[c - 1, c, c + 1]] = 0.0
    np.testing.assert_allclose(cols, want, rtol=1e-10, atol=1e-290)


@pytest.mark.parametrize("c", [15, 16, 24, 30])
def test_sparse_gth_barrier_next_to_the_top_separator(c):
    # The barrier next to (c = 15, 16) or right of (c = 24, 30) the top separator (column 16). Before the fix the
    # censored rates over the barrier underflowed in the factorisation itself (not the back-substitution): at c = 15
    # the law came out wrong with a small residual (left basin 0.92 instead of 0.47), with c = 16 … 30 a zero pivot
    # was raised. Traced against the same elimination in 30-digit arithmetic at c = 15: in the front of the left
    # half's row separator (y = 15, x = 0 … 15) the basin state (15, 13) has a tiny exit rate s ≈ 5.6e-301 (only
    # uphill, to (15, 14)), so c_i,(15,13) ≈ 1e300, while its rates to column 16 (≈ 1e-602) had underflowed to 0,
    # in the children's fronts and in the updates by the basin pivots (15, 0 … 12), whose rows hold 0.5 beside
    # 1e-602. Their products (≈ 1e-302 each) were missing from the row of (15, 14): its exit rate came out 4.3e-301
    # instead of 4.1e-300. An exponent per row (a time change) cannot help: one row needs 0.5 and 1e-602 side by
    # side; the chain is factored again with an exponent per entry (srchain.gth.extended).
    from srchain.gth import sparse_gth

    ny, nx = 31, 33
    cols = sparse_gth(_barrier_lattice(ny, nx, c), shape=(ny, nx)).reshape(ny, nx).sum(axis=0)
    want = np.full(nx, 1.0 / (nx - 3))
    want[[c - 1, c, c + 1]] = 0.0
    np.testing.assert_allclose(cols, want, rtol=1e-10, atol=1e-290)
    # the barrier's shoulders: 1e-300 of a basin column each (detailed balance); its bottom, 1e-600, is 0 in float64
    np.testing.assert_allclose(cols[[c - 1, c + 1]], 1e-300 / (nx - 3), rtol=1e-10)
    assert cols[c] == 0.0


def test_dense_gth_keeps_a_basin_behind_a_deep_barrier_in_a_long_chain():
    # 301 states: the blocked kernel and its one front (small_gth takes at most 200); the law is ½(n − 3) on each
    # basin state, 1e-300 of that next to the barrier's bottom and 1e-600 of it (0 in float64) at the bottom
    from srchain.gth import dense_gth

    n, c = 301, 150
    L = np.zeros(n)
    L[[c - 1, c, c + 1]] = -300.0, -600.0, -300.0
    want = np.where(L == 0.0, 1.0 / (n - 3), 0.0)
    want[[c - 1, c + 1]] = 1e-300 / (n - 3)
    np.testing.assert_allclose(dense_gth(_barrier_chain(L)), want, rtol=1e-12, atol=0)
