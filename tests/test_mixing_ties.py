"""Near-ties of ε in the exact mixing time (Eq. 10): decided as exact arithmetic decides them, without BLAS.

A chain whose worst distance ``d(t*)`` lies within one ulp of ε cannot be decided by a BLAS product (its error bound
is many ulps): :mod:`srchain.mixing_cert` hands that start to the fixed-order evolution and, on a tiny chain, to
exact rational arithmetic. The expected integers here are computed in :class:`fractions.Fraction` from the float64
entries of P and π (exact dyadic rationals), so they are what any machine must report.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.mixing import mixing_time
from srchain.mixing_cert import _evolve, decide_starts, gamma, row_sum_bound


def _exact_d(P: np.ndarray, pi: np.ndarray, T: int) -> list[Fraction]:
    """``d(t) = max_x ½‖P^t(x, ·) − π‖₁`` for t = 0 … T in exact rational arithmetic."""
    n = P.shape[0]
    Pf = [[Fraction(float(v)) for v in row] for row in P]
    pf = [Fraction(float(v)) for v in pi]
    M = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    out = []
    for _ in range(T + 1):
        out.append(max(sum(abs(M[i][j] - pf[j]) for j in range(n)) / 2 for i in range(n)))
        M = [[sum(M[i][k] * Pf[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
    return out


def _t_mix(d: list[Fraction], eps: float) -> int:
    return next(t for t, v in enumerate(d) if v <= Fraction(eps))


def _floats_around(v: Fraction) -> tuple[float, float]:
    """(largest float64 < v, smallest float64 ≥ v)."""
    hi = float(v)
    if Fraction(hi) < v:
        hi = math.nextafter(hi, math.inf)
    lo = math.nextafter(hi, 0.0)
    assert Fraction(lo) < v <= Fraction(hi)
    return lo, hi


def _chain(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random chain with dyadic entries (multiples of 1/64, rows summing to 1 exactly) and its law, rounded."""
    rng = np.random.default_rng(seed)
    W = rng.integers(0, 8, size=(n, n)) * (rng.random((n, n)) < 0.5) + np.eye(n, dtype=int) * 4
    W[np.arange(n), (np.arange(n) + 1) % n] += 3  # irreducible (a cycle) and aperiodic (self-loops)
    P = np.zeros((n, n))
    for i in range(n):
        w = W[i].astype(float)
        P[i] = np.floor(w / w.sum() * 64) / 64
        P[i, i] += 1.0 - P[i].sum()  # exact: multiples of 1/64
    vals, vecs = np.linalg.eig(P.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return P, pi / pi.sum()


def _ties(note: str) -> tuple[int, int, int]:
    m = re.search(r"(\d+) by certified fixed-order evolution, (\d+) in exact rational arithmetic, (\d+) by the", note)
    return (0, 0, 0) if m is None else (int(m[1]), int(m[2]), int(m[3]))


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


DEVICES = [None, "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not _cuda(), reason="no CUDA device"))]


@pytest.mark.parametrize("n,seed,t_star", [(3, 1, 9), (3, 2, 17), (12, 5, 6)])
@pytest.mark.parametrize("device", DEVICES)
def test_a_tie_within_one_ulp_of_eps_is_decided_as_exact_arithmetic_decides_it(n, seed, t_star, device):
    P, pi = _chain(n, seed)
    d = _exact_d(P, pi, t_star + 3)
    assert all(a > b for a, b in zip(d[1:], d[2:], strict=False))  # d strictly decreasing: the tie is unambiguous
    lo, hi = _floats_around(d[t_star])
    # one ulp apart, but on either side of d(t*): exact arithmetic says t* for hi and t* + 1 for lo
    assert (_t_mix(d, hi), _t_mix(d, lo)) == (t_star, t_star + 1)
    for eps, want in ((hi, t_star), (lo, t_star + 1)):
        r = mixing_time(sp.csr_matrix(P), eps=eps, pi=pi, device=device)
        assert r.mixing_time == want, (eps, r.note)
        fixed, rational, by_value = _ties(r.note)
        # a BLAS product cannot decide a tie within one ulp, nor can the fixed-order evolution (its bound is a few
        # ulps too): rational arithmetic took it, and nothing was left to a bare float value
        assert rational >= 1 and by_value == 0, r.note


@pytest.mark.parametrize("device", DEVICES)
def test_away_from_ties_no_fallback_runs(device):
    P, pi = _chain(12, 5)
    d = _exact_d(P, pi, 12)
    eps = float((d[6] + d[7]) / 2)  # halfway between two distances: far beyond every error bound
    r = mixing_time(sp.csr_matrix(P), eps=eps, pi=pi, device=device)
    assert r.mixing_time == _t_mix(d, eps) == 7
    assert "near-ties" not in r.note


def test_fixed_order_evolution_brackets_the_exact_distance():
    # the fixed-order row evolution's margin is rigorous: the exact d_x(t) lies in tv ± margin, for every start
    P, pi = _chain(20, 11)
    A = sp.csr_matrix(P)
    t = 25
    cdeg = int(np.bincount(A.indices, minlength=20).max())
    tv, mg = _evolve(
        A.indptr.astype(np.int64),
        A.indices.astype(np.int64),
        A.data,
        np.arange(20, dtype=np.int64),
        t,
        pi,
        row_sum_bound(A),
        gamma(cdeg),
        gamma(21),
    )
    Pf = [[Fraction(float(v)) for v in row] for row in P]
    pf = [Fraction(float(v)) for v in pi]
    M = [[Fraction(int(i == j)) for j in range(20)] for i in range(20)]
    for _ in range(t):
        M = [[sum(M[i][k] * Pf[k][j] for k in range(20)) for j in range(20)] for i in range(20)]
    for x in range(20):
        exact = sum(abs(M[x][j] - pf[j]) for j in range(20)) / 2
        assert abs(Fraction(float(tv[x])) - exact) <= Fraction(float(mg[x]))
        assert mg[x] < 1e-13  # and it is tight enough to decide everything but a near-tie
    # decide_starts on floats just either side of each exact distance returns what exact arithmetic says
    stats: dict = {}
    for x in (0, 7, 19):
        exact = sum(abs(M[x][j] - pf[j]) for j in range(20)) / 2
        lo, hi = _floats_around(exact)
        assert decide_starts(A, pi, np.array([x]), t, lo, stats)[0]  # d_x(t) > lo
        assert not decide_starts(A, pi, np.array([x]), t, hi, stats)[0]  # d_x(t) ≤ hi
    assert stats["rational"] == 6


def test_a_near_tie_too_long_to_evolve_is_decided_by_its_float64_value_and_said_so():
    """A metastable chain (SR on the toy problem, 599 states, α = 0.03: t_mix ≈ 4.8·10⁸) has starts within the
    rounding bound of ε at such t, whose one-step evolution would take ~10¹³ multiply-adds (the command ran for
    hours): they are decided by the computed value, and the note says the integer is exact only up to that bound."""
    import srchain.mixing_cert as mc
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    lat = Lattice.from_domain(14 / 598, (-4.0, 10.0))
    P = transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat, 0.03).P
    r = mixing_time(P, eps=0.25, pi=stationary(P).pi)
    assert r.exact and r.mixing_time > 10**8
    assert "taken by the float64 value" in r.note and "may differ between BLAS" in r.note
    # the budget is the only thing that changed: below it, decide_starts still evolves (and certifies)
    A = sp.csr_matrix(P)
    stats: dict = {}
    flat = np.full(A.shape[0], 1.0 / A.shape[0])
    out = decide_starts(A, flat, np.array([3, 5]), 10, 0.5, stats, np.array([0.0, 1.0]))
    assert stats == {"fixed_order": 2} and out.tolist() == [True, True]  # the evolution's answer, not the values given
    out = decide_starts(A, pi := stationary(P).pi, np.array([3, 5]), 10**9, 0.25, stats, np.array([0.3, 0.2]))
    assert out.tolist() == [True, False] and stats["float64_value"] == 2
    assert 2 * 10**9 * (A.nnz + A.shape[0]) > mc._EVOLVE_WORK and pi.size == A.shape[0]
