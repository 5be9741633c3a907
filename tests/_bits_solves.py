"""The solves of ``tests/test_same_bits.py``, run in a subprocess whose BLAS/OpenMP/Numba thread counts the test
sets: prints one JSON object mapping each result's name to the SHA-256 of its bytes.

    python tests/_bits_solves.py
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def main() -> None:
    from srchain.toy.bc_law import bc_law

    from srchain.gth import banded_law, dense_gth, small_gth, sparse_gth
    from srchain.lattice import Lattice
    from srchain.mixing import _exact, mixing_time
    from srchain.noise import make_noise
    from srchain.operators import limit_chain, transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    out = {}
    noise = make_noise("gaussian", sigma=2.0)
    # the 1-D toy at Δ = 0.01 (1401 states): dense GTH (auto's choice), the banded and the sparse solvers
    toy = get_problem("toy")
    lat1 = Lattice.from_domain(0.01, toy.domain)
    op1 = transition_matrix(toy, noise, lat1, 0.1)
    out["operator_1d"] = _digest(op1.P.data, op1.P.indices, op1.P.indptr)
    out["dense_gth_1d"] = _digest(dense_gth(op1.P))
    out["auto_1d"] = _digest(stationary(op1.P, shape=lat1.shape).pi)
    out["banded_1d"] = _digest(banded_law(op1.P))
    out["sparse_gth_1d"] = _digest(sparse_gth(op1.P, shape=lat1.shape, threads=2))
    lc1 = limit_chain(toy, noise, lat1)
    out["limit_1d"] = _digest(stationary(lc1.t_tilde, shape=lat1.shape).pi)
    # a small chain: the NumPy dense GTH
    lat_s = Lattice.from_domain(0.1, toy.domain)
    op_s = transition_matrix(toy, noise, lat_s, 0.1)
    out["small_gth"] = _digest(small_gth(op_s.P))
    # the 2-D coupled chain of the sweep test (Δ = 0.5): sparse (multifrontal) GTH, serial and threaded, and dense
    coupled = get_problem("coupled", dim=2)
    lat2 = Lattice.from_domain(0.5, coupled.domain, 2)
    op2 = transition_matrix(coupled, noise, lat2, 0.1)
    out["operator_2d"] = _digest(op2.P.data, op2.P.indices, op2.P.indptr)
    out["sparse_gth_2d_1"] = _digest(sparse_gth(op2.P, shape=lat2.shape, threads=1))
    out["sparse_gth_2d_3"] = _digest(sparse_gth(op2.P, shape=lat2.shape, threads=3))
    out["dense_gth_2d"] = _digest(dense_gth(op2.P))
    lc2 = limit_chain(coupled, noise, lat2)
    out["limit_2d"] = _digest(stationary(lc2.t_tilde, shape=lat2.shape).pi)
    # mixing times (the exact doubling path) on the toy chain of the sweep test
    lat_m = Lattice.from_domain(0.5, toy.domain)
    for alpha in (0.1, 0.05):
        r = mixing_time(transition_matrix(toy, noise, lat_m, alpha).P)
        out[f"mixing_{alpha}"] = [r.mixing_time, r.lower_bound, r.upper_bound, r.note]
    # mixing times whose decisions are certified (srchain.mixing_cert): the 2-D coupled chain (dense doubling), the
    # 1-D toy at Δ = 0.03 by the compressed path (compression allowed from 300 states) and by torch on CPU tensors
    r = mixing_time(op2.P)
    out["mixing_2d"] = [r.mixing_time, r.note]
    lat_c = Lattice.from_domain(0.03, toy.domain)
    P_c = transition_matrix(toy, noise, lat_c, 0.2).P
    pi_c = stationary(P_c).pi
    t_c, info_c = _exact(P_c.tocsr(), pi_c, 0.25, 10**9, min_compress_states=300)
    out["mixing_compressed_1d"] = [t_c, info_c["compressed_at"] is not None]
    out["mixing_torch_1d"] = mixing_time(P_c, pi=pi_c, device="cpu").mixing_time
    # BinaryConnect's law (its banded GTH on a refined transfer operator)
    lat_bc = Lattice.from_domain(0.5, toy.domain)
    bc = bc_law(toy, noise, lat_bc, 0.1, tol=1e-2, max_bins=20_000)
    out["bc_law"] = _digest(bc.pi)
    # and on a format's grid (variable-width bins, flat windows summed by bincount)
    from srchain.grids import Grid

    toy8 = get_problem("toy", domain=(1.0, 8.0))
    bc8 = bc_law(toy8, noise, Grid.of("fp8-e4m3", toy8.domain), 0.1, tol=1e-2)
    out["bc_law_fp8"] = _digest(bc8.pi, bc8.latent)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
