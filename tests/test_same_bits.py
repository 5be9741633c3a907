"""Same bits everywhere: every solver's result is independent of BLAS/OpenMP/Numba thread counts and of the BLAS
kernel the machine picks.

The solves of ``tests/_bits_solves.py`` (operators, dense GTH in NumPy and in Numba, sparse/multifrontal GTH serial
and threaded, banded GTH, the limit laws, exact mixing times (dense, compressed and torch doubling, 1-D and 2-D)
and BinaryConnect's law, on the lattice and on fp8-e4m3's grid; the 1-D toy at Δ = 0.01 and
the 2-D coupled chain of ``test_sweep_cli``) run in fresh processes under 1, 2 and 3 threads (3 is more than a
2-core machine has) and, where OpenBLAS was built for several CPUs (``OPENBLAS_CORETYPE``), with another CPU's
BLAS kernels, which is what another machine would run. Every result's bytes must agree. With the dense GTH's
trailing update done by BLAS ``dgemm`` (and ``small_gth``'s sums by BLAS ``ddot``), the Haswell and Prescott
kernels gave other bits than the SkylakeX one on the dense, sparse and small solvers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from srchain.gth.front import fma, front_eliminate

ROOT = Path(__file__).resolve().parent.parent
SOLVES = ROOT / "tests" / "_bits_solves.py"

#: (threads, OpenBLAS kernel): one thread as a Dask worker runs, the machine's own count, and more threads than
#: cores, each with another CPU's BLAS kernels (ignored by a BLAS that has only one).
SETTINGS = [(1, None), (2, "Haswell"), (3, "Prescott")]


def _solve(threads: int, coretype: str | None) -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run(
        [sys.executable, str(SOLVES)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_results_have_the_same_bits_under_any_thread_count_and_blas_kernel():
    runs = [_solve(t, c) for t, c in SETTINGS]
    first = runs[0]
    assert len(first) >= 18
    # the compressed path was taken, and it, torch and the dense path agree on the integer (certified decisions)
    assert first["mixing_compressed_1d"][1]
    assert first["mixing_compressed_1d"][0] == first["mixing_torch_1d"]
    for (t, c), other in zip(SETTINGS[1:], runs[1:], strict=True):
        differ = sorted(k for k in first if first[k] != other.get(k))
        assert not differ, f"{differ} differ between 1 thread and {t} threads (BLAS kernel {c})"


@njit
def _unblocked(F, k):
    """The textbook GTH elimination of the first ``k`` states, one pivot at a time: s_p summed left to right,
    ``c_ip = a_ip · (1/s_p)``, ``a_ij ← fma(c_ip, a_pj, a_ij)``."""
    m = F.shape[0]
    for p in range(min(k, m - 1)):
        s = 0.0
        for j in range(p + 1, m):
            s += F[p, j]
        iv = 1.0 / s
        for i in range(p + 1, m):
            c = F[i, p] * iv
            F[i, p] = c
            for j in range(p + 1, m):
                F[i, j] = fma(c, F[p, j], F[i, j])


@pytest.mark.parametrize("kind", ["subnormal", "tiny-c", "huge-u"])
def test_blocked_front_elimination_keeps_the_bits_with_subnormals_and_extremes(kind):
    # the tiles take fma(c·2^-52, u·2^52, y) for fma(c, u, y) (no microcode assist on a subnormal u) only where both
    # scalings are exact; subnormal entries, multipliers below 2^-970 (tiles unscaled) and pivot-row entries above
    # 2^970 (panels unscaled) must all give the unblocked algorithm's bits, gradual underflow included
    m, k = 203, 131
    rng = np.random.default_rng({"subnormal": 1, "tiny-c": 2, "huge-u": 3}[kind])
    F = rng.random((m, m)) * (rng.random((m, m)) < 0.6)
    pick = rng.random((m, m)) < 0.08
    if kind == "subnormal":
        F[pick] = rng.random(pick.sum()) * 2.0**-1040  # subnormal (down to 2^-1074)
        F[k + 40 :, :] *= 2.0**-1050  # rows left uneliminated whose sums stay subnormal
    elif kind == "tiny-c":
        F[pick] = rng.random(pick.sum()) * 1e-300  # multipliers c = a_ip/s_p near 1e-300 < 2^-970
    else:
        F[pick] = 1e300 * (1.0 + rng.random(pick.sum()))  # u·2^52 would overflow
    F[np.arange(m - 1), np.arange(1, m)] = rng.random(m - 1) + 0.5
    np.fill_diagonal(F, 0.0)
    ref = F.copy()
    _unblocked(ref, k)
    tiny = np.finfo(float).tiny
    pivots_subnormal = np.any((F[:k, k:] > 0) & (F[:k, k:] < tiny))
    assert front_eliminate(F, k) == 0
    low = np.tril(np.ones((m, m), dtype=bool), -1)[:, :k]
    np.testing.assert_array_equal(F[:, :k][low], ref[:, :k][low])
    off = ~np.eye(m - k, dtype=bool)
    np.testing.assert_array_equal(F[k:, k:][off], ref[k:, k:][off])
    if kind == "subnormal":  # subnormal pivot-row entries (the scaling's case), and subnormal results
        assert pivots_subnormal and np.any((ref[k:, k:] > 0) & (ref[k:, k:] < tiny))


@pytest.mark.parametrize(
    "m,k,density",
    [(300, 300, 1.0), (700, 250, 1.0), (531, 531, 0.05), (97, 40, 0.3), (13, 13, 1.0), (45, 38, 0.6)],
)
def test_blocked_front_elimination_is_the_unblocked_one_bit_for_bit(m, k, density):
    # panels of 32 pivots, rows in groups (the rest one by one), register tiles of vectors, then single vectors, then
    # single columns, zero c's skipped: none of it may change a bit
    rng = np.random.default_rng(m + k)
    F = rng.random((m, m)) * (rng.random((m, m)) < density)
    F[np.arange(m - 1), np.arange(1, m)] = rng.random(m - 1) + 0.5  # every state can move on: no zero pivot
    np.fill_diagonal(F, 0.0)
    ref = F.copy()
    _unblocked(ref, k)
    assert front_eliminate(F, k) == 0
    kk = min(k, m - 1)
    # the c's below the pivots and the Schur complement; the diagonal is never read and may differ
    low = np.tril(np.ones((m, m), dtype=bool), -1)[:, :kk]
    np.testing.assert_array_equal(F[:, :kk][low], ref[:, :kk][low])
    off = ~np.eye(m - kk, dtype=bool)
    np.testing.assert_array_equal(F[kk:, kk:][off], ref[kk:, kk:][off])
    assert np.array_equal(F[:kk, kk:], ref[:kk, kk:])  # the pivot rows
