"""Envelope GTH's frames (srchain.gth.envelope): on a law spanning thousands of orders of magnitude the mantissas and
frames are banded GTH's, bit for bit, with every mantissa inside [2^-600, 2^600] (the laws alone can agree while the
frames differ: ``law_from_frames`` undoes any power-of-two split of a value).

The chains are those of tests/test_gth_edges.py: birth–death chains whose law falls by r/u = 2e-200 per state
(~2200 decimal orders over 12 states) and the two basins behind a barrier of 1e-600.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import srchain.gth.envelope as envelope
from srchain.gth.banded import banded_gth
from srchain.gth.scaling import SCALE_EXP
from tests.test_gth_edges import _birth_death_band, _two_basins


def _dense_from_band(B):
    n, b = B.shape[0], (B.shape[1] - 1) // 2
    P = np.zeros((n, n))
    for i in range(n):
        for j in range(max(i - b, 0), min(i + b + 1, n)):
            if j != i:
                P[i, j] = B[i, j - i + b]
    P += np.diag(1.0 - P.sum(axis=1))
    return P


def _band_from_dense(P, b):
    n = P.shape[0]
    B = np.zeros((n, 2 * b + 1))
    for i in range(n):
        for j in range(max(i - b, 0), min(i + b + 1, n)):
            if j != i:
                B[i, j - i + b] = P[i, j]
    return B


def _hidden_heavy_row():
    """0 ↔ 2 ↔ 3 ↔ 1 with log10 π = [0, −600, 0, −300]: row 2's envelope (from column 0) holds a zero rate into
    state 1, whose law is 10^-600 of row 2's (its frame three above): a zero rate adds nothing to π_1, and must not
    move π_1's frame either."""
    P = np.zeros((4, 4))
    P[0, 2] = P[2, 0] = P[3, 2] = P[1, 3] = 0.5
    P[2, 3] = P[3, 1] = 0.5e-300
    return P + np.diag(1.0 - P.sum(axis=1))


def _envelope_arrays(P):
    """The envelope of dense ``P`` laid out as :func:`srchain.gth.envelope.envelope_law` lays it out."""
    first, last = envelope.envelope_profile(sp.csr_matrix(P))
    n = P.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(last - first + 1, out=start[1:])
    E = np.zeros(int(start[-1]))
    for i in range(n):
        for j in range(first[i], last[i] + 1):
            if j != i:
                E[start[i] + j - first[i]] = P[i, j]
    return E, start, first, last


CHAINS = {
    "falling": _dense_from_band(_birth_death_band(12, 0.5, 1e-200)),
    "rising": _dense_from_band(_birth_death_band(12, 1e-200, 0.5)),
    "mild": _dense_from_band(_birth_death_band(12, 0.25, 0.5)),
    "two-basins": _two_basins()[1],
    "hidden-heavy-row": _hidden_heavy_row(),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_envelope_frames_are_banded_frames_bit_for_bit(name):
    P = CHAINS[name]
    b = max(abs(i - j) for i, j in zip(*np.nonzero(P), strict=True))
    mant, frame = envelope.envelope_gth(*_envelope_arrays(P))
    want_mant, want_frame = banded_gth(_band_from_dense(P, b), b)
    assert mant.tobytes() == want_mant.tobytes()
    assert np.array_equal(frame, want_frame)
    assert np.all((mant >= 2.0**-SCALE_EXP) & (mant <= 2.0**SCALE_EXP)), mant


def test_a_zero_rate_beside_a_heavy_row_leaves_the_law_alone():
    pi = envelope.envelope_law(sp.csr_matrix(_hidden_heavy_row()))
    np.testing.assert_allclose(pi, [0.5, 0.0, 0.5, 0.5e-300], rtol=1e-12, atol=0)
    assert pi[1] == 0.0  # 10^-600 of the rest: below float64


def _falling_ring(n=12):
    """The falling birth–death chain (law 2e-200 times smaller per state towards 0) with a rate from the last state
    back to state 0, so that row n − 1's envelope starts at column 0."""
    P = _dense_from_band(_birth_death_band(n, 0.5, 1e-200))
    P[n - 1, 0] = 0.25
    P[n - 1, n - 1] -= 0.25
    return P


def _tiny_first_state(n=5):
    """A walk on 1 … n − 1 (law ~1 each) that visits state 0 from both ends, 1 and n − 1, at a rate of 1e-200 and
    leaves it at ½: π_0 ~ 1e-200 of the rest, a frame below theirs, and row n − 1's envelope starts at column 0."""
    P = np.zeros((n, n))
    for i in range(1, n - 1):
        P[i, i + 1] = P[i + 1, i] = 0.5
    P[0, 1] = 0.5
    P[1, 0] = P[n - 1, 0] = 1e-200
    return P + np.diag(1.0 - P.sum(axis=1))


@pytest.mark.parametrize("name", ["ring", "tiny-first-state", "closed-under-fill"])
def test_envelope_gth_reads_only_the_envelope(name):
    # slots of E past start[-1] (here huge rates) are no part of any row: the result is the same to the bit
    if name == "ring":
        P = _falling_ring()
    elif name == "tiny-first-state":
        P = _tiny_first_state()
    else:  # tests/test_envelope_gth.py's chain whose last row reaches state 0
        P = np.zeros((5, 5))
        P[0, 3] = P[0, 1] = P[1, 0] = P[1, 2] = P[2, 1] = P[2, 4] = P[3, 2] = P[3, 4] = P[4, 0] = P[4, 3] = 0.5
    E, start, first, last = _envelope_arrays(P)
    assert first[-1] == 0
    want_mant, want_frame = envelope.envelope_gth(E.copy(), start, first, last)
    padded = np.concatenate([E, np.full(8, 1e300)])
    mant, frame = envelope.envelope_gth(padded, start, first, last)
    assert mant.tobytes() == want_mant.tobytes()
    assert np.array_equal(frame, want_frame)
