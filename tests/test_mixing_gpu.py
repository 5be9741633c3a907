"""The torch path of the exact mixing time (srchain.mixing_gpu), run on CPU tensors: same integers as NumPy."""

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.errors import SrchainError
from srchain.mixing import _exact, mixing_time

pytest.importorskip("torch")

from srchain.mixing_gpu import exact_mixing_torch  # noqa: E402


def _toy(n, alpha):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    lat = Lattice.from_domain(14.0 / (n - 1), (-4.0, 10.0), 1)
    P = transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat, alpha).P
    return P, stationary(P).pi


def _coupled(side, alpha):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    prob = get_problem("coupled", dim=2, coupling=1.0)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    P = transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha).P
    return P, stationary(P, shape=lat.shape).pi


@pytest.mark.parametrize(
    "chain", [lambda: _toy(120, 0.1), lambda: _toy(300, 0.3), lambda: _coupled(12, 0.2)], ids=["toy120", "toy300", "2d"]
)
@pytest.mark.parametrize("eps", [0.25, 0.05])
def test_torch_cpu_matches_numpy(chain, eps):
    P, pi = chain()
    t_np, _ = _exact(sp.csr_matrix(P), pi, eps, 10**9, compress=False)
    t_gpu, info = exact_mixing_torch(P, pi, eps, 10**9, device="cpu")
    assert t_gpu == t_np
    assert info["dropped"] == [] and info["recomputed"] == 0


def test_random_dense_chain():
    rng = np.random.default_rng(3)
    A = rng.random((150, 150)) ** 12
    A /= A.sum(axis=1, keepdims=True)
    from srchain.stationary import stationary

    pi = stationary(A).pi
    t_np, _ = _exact(sp.csr_matrix(A), pi, 0.25, 10**9, compress=False)
    assert exact_mixing_torch(A, pi, 0.25, 10**9, device="cpu")[0] == t_np


def test_checkpointing_drops_and_recomputes_powers():
    """With room for 12 dense powers (10 held) and 19 levels, phase 1 drops some (never two neighbours) and phase 2
    recomputes them."""
    P, pi = _toy(200, 0.05)
    t_np, _ = _exact(sp.csr_matrix(P), pi, 0.25, 10**9, compress=False)
    n = P.shape[0]
    t, info = exact_mixing_torch(P, pi, 0.25, 10**9, device="cpu", max_bytes=12 * 8.0 * n * n)
    assert t == t_np
    assert t_np > 2**18  # 19 levels: 10 held powers cannot hold them all
    assert info["dropped"], info
    assert np.all(np.diff(info["dropped"]) > 1)
    assert info["recomputed"] == len(info["dropped"])


def test_powers_moved_to_host_and_dropped():
    """Room for 8 on the device (6 held) and 3 in host memory for 19 levels: recomputation, then host memory."""
    P, pi = _toy(200, 0.05)
    t_np, _ = _exact(sp.csr_matrix(P), pi, 0.25, 10**9, compress=False)
    one = 8.0 * 200 * 200
    t, info = exact_mixing_torch(P, pi, 0.25, 10**9, device="cpu", max_bytes=8 * one, host_bytes=3 * one)
    assert t == t_np
    assert info["moved"] >= 2 and info["dropped"], info  # at least one power moved out and back


def test_too_little_memory_is_a_user_error():
    P, pi = _toy(200, 0.05)
    with pytest.raises(SrchainError, match="needs room"):
        exact_mixing_torch(P, pi, 0.25, 10**9, device="cpu", max_bytes=4 * 8.0 * 200 * 200)


def test_api_device_and_method():
    P, pi = _toy(150, 0.1)
    r = mixing_time(P, eps=0.25, pi=pi, device="cpu")
    assert r.method == "exact-doubling-torch" and r.exact
    assert r.mixing_time == mixing_time(P, eps=0.25, pi=pi).mixing_time
    with pytest.raises(SrchainError, match="device"):
        mixing_time(P, eps=0.25, pi=pi, device="tpu")


def test_cli_device(tmp_path):
    import json

    from srchain.cli import main

    out = tmp_path / "m.json"
    args = ["mixing", "--problem", "toy", "--delta", "0.1", "--alpha", "0.2", "--eps", "0.25", "--json", str(out)]
    assert main(args + ["--device", "cpu"]) == 0
    a = json.loads(out.read_text())["results"][0]
    assert main(args) == 0
    b = json.loads(out.read_text())["results"][0]
    assert a["method"] == "exact-doubling-torch" and a["mixing_time"] == b["mixing_time"]
    assert main(args + ["--device", "nope"]) == 2
