"""Exact ε-mixing (Eq. 10) on the coupled 2-D problem: the certified compressed path gives dense doubling's integer.

The coupled chain (f = ½‖w‖² + c·w₁w₂ style coupling, no product structure) is the hard case of issue 20: its powers
become low-rank only after a few squarings. Compression is forced here (``min_compress_states=0``) on small
lattices, and each integer is compared with two references computed independently of the compressed code: the
uncompressed certified path of :func:`srchain.mixing._exact`, and a plain dense doubling + bisection written below
(float64 NumPy, the straightforward method the benchmark times).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import srchain.mixing as mixing_mod
from srchain.lattice import Lattice
from srchain.mixing import mixing_time
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary


def _coupled(side: int, alpha: float, coupling: float, sigma: float = 2.0):
    prob = get_problem("coupled", dim=2, coupling=coupling)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    P = transition_matrix(prob, make_noise("gaussian", sigma=sigma), lat, alpha).P
    return sp.csr_matrix(P), stationary(P, shape=lat.shape).pi


def _dense_doubling(P: np.ndarray, pi: np.ndarray, eps: float) -> int:
    """min{t : max_x ½‖P^t(x, ·) − π‖₁ ≤ ε} by dense squaring until mixed, then bisection on the stored powers."""

    def d(M):
        return 0.5 * np.abs(M - pi[None, :]).sum(axis=1).max()

    if d(np.eye(P.shape[0])) <= eps:
        return 0
    powers = [P]
    while d(powers[-1]) > eps:
        powers.append(powers[-1] @ powers[-1])
    j = len(powers) - 1
    if j == 0:
        return 1
    t, X = 2 ** (j - 1), powers[j - 1]
    for i in range(j - 2, -1, -1):
        Y = X @ powers[i]
        if d(Y) > eps:
            X, t = Y, t + 2**i
    return t + 1


# (side, alpha, coupling, eps): lattices of 196–576 states, drift-dominated (α = 0.3) to slow (α = 0.05), weak and
# strong coupling, loose and tight ε
SETTINGS = [
    (14, 0.1, 1.0, 0.25),
    (18, 0.3, 1.0, 0.25),
    (20, 0.1, 0.5, 0.1),
    (20, 0.05, 1.0, 0.25),
    (24, 0.1, 1.0, 0.4),
]


@pytest.mark.parametrize("side, alpha, coupling, eps", SETTINGS)
def test_coupled_2d_compressed_path_matches_dense_doubling(side, alpha, coupling, eps):
    A, pi = _coupled(side, alpha, coupling)
    t_ref = _dense_doubling(A.toarray(), pi, eps)
    t_c, info = mixing_mod._exact(A, pi, eps, 10**9, min_compress_states=0)
    t_d, info_d = mixing_mod._exact(A, pi, eps, 10**9, compress=False)
    assert t_c == t_d == t_ref
    assert info_d["compressed_at"] is None
    # a certified low-rank power was used (ranks 15–50 here), with a tiny certified error
    assert info["compressed_at"] is not None and info["rank"] <= A.shape[0] // 8
    assert 0 < info["err"] < 1e-9


def test_coupled_2d_public_api_says_which_path_ran():
    A, pi = _coupled(16, 0.1, 1.0)
    r = mixing_time(A, eps=0.25, pi=pi)
    assert r.exact and r.mixing_time == _dense_doubling(A.toarray(), pi, 0.25)
    assert r.note.startswith("path: dense doubling")  # 256 states: below the size where compression pays


def test_stage_record_covers_the_run():
    """``_exact``'s optional stage record (used by ``bench_mixing.py --profile``) lists every squaring and every
    product of the binary search, and does not change the integer."""
    A, pi = _coupled(20, 0.1, 1.0)
    stages: list = []
    t, info = mixing_mod._exact(A, pi, 0.25, 10**9, min_compress_states=0, stages=stages)
    t0, _ = mixing_mod._exact(A, pi, 0.25, 10**9, min_compress_states=0)
    assert t == t0
    squares = [s for s in stages if s[0].startswith("square")]
    searches = [s for s in stages if s[0].startswith("search")]
    K = len(squares)  # squarings P^2 … P^(2^(K)) were formed; the search runs over k = K−1 … 0
    assert 2 ** (K - 1) < t <= 2**K + 1 or K == 0
    assert len(searches) == K - 1
    assert all(s[3] >= 0.0 and s[4] >= 0.0 for s in stages)  # seconds, and system seconds
    assert any(s[0].startswith("compress") and s[1] == "lowrank" for s in stages) == (info["compressed_at"] is not None)


class _CountingRng:
    """A Generator stand-in that counts the sketch columns the range finder draws."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.columns = 0

    def standard_normal(self, shape):
        self.columns += shape[1]
        return self.rng.standard_normal(shape)


def _decaying(n: int, c: float, seed: int) -> np.ndarray:
    """U diag(σ) Vᵀ with σ_j = exp(−c√j), the decay of a 2-D chain's powers (random orthogonal U, V)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (U * np.exp(-c * np.sqrt(np.arange(n)))[None, :]) @ V.T


def test_range_finder_refuses_a_slowly_decaying_spectrum_early():
    """Singular values σ_j = exp(−√j) (the 2-D kernels' shape: numerical rank ≈ 1190 at 1e-15, far above
    r_max = 300): refused after at most 256 sketch columns. The geometric rule alone drew 512 here (and on the coupled
    100 × 100 chain's P⁴, 2048 columns in 153 s) before refusing."""
    Q = mixing_mod._Pow("dense", D=_decaying(1200, 1.0, 3))
    counter = _CountingRng(0)
    assert mixing_mod._compress(Q, 300, counter) is None
    assert counter.columns <= 256


def test_range_finder_still_compresses_a_low_rank_power():
    """The early refusal does not refuse a power of rank ≤ r_max: P^32 of the coupled 30 × 30 chain compresses."""
    A, pi = _coupled(30, 0.1, 1.0)
    D = A.toarray()
    for _ in range(5):
        D = D @ D
    counter = _CountingRng(0)
    L = mixing_mod._compress(mixing_mod._Pow("dense", D=D), D.shape[0] // 8, counter)
    assert L is not None and L.U.shape[1] <= D.shape[0] // 8 and L.err.max() < 1e-11


def test_the_range_finder_refuses_early_and_widens_to_the_predicted_rank():
    """σ_j = exp(−c√j) at 600 states: rank ≈ (ln 10¹⁴ / c)² at float64 noise, r_max = 150. For c = 2 (rank ≈ 260)
    the sketch is refused before it reaches r_max columns (the former factor 2 on the predicted rank drew 187 first);
    for c = 3.6 (rank ≈ 80) it is accepted and certified, widened from 32 columns towards the predicted rank (fewer
    than the 128 that doubling draws)."""
    rng = _CountingRng(0)
    assert mixing_mod._compress(mixing_mod._Pow("dense", D=_decaying(600, 2.0, 1)), 150, rng) is None
    assert rng.columns < 150
    X = _decaying(600, 3.6, 1)
    rng = _CountingRng(0)
    L = mixing_mod._compress(mixing_mod._Pow("dense", D=X), 150, rng)
    assert L is not None and 60 <= L.U.shape[1] <= 120
    assert np.all(np.abs(X - L.U @ L.V).sum(axis=1) <= L.err + 1e-13)
    assert rng.columns < 128
