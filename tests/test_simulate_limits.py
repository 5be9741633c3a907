"""Up-front estimates and limits of the simulators and the toy experiments (issue 9: huge work is refused from an
estimate before any kernel runs, counts the int64 kernels cannot hold are refused, BC's refinement stops at the
memory limit). No timed tests: the estimates are pure functions of the sizes."""

import math

import numpy as np
import pytest

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.simulate import (
    MAX_TOTAL_STEPS,
    SECONDS_PER_STEP,
    WorkEstimate,
    check_work,
    estimate_simulation,
    format_duration,
    operator_bytes_floor,
    simulate,
    simulate_many,
)

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)
GAUSS = make_noise("gaussian", sigma=4.0)


def test_estimate_is_linear_in_the_work_and_uses_the_documented_constants():
    one = estimate_simulation(TOY, GAUSS, LAT, [("sr", 0.1)], 10**10, chains=1)
    assert one.seconds == pytest.approx(1e10 * SECONDS_PER_STEP["lattice-1d-gaussian"])  # one chain: one worker
    assert one.rate == pytest.approx(1 / SECONDS_PER_STEP["lattice-1d-gaussian"])
    ten = estimate_simulation(TOY, GAUSS, LAT, [("sr", 0.1)], 10**11, chains=1)
    assert ten.seconds == pytest.approx(10 * one.seconds)
    shared = estimate_simulation(TOY, GAUSS, LAT, [("sr", 0.1)], 10**10, chains=4, threads=2)
    assert shared.seconds == pytest.approx(2 * one.seconds)  # 4 chains on 2 workers
    lap = estimate_simulation(TOY, make_noise("laplace", sigma=4.0, batch=8), LAT, [("sr", 0.1)], 10**10)
    assert lap.seconds > 8 * one.seconds  # one draw per sample of the batch


def test_latent_histograms_are_counted_only_for_bc_and_sgd():
    fine = Lattice.from_domain(1e-3, TOY.domain)
    sr = estimate_simulation(TOY, GAUSS, fine, [("sr", 0.1)], 1000, chains=4)
    bc = estimate_simulation(TOY, GAUSS, fine, [("bc", 0.1)], 1000, chains=4)
    nbins = (fine.size - 1) * 20
    assert bc.bytes - sr.bytes >= 4 * nbins * 8  # chains × bins of int64
    assert sr.bytes < 4 * nbins * 8


def test_check_work_names_the_limit_and_the_estimate():
    est = WorkEstimate(seconds=5040.0, bytes=2.0**30, work=1e12, unit="steps")
    with pytest.raises(SrchainError, match=r"about 1\.4 hours at 2e\+08 steps/s, max_hours is 1"):
        check_work(est, math.inf, 1.0)
    with pytest.raises(SrchainError, match="max_memory"):
        check_work(est, 2.0**29, None)
    check_work(est, 2.0**31, 2.0)  # under both: no error


@pytest.mark.parametrize(
    "seconds, text",
    [
        (5, "5 s"),
        (600, "10 minutes"),
        (5040, "1.4 hours"),
        (3 * 86400, "3 days"),
        (3e7 * 365.25 * 86400, "3e+07 years"),
        (math.inf, "forever"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(steps=MAX_TOTAL_STEPS, burn_in=1), "int64"),
        (dict(steps=10**30), "int64"),
        (dict(steps=2**40, chains=2**23), "overflow"),
    ],
)
def test_counts_the_int64_kernels_cannot_hold_are_refused(kwargs, needle):
    base = dict(method="sr", alpha=0.1, steps=10, chains=1, start=4.0)
    base.update(kwargs)
    with pytest.raises(SrchainError, match=needle):
        simulate(TOY, GAUSS, LAT, **base)


def test_limits_are_checked_before_any_kernel(monkeypatch):
    def boom(*a, **k):  # pragma: no cover - must not run
        raise AssertionError("a kernel ran")

    monkeypatch.setattr("srchain.simulate._parallel", boom)
    with pytest.raises(SrchainError, match="max_hours"):
        simulate_many(TOY, GAUSS, LAT, [("sr", 0.1)], 10**12, chains=4, max_hours=1.0)
    with pytest.raises(SrchainError, match="max_memory"):
        simulate_many(TOY, GAUSS, LAT, [("bc", 0.1)], 100, chains=4, max_memory=1000.0)


def test_on_estimate_sees_the_checked_estimate_before_the_run():
    seen = []
    res = simulate_many(TOY, GAUSS, LAT, [("sr", 0.1), ("bc", 0.1)], 1000, chains=2, on_estimate=seen.append)
    assert len(seen) == 1 and seen[0].work == 2 * 2 * 1000
    assert int(res[0].counts.sum()) == 2000


def test_sr_runs_without_latent_bins_give_the_same_histograms():
    """The latent histogram is allocated only where BC runs; SR's counts do not depend on it."""
    alone = simulate_many(TOY, GAUSS, LAT, [("sr", 0.1)], 5000, chains=2, seed=3)[0]
    mixed = simulate_many(TOY, GAUSS, LAT, [("sr", 0.1), ("bc", 0.1)], 5000, chains=2, seed=3)[0]
    assert np.array_equal(alone.counts, mixed.counts)


def test_operator_floor_is_a_lower_bound():
    from srchain.operators import transition_matrix

    lat = Lattice.from_domain(0.05, TOY.domain)
    for a in (1.0, 0.1, 0.001):
        op = transition_matrix(TOY, GAUSS, lat, a)
        actual = op.P.data.nbytes + op.P.indices.nbytes
        assert operator_bytes_floor(GAUSS, lat, a) <= actual * 1.01


