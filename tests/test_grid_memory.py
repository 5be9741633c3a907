"""A grid whose exact chain does not fit is refused from the estimate, before T_α is built (bf16 on [−4, 10])."""

import resource

import pytest
from _peak_memory import run_measured
from cli_helpers import assert_one_line_error, run

from srchain.grid_chains import grid_estimate
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem

GIB = 2**30


def test_bf16_around_zero_estimate_counts_the_solve_fill():
    """On bf16 [−4, 10] about 10,600 entries per row are kept (6,400 before SR's law near 0 was integrated by
    quadrature: the differences there had rounded many cells to 0), and the windows near 0 span nearly all 33,185
    states: the estimate holds the assembly (~14 GiB) and the elimination fill (~10 GiB)."""
    toy = get_problem("toy")
    grid = Grid.of("bf16", (-4.0, 10.0))
    need, nnz = grid_estimate(toy, make_noise("gaussian", 2.0), grid, 0.01)
    assert grid.size == 33185
    assert 9_000 < nnz / grid.size < 12_000
    assert need > 15 * GIB
    # a grid that leaves 0 out stays small
    small, _ = grid_estimate(
        toy.with_domain((1.0, 8.0)), make_noise("gaussian", 2.0), Grid.of("bf16", (1.0, 8.0)), 0.01
    )
    assert small < 1 * GIB


@pytest.mark.parametrize(
    "argv,gib",
    [
        # both take the dense route there (srchain.grid_dense, the values near 0 in lists: 1.1 GiB of core rates,
        # ~1.9 GiB in all)
        (["stationary", "--format", "bf16", "--domain", "-4", "10", "--alpha", "0.01", "--quiet"], "1"),
        (["formats", "--formats", "bf16", "--domain", "-4", "10", "--alpha", "0.01", "--quiet"], "1"),
    ],
)
def test_cli_refuses_bf16_around_zero_in_one_line(argv, gib, capsys):
    """Below what they need the commands refuse in one line; an address-space cap of 3 GiB above what the process
    already maps makes sure nothing of the operator's size (T_α in CSR: ~4 GiB) was allocated before the refusal."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    cap = mapped + 3 * GIB
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        code, _, err = run([*argv, "--max-memory", gib], capsys)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert_one_line_error(code, err, "GiB", "--max-memory")


_PEAK_SCRIPT = """
from srchain.grid_chains import grid_estimate, grid_transition_matrix
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.stationary import stationary
noise, toy = make_noise("gaussian", 2.0), get_problem("toy")
def law(lo, hi):
    grid = Grid.of("fp16", (lo, hi))
    return stationary(grid_transition_matrix(toy.with_domain((lo, hi)), noise, grid, 0.01)).pi
law(1.0, 4.0)  # the kernels compiled or loaded (their compilation has peaks of its own)
need = grid_estimate(toy.with_domain((1.0, 4.0)), noise, Grid.of("fp16", (1.0, 4.0)), 0.01)[0]
print(need, grown(law, 1.0, 4.0)[1])
"""


def test_the_estimate_bounds_the_peak_of_building_and_solving():
    """The estimate is an upper bound of the memory the chain and its law take: fp16 on [1, 4] at α = 0.01 (2,049
    states, ~250 entries a row; the move tables of a chunk at the widest window are the largest part of the
    estimate). The process's peak resident set (VmHWM, restarted through /proc/self/clear_refs after a first run
    compiled the kernels) grows by less than the estimate while it builds T_α and solves π_α again (measured: ~85 MiB
    estimated, ~11–22 MiB taken)."""
    need, grew = (int(x) for x in run_measured(_PEAK_SCRIPT))
    assert 0 < grew <= need
