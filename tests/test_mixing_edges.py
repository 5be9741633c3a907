"""Edges the other tests never reach: ties exactly at ε in the mixing time (Eq. 10), and the renormalisation of the
transition matrix's rows at a ``tol`` where it moves something.

Ties. Eq. 10 is ``min{t : d(t) ≤ ε}``: a chain whose distance d(t) equals ε exactly must give that t, and one
float64 below ε must give t + 1. Both chains here have dyadic transition probabilities, so every power P^t (t ≤ 40)
and every TV the code forms are exact in float64 (fixed-point sums of multiples of 2^-t, far below 2^53), and the
exact d(t) is computed independently with integers.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.lattice import Lattice
from srchain.mixing import mixing_time
from srchain.noise import make_noise
from srchain.operators import move_laws, transition_matrix
from srchain.problems import get_problem


def _two_state(p):
    return np.array([[1 - p, p], [p, 1 - p]])


@pytest.mark.parametrize("k", list(range(1, 31)))
def test_two_state_chain_ties_at_eps(k):
    # P = [[3/4, 1/4], [1/4, 3/4]]: λ = 1/2, d(t) = ½·2^-t exactly; ε = d(k) gives k, one ulp less gives k + 1
    P, pi = _two_state(0.25), np.array([0.5, 0.5])
    eps = 2.0 ** -(k + 1)
    assert mixing_time(P, eps=eps, pi=pi).mixing_time == k
    assert mixing_time(P, eps=np.nextafter(eps, 0.0), pi=pi).mixing_time == k + 1
    assert mixing_time(P, eps=np.nextafter(eps, 1.0), pi=pi).mixing_time == k


def test_time_zero_when_every_start_is_already_within_eps():
    # d(0) = max_x (1 − π_x) = ½ for two states: ε = ½ is met at t = 0, one ulp below it at t = 1 (d(1) = ¼)
    P, pi = _two_state(0.25), np.array([0.5, 0.5])
    assert mixing_time(P, eps=0.5, pi=pi).mixing_time == 0
    assert mixing_time(P, eps=np.nextafter(0.5, 0.0), pi=pi).mixing_time == 1
    # one step already exact (d(1) = 0) but d(0) = ½ > ε: 1
    assert mixing_time(_two_state(0.5), eps=0.1, pi=pi).mixing_time == 1


N_CYCLE = 32


def _lazy_cycle_distance(t):
    """d(t) of the lazy walk on the N-cycle (stay or +1 with probability ½) from any start, as a Fraction."""
    row = [0] * N_CYCLE
    for j in range(t + 1):
        row[j % N_CYCLE] += math.comb(t, j)
    return sum(abs(Fraction(c, 2**t) - Fraction(1, N_CYCLE)) for c in row) / 2


def test_sparse_chain_ties_at_eps_through_the_binary_search():
    # 32 states, two entries per row: the sparse path of the doubling and the binary search on t
    n = N_CYCLE
    i = np.arange(n)
    P = sp.csr_matrix((np.full(2 * n, 0.5), (np.r_[i, i], np.r_[i, (i + 1) % n])), shape=(n, n))
    pi = np.full(n, 1.0 / n)
    checked = 0
    for t in [1, 2, 3, 5, 8, 13, 21, 27, 34, 40]:
        d_t, d_next = _lazy_cycle_distance(t), _lazy_cycle_distance(t + 1)
        eps = float(d_t)
        assert Fraction(eps) == d_t  # exact in float64
        if d_next >= d_t:
            continue
        assert mixing_time(P, eps=eps, pi=pi).mixing_time == t, t
        below = float(np.nextafter(eps, 0.0))
        assert d_next <= Fraction(below)
        assert mixing_time(P, eps=below, pi=pi).mixing_time == t + 1, t
        checked += 1
    assert checked >= 8


# --- renormalisation of rows -----------------------------------------------------------------------------------


def _rows_by_hand(problem, noise, lattice, alpha, tol):
    """Rows of P (d = 2) from the 1-D move laws: products over the two coordinates, entries < tol dropped unless the
    self-loop or a nearest-neighbour move (one coordinate by ±1), then each row divided by what it kept."""
    targets, probs, J = move_laws(problem, noise, lattice, alpha, "sr", tol)
    n, d, W = probs.shape
    assert d == 2
    off = np.abs(np.arange(W) - J)
    near = ((off[:, None] == 0) & (off[None, :] <= 1)) | ((off[:, None] <= 1) & (off[None, :] == 0))
    P = np.zeros((n, n))
    kept_mass = np.zeros(n)
    for i in range(n):
        prod = np.multiply.outer(probs[i, 0], probs[i, 1])
        valid = np.logical_and.outer(targets[i, 0] >= 0, targets[i, 1] >= 0) & (prod > 0)
        keep = valid & ((prod >= tol) | near)
        cols = np.add.outer(targets[i, 0] * lattice.strides[0], targets[i, 1] * lattice.strides[1])
        np.add.at(P[i], cols[keep], prod[keep])
        kept_mass[i] = prod[keep].sum()
    return P / kept_mass[:, None], 1.0 - kept_mass


@pytest.mark.parametrize("tol", [1e-3, 2e-2])
def test_rows_are_renormalised_where_tol_drops_mass(tol):
    p = get_problem("separable", dim=2)
    lat = Lattice.from_domain(1.0, p.domain, dim=2)
    nz = make_noise("gaussian", sigma=3.0)
    alpha = 0.4
    op = transition_matrix(p, nz, lat, alpha, tol=tol)
    want, dropped = _rows_by_hand(p, nz, lat, alpha, tol)
    got = op.P.toarray()
    assert dropped.max() > 1e-3  # the tol does drop mass: renormalisation moves every kept entry of such rows
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert op.dropped_mass == pytest.approx(dropped.max(), rel=1e-9, abs=1e-15)
    # the same chain at the default tol drops (almost) nothing: the two differ by about the dropped mass
    full = transition_matrix(p, nz, lat, alpha).P.toarray()
    assert np.abs(full - got).sum(axis=1).max() == pytest.approx(2 * dropped.max(), rel=1e-6)


# --- certified decisions and the memory guard ------------------------------------------------------------------


def test_compressed_decisions_are_certified_on_both_sides():
    # a computed TV is known to ± margin (for a compressed power: its error bound plus the float64 slack): above ε
    # only if tv − margin > ε, below only if tv + margin ≤ ε; anything in between is undecided (neither), and an
    # exact computation (margin 0) is plain
    from srchain.mixing import _SLACK
    from srchain.mixing_cert import classify

    tv = np.array([0.20, 0.24, 0.26, 0.30, 0.25])
    b = 0.02 + _SLACK
    above, below = classify(tv, np.full(5, b), 0.25)
    assert above.tolist() == [False, False, False, True, False]
    assert below.tolist() == [True, False, False, False, False]
    edge = np.array([0.25 + b, 0.25 - b])
    above, below = classify(edge, np.full(2, b), 0.25)
    assert below.tolist() == [False, True] and not above.any()
    above, below = classify(np.array([0.25, 0.2500001]), 0.0, 0.25)
    assert below.tolist() == [True, False] and above.tolist() == [False, True]


def test_memory_guard_counts_the_powers_kept_and_room_for_one_more_square():
    # two states: the up-front check is 3 dense n×n arrays (96 bytes); the doubling then holds P and P² (64 bytes)
    # plus room for one more square and its product (2 × 32 bytes): 128 > 97, refused with the limit named
    from srchain import SrchainError

    P, pi = _two_state(0.25), np.array([0.5, 0.5])
    # (ε = 0.1: d(2) = 1/8 > ε keeps P² for the search, d(4) ≤ ε stops the doubling; t_mix = 3)
    with pytest.raises(SrchainError):
        mixing_time(P, eps=0.1, pi=pi, max_bytes=97)
    assert mixing_time(P, eps=0.1, pi=pi, max_bytes=128).mixing_time == 3


# --- spectral bounds by hand -----------------------------------------------------------------------------------


def test_spectral_bounds_of_the_two_state_chain_by_hand():
    # λ* = 1 − 2p = ½: t_rel = 2; lower (t_rel − 1)·log(1/(2ε)), upper t_rel·log(1/(ε π_min)) (reversible)
    from srchain.mixing import spectral_bounds

    eps = 0.1
    t_rel, lo, hi, note = spectral_bounds(_two_state(0.25), np.array([0.5, 0.5]), eps)
    assert t_rel == pytest.approx(2.0, rel=1e-12)
    assert lo == pytest.approx(math.log(1 / (2 * eps)), rel=1e-12)
    assert hi == pytest.approx(2.0 * math.log(1 / (eps * 0.5)), rel=1e-12)
    assert note == ""
    r = mixing_time(_two_state(0.25), eps=eps, pi=np.array([0.5, 0.5]), max_exact_states=1)
    assert not r.exact and r.mixing_time is None
    assert r.lower_bound <= 3 <= r.upper_bound  # the exact value (d(3) = 1/16 ≤ 0.1 < d(2))


@pytest.mark.parametrize("p", [0.0, 2.0**-53])
def test_a_gap_below_float64_resolution_gives_an_infinite_relaxation_time(p):
    # p = 0: two closed classes, λ* = 1 exactly; p = 2^-53: λ* = 1 − 2^-52, within 1e-15 of 1
    from srchain.mixing import spectral_bounds

    t_rel, lo, hi, note = spectral_bounds(_two_state(p), np.array([0.5, 0.5]), 0.25)
    assert t_rel == math.inf and lo == math.inf and hi == math.inf
    assert "below float64 resolution" in note


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize("max_steps", [100, 128, 181])
def test_giving_up_at_max_steps_says_which_step_is_certified_unmixed(max_steps, device):
    """M_ε = 182 (toy, Δ = 0.5, α = 0.1): below it the exact doubling gives up with NotMixed, whose ``steps`` is the
    largest power of 2 it computed (at most max_steps, the next one beyond it), certified unmixed: M_ε > steps."""
    from srchain.errors import NotMixed

    if device is not None:
        pytest.importorskip("torch")
    op = transition_matrix(get_problem("toy"), make_noise("gaussian", 2.0), Lattice.from_domain(0.5, (-4, 10)), 0.1)
    assert mixing_time(op).mixing_time == 182
    with pytest.raises(NotMixed, match="has not mixed") as info:
        mixing_time(op, max_steps=max_steps, device=device)
    steps = info.value.steps
    assert steps <= max_steps < 2 * steps and steps & (steps - 1) == 0 and steps < 182


def test_srchain_mixing_keeps_the_other_alphas_when_one_has_not_mixed(tmp_path, capsys):
    """`srchain mixing` with an α that has not mixed within --max-steps: that row carries the certified lower bound
    (the last step the exact doubling found unmixed, plus 1) beside the spectral bounds, the others their exact M_ε,
    and the command succeeds."""
    import json

    from cli_helpers import run

    out = tmp_path / "m.json"
    code, text, err = run(
        ["mixing", "--alpha", "0.3", "0.1", "--max-steps", "100", "--quiet", "--json", str(out)], capsys
    )
    assert code == 0, err
    rows = {r["alpha"]: r for r in json.loads(out.read_text())["results"]}
    assert rows[0.3]["exact"] and rows[0.3]["mixing_time"] == 29
    slow = rows[0.1]
    assert not slow["exact"] and slow["mixing_time"] is None and slow["method"] == "spectral-bounds"
    assert slow["lower_bound"] == 65 <= 182  # d(64) > ε, and M_ε = 182
    assert slow["note"].startswith("not mixed within --max-steps 100: d(64) > eps")
    assert "# alpha=0.1: not mixed" in text