def test_jump_sampler_refuses_a_hopeless_matrix_before_building_it(monkeypatch):
    def boom(*a, **k):  # pragma: no cover - must not run
        raise AssertionError("the matrix was built")

    monkeypatch.setattr("srchain.operators.transition_matrix", boom)
    fine = Lattice.from_domain(1e-6, TOY.domain)
    with pytest.raises(SrchainError, match="transition matrix"):
        simulate_many(TOY, GAUSS, fine, [("sr", 0.1)], 100, sampler="jump", max_memory=2.0**33)


# --------------------------------------------------------------------------------------------- BC law
def test_bc_tol_below_the_floor_is_refused():
    from srchain.toy.bc_law import TOL_MIN, bc_law

    for tol in (1e-300, 0.0, TOL_MIN / 2, 1.0, 2.0):
        with pytest.raises(SrchainError, match="tol"):
            bc_law(TOY, GAUSS, LAT, 0.1, tol=tol)


def test_level_cost_bounds_the_band_matrix():
    from srchain.toy.bc_law import bc_transfer_matrix, level_cost

    for a, r in ((1.0, 2), (0.1, 4), (0.001, 64)):
        B, b, *_ = bc_transfer_matrix(TOY, GAUSS, LAT, a, r)
        need, secs = level_cost(TOY, GAUSS, LAT, a, r)
        assert B.nbytes <= need and secs > 0
        assert level_cost(TOY, GAUSS, LAT, a, 2 * r)[0] > need  # refining costs more


def test_bc_refinement_stops_at_the_memory_limit():
    from srchain.toy.bc_law import bc_law, first_level, level_cost

    full = bc_law(TOY, GAUSS, LAT, 0.1, tol=1e-4)
    r0 = first_level(GAUSS, LAT, 0.1)
    first = level_cost(TOY, GAUSS, LAT, 0.1, r0)[0]
    stopped = bc_law(TOY, GAUSS, LAT, 0.1, tol=1e-4, max_memory=first * 1.01)
    assert len(stopped.levels) == 1 and not stopped.converged and "max_memory" in stopped.stopped
    assert len(full.levels) > 1
    with pytest.raises(SrchainError, match="max_memory"):
        bc_law(TOY, GAUSS, LAT, 0.1, max_memory=first / 2)


def test_figure2_data_refuses_before_simulating(monkeypatch):
    from srchain.toy.figure2 import figure2_data

    def boom(*a, **k):  # pragma: no cover - must not run
        raise AssertionError("a kernel ran")

    monkeypatch.setattr("srchain.simulate._parallel", boom)
    with pytest.raises(SrchainError, match="max_hours"):
        figure2_data(steps=10**13, max_hours=24)
    with pytest.raises(SrchainError, match="bc_tol"):
        figure2_data(steps=100, bc_tol=1e-300)


# --------------------------------------------------------------------------------------------- convex, bigbatch
def test_convex_estimate_and_counts():
    from srchain.toy.convex import check_counts, estimate_sweep
    from srchain.toy.convex_problems import get_convex_problem

    p = get_convex_problem("quadratic")
    one = estimate_sweep(p, ["sr"], [0.5], 10**6, 1)
    assert estimate_sweep(p, ["sr"], [0.5, 0.25], 10**6, 1).seconds == pytest.approx(2 * one.seconds)
    assert estimate_sweep(p, ["sr"], [0.5], 10**6, 1, batch=100).seconds > 10 * one.seconds
    assert estimate_sweep(p, ["sr"], [0.5], 100, 10**9).bytes > 1e12  # the seeds' streams and arrays
    with pytest.raises(SrchainError, match="int64"):
        check_counts(10**30, 1, 1)


def test_convex_problem_memory_is_checked_before_allocating():
    from srchain.toy.convex_problems import get_convex_problem

    with pytest.raises(SrchainError, match="max_memory"):
        get_convex_problem("quadratic", dim=10**9)
    with pytest.raises(SrchainError, match="max_memory"):
        get_convex_problem("logistic", dim=1000, max_memory=1e6)


@pytest.mark.parametrize("start", [float("nan"), float("inf"), 100.0, -100.0])
def test_bigbatch_refuses_a_start_outside_the_domain(start):
    from srchain.toy.bigbatch import bigbatch_table

    with pytest.raises(SrchainError, match="start"):
        bigbatch_table(batches=(1,), start=start)


def test_bigbatch_max_states_and_memory():
    from srchain.toy.bigbatch import bigbatch_table

    with pytest.raises(SrchainError, match="max.states"):
        bigbatch_table(batches=(1,), delta=1e-12)
    with pytest.raises(SrchainError, match="max_memory"):
        bigbatch_table(batches=(1,), delta=1e-5, max_states=None, max_memory=2.0**20)
    with pytest.raises(SrchainError, match="empty"):
        bigbatch_table(batches=(), delta=0.5)


def test_flag_names_replace_parameter_names_only():
    from srchain.toy.commands._limits import as_flags

    with pytest.raises(SrchainError) as info:
        with as_flags({"start": "--start"}):
            raise SrchainError("x needs 3 GiB, max_memory is 1 GiB; the start 5 is outside; restart max_hours")
    assert str(info.value) == "x needs 3 GiB, --max-memory is 1 GiB; the --start 5 is outside; restart --max-hours"
