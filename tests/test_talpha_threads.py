"""The T_α build's compiled, threaded kernels (``srchain.move_kernels._sr_place``, ``_place``, ``_offsets_kernel``,
the Gaussian excess in ``srchain.noise_kernels`` and the row assembly of ``srchain.assemble``) against the NumPy
formulas they replaced, bit for bit, and the finished matrix's bytes under 1 and 2 Numba threads in fresh processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srchain.lattice import Lattice
from srchain.noise import _psi_gauss, make_noise
from srchain.operators import _scaled_offsets, _window, move_laws, transition_matrix
from srchain.problems import get_problem

ROOT = Path(__file__).resolve().parent.parent


def _numpy_sr_laws(problem, noise, lattice, alpha, tol=1e-14):
    """SR's move laws as the NumPy code computed them before the kernels (whole arrays, one thread)."""
    grads = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(lattice.size, lattice.dim)
    delta = lattice.delta
    tau = alpha / delta
    J = _window(problem, noise, lattice, grads, alpha, tol)
    offs = np.arange(-J, J + 1, dtype=np.int64)
    m = -grads / delta * alpha
    c = lattice.coords
    nk = np.asarray(lattice.shape, dtype=np.int64)
    tgt = c[:, :, None] + offs
    at_lo = tgt == 0
    at_hi = tgt == (nk - 1)[None, :, None]
    inside = (tgt >= 0) & (tgt <= (nk - 1)[None, :, None])
    mm = m[:, :, None]
    inv_tau = 1.0 / tau
    g = (-grads)[:, :, None]
    ext = np.arange(-J - 1, J + 2, dtype=np.float64)
    a = _scaled_offsets(g, ext, inv_tau)
    if noise.name == "gaussian":  # the former GaussianNoise.excess: s·ψ(−|a|/s) through _psi_gauss
        s = noise.s
        ex = s * _psi_gauss(-(np.abs(a) / s))
    else:
        ex = np.where(a <= 0, noise.lower_partial(np.minimum(a, 0.0)), noise.upper_partial(np.maximum(a, 0.0)))
    up = (1.0 + offs) - mm
    dn = (1.0 - offs) + mm
    exact = np.maximum(0.0, np.minimum(up, dn)) + tau * ((ex[..., :-2] + ex[..., 2:]) - 2.0 * ex[..., 1:-1])
    ge = np.clip(dn, 0.0, 1.0) + tau * (ex[..., :-2] - ex[..., 1:-1])
    le = np.clip(up, 0.0, 1.0) + tau * (ex[..., 2:] - ex[..., 1:-1])
    probs = np.where(at_lo, le, np.where(at_hi, ge, exact))
    probs = np.where(inside, np.maximum(probs, 0.0), 0.0)
    return np.where(inside, tgt, -1), probs


CASES = [
    ("toy", 1, 0.05, "gaussian", 2.0, 0.1),
    ("toy", 1, 0.05, "gaussian", 2.0, 1e-9),  # tiny α: moves of ~1e-9 and tails far below, relative digits matter
    ("toy", 1, 0.05, "laplace", 1.0, 0.1),
    ("coupled", 2, 0.25, "gaussian", 2.0, 0.1),
    ("separable", 2, 0.14, "gaussian", 0.5, 3e-3),
    ("coupled", 2, 0.25, "student-t", 1.0, 0.05),
]


@pytest.mark.parametrize("name,dim,delta,noise_name,sigma,alpha", CASES)
def test_kernels_give_the_numpy_formulas_bit_for_bit(name, dim, delta, noise_name, sigma, alpha):
    problem = get_problem(name, dim=dim) if dim > 1 else get_problem(name)
    lat = Lattice.from_domain(delta, problem.domain, dim) if dim > 1 else Lattice.from_domain(delta, problem.domain)
    noise = make_noise(noise_name, sigma=sigma)
    targets, probs, _ = move_laws(problem, noise, lat, alpha)
    ref_t, ref_p = _numpy_sr_laws(problem, noise, lat, alpha)
    np.testing.assert_array_equal(targets, ref_t)
    # equal as floats and as bytes (a NaN, or -0.0 against 0.0 where an entry is kept, would show)
    np.testing.assert_array_equal(probs, ref_p)
    kept = probs != 0
    assert probs[kept].tobytes() == ref_p[kept].tobytes()


def test_tiny_probabilities_keep_their_relative_digits():
    # toy at α = 1e-9: a move by +1 is hat(m − 1) + τ[E(a_0) − 2E(a_1) + E(a_2)] with a_1, a_2 ≈ −1/τ ≈ −5e7, where
    # the Gaussian excess is exactly 0, so it equals m⁺ + τ(Λ(−g) − (−g)⁺) = τΛ(−g) = α·Ũ(x, x + Δ) up to rounding
    # (a few ulps, times at most 2 from the one subtraction, since Λ(a) ≥ a⁺). Computed as 1 − (other moves) it
    # would keep only ~1e-7 of its digits.
    problem = get_problem("toy")
    lat = Lattice.from_domain(0.05, problem.domain)
    noise = make_noise("gaussian", sigma=2.0)
    alpha = 1e-9
    targets, probs, J = move_laws(problem, noise, lat, alpha)
    g = np.asarray(problem.gradient(lat.points), dtype=np.float64).ravel()
    inner = (lat.coords[:, 0] > 0) & (lat.coords[:, 0] < lat.size - 1)
    got = probs[inner, 0, J + 1]
    want = alpha * (noise.lower_partial(-g) / lat.delta)[inner]
    assert np.all(np.abs(got / want - 1) < 1e-12)
    assert np.all(got > 0)


_CHILD = """
import hashlib, json, sys
import numba
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
p = get_problem("coupled", dim=2)
lat = Lattice.from_domain(14.0 / 299, p.domain, 2)
op = transition_matrix(p, make_noise("gaussian", sigma=2.0), lat, 5e-3)
P = op.P
h = hashlib.sha256()
for a in (P.data, P.indices, P.indptr):
    h.update(str(a.dtype).encode()); h.update(a.tobytes())
print(json.dumps({"threads": numba.get_num_threads(), "digest": h.hexdigest(), "nnz": int(P.nnz),
                  "dropped": op.dropped_mass.hex(), "window": op.window}))
"""


def _build_in_child(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_t_alpha_has_the_same_bytes_on_one_and_two_threads():
    # 9·10⁴ states of the coupled 2-D chain: 2 coordinates × (2J + 3) excesses per state is above the excess
    # kernel's threading threshold (2²⁰ elements), so every threaded kernel of the build runs on 2 threads
    one, two = _build_in_child(1), _build_in_child(2)
    assert one["threads"] == 1 and two["threads"] == 2
    assert 90_000 * 2 * (2 * one["window"] + 3) >= 1 << 20
    assert one == {**two, "threads": 1}
    # and the same bytes in this process, whatever its thread count
    p = get_problem("coupled", dim=2)
    lat = Lattice.from_domain(14.0 / 299, p.domain, 2)
    P = transition_matrix(p, make_noise("gaussian", sigma=2.0), lat, 5e-3).P
    h = hashlib.sha256()
    for a in (P.data, P.indices, P.indptr):
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    assert h.hexdigest() == one["digest"]
    assert math.isfinite(float.fromhex(one["dropped"]))
