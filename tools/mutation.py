"""Mutation testing of the science modules: plant small bugs, run each module's tests, count the bugs they catch.

A mutant is one textual change of one operator or constant in a function that computes the science (``a + b`` →
``a - b``, ``<`` → ``<=``, ``np.maximum`` → ``np.minimum``, ``0.5`` → ``1.0``, ``-x`` → ``x``, ``and`` → ``or``,
``+=`` → ``-=``). Each module lists the functions to mutate and the test files that guard it; the mutants of a
module are enumerated from its AST in a fixed order and a fixed-seed sample of them is run (the whole set of every
module would take days on two cores). Every mutant is applied to a private copy of the source tree (the package is
imported from the copy, so the working tree is never touched), the module's tests run with ``-x``, and the mutant
is *killed* when they fail (or time out), *survived* otherwise. Survivors known to be equivalent (no input can tell
them from the original) are listed in ``EQUIVALENT`` with a one-line reason and left out of the score.

Usage::

    python tools/mutation.py                      # every module, the default sample, JSON on stdout
    python tools/mutation.py --modules bounds,mixing --per-module 20 --seed 1
    python tools/mutation.py --list --modules quantize   # the mutants only, nothing is run
    python tools/mutation.py --planted             # the hand-planted mutants of PLANTED (also run in the test suite)

Mutmut 3 was tried first: it rewrites every function into a trampoline, which Numba's ``@njit`` kernels (most of
the science) cannot compile, and it runs the whole suite per mutant; this script needs neither.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """One module (or group of files) under mutation: its files, the functions to mutate (None: all) and its tests."""

    files: tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] | None = None
    deselect: tuple[str, ...] = ()
    per_module: int = 12


TARGETS: dict[str, Target] = {
    "quantize": Target(
        ("srchain/quantize.py",),
        ("tests/test_quantize_edges.py", "tests/test_quantize.py", "tests/test_bounds_exact.py"),
        ("check_delta", "check_alpha", "qd_scalar", "qs_scalar", "_clip", "qd", "qd_binary", "qs"),
    ),
    "noise": Target(
        ("srchain/noise.py", "srchain/noise_kernels.py", "srchain/noise_model.py"),
        ("tests/test_noise_edges.py", "tests/test_noise.py", "tests/test_operators.py"),
        per_module=8,
    ),
    "operators": Target(
        ("srchain/operators.py", "srchain/move_kernels.py"),
        ("tests/test_operators.py", "tests/test_mixing_edges.py", "tests/test_talpha_threads.py"),
        (
            "_window",
            "move_laws",
            "_scaled_offsets",
            "_offsets_kernel",
            "_sr_entry",
            "_sr_place",
            "_sr_place_gaussian",
            "_place",
            "_discrete_hat",
            "transition_matrix",
        ),
        per_module=8,
    ),
    "gth": Target(
        (
            "srchain/gth/dense.py",
            "srchain/gth/banded.py",
            "srchain/gth/front.py",
            "srchain/gth/multifrontal.py",
            "srchain/gth/envelope.py",
            "srchain/gth/extended.py",
        ),
        (
            "tests/test_gth_edges.py",
            "tests/test_envelope_gth.py",
            "tests/test_gth_extended.py",
            "tests/test_stationary.py",
            "tests/toy/test_bc_law.py",
            "tests/test_small_alpha.py",
            "tests/test_gth_memory.py",
            "tests/test_envelope_frames.py",
            "tests/test_extended_arith.py",
            "tests/test_gth_split.py",
        ),
        (
            "small_gth",
            "dense_gth",
            "_rates",
            "_banded_gth",
            "_trailing_update",
            "_panel_columns",
            "front_eliminate",
            "front_eliminate_split",
            "multifrontal_factor",
            "_assemble",
            "_store_block",
            "_write_update",
            "assemble_node",
            "retire_node",
            "_stack_depth",
            "_rescaled",
            "multifrontal_solve",
            "solve_nodes",
            "_extents",
            "_envelope_gth",
            "_add",
            "_fma",
            "front_eliminate_ext",
            "_front_solve_ext",
        ),
        deselect=("tests/toy/test_bc_law.py::test_simulated_bc_histogram_agrees_with_transfer_operator",),
        per_module=6,
    ),
    "mixing": Target(
        ("srchain/mixing.py", "srchain/mixing_cert.py", "srchain/mixing_powers.py"),
        (
            "tests/test_mixing_edges.py",
            "tests/test_mixing.py",
            "tests/test_mixing_ties.py",
            "tests/test_mixing_powers.py",
        ),
        (
            "tv_rows",
            "sparse_pays",
            "_square",
            "_row_runs",
            "_square_to_dense",
            "_dense_row_nnz",
            "_dense_col_nnz",
            "_dense_to_csr",
            "_kernel_csr",
            "_square_dense",
            "_tail_max",
            "_tail_at",
            "_tv_sparse",
            "_tv_of",
            "_exact",
            "spectral_bounds",
            "is_reversible",
            "mixing_time",
            "classify",
            "tv_margin",
            "decide_starts",
            "d0_above",
        ),
        deselect=(
            "tests/test_mixing.py::test_ambiguous_decision_falls_back_to_the_exact_path",
            "tests/test_mixing.py::test_compressed_path_matches_dense_and_brute_force",
        ),
        per_module=10,
    ),
    "grid_dense": Target(
        ("srchain/grid_dense.py", "srchain/grid_wide.py", "srchain/gth/dense.py"),
        ("tests/test_grid_dense.py", "tests/test_grid_resolution.py"),
        (
            "dense_bytes",
            "route_bytes",
            "law_route",
            "_rows",
            "grid_law_dense",
            "gauss_hat_integrals",
            "_gauss_nodes",
            "_gauss_sums",
            "_wide_cells",
            "_wide_list",
            "_place_law",
            "dense_gth_rates",
        ),
        per_module=8,
    ),
    "mixing_symmetry": Target(
        ("srchain/mixing_symmetry.py",), ("tests/test_mixing_symmetry.py", "tests/test_mixing_2d.py"), per_module=16
    ),
    "grid_runs": Target(
        ("srchain/simulate/grid_runs.py",),
        ("tests/test_grid_runs.py", "tests/test_simulate_grid_fast.py", "tests/test_simulate_grid.py"),
        per_module=16,
    ),
    "bounds": Target(("srchain/bounds.py",), ("tests/test_bounds_exact.py", "tests/test_bounds.py")),
    "simulate": Target(
        (
            "srchain/simulate/kernels_1d.py",
            "srchain/simulate/kernels_nd.py",
            "srchain/simulate/jump.py",
            "srchain/simulate/draws.py",
        ),
        ("tests/test_simulate_batch.py", "tests/test_simulate.py", "tests/test_pcg.py"),
        per_module=6,
    ),
    "bc_law": Target(
        ("toy/bc_law.py", "toy/bc_grid.py"),
        ("tests/toy/test_bc_law.py", "tests/toy/test_bc_grid.py"),
        (
            "BCLaw",
            "bc_transfer_matrix",
            "tail_ge_rows",
            "_level",
            "bc_law",
            "half_cells",
            "grid_bins",
            "grid_windows",
            "grid_transfer_matrix",
            "GridLevels",
        ),
        deselect=("tests/toy/test_bc_grid.py::test_law_matches_a_long_simulation_on_the_same_grid",),
        per_module=6,
    ),
    "convex": Target(
        ("toy/convex.py", "toy/convex_kernels.py"),
        ("tests/toy/test_convex_estimate.py", "tests/toy/test_convex.py"),
        None,
        per_module=6,
    ),
    "cnn_optim": Target(
        ("cnn/optim.py", "cnn/quantized.py"),
        (
            "tests/cnn/test_optim_algorithm.py",
            "tests/cnn/test_quantized_edges.py",
            "tests/cnn/test_optim.py",
            "tests/cnn/test_quantized.py",
        ),
        ("QuantizedOptimizer", "qd", "qs", "rademacher"),
        per_module=10,
    ),
    "formats": Target(
        ("srchain/grids.py", "srchain/rounding.py"),
        ("tests/test_grids.py", "tests/test_format_names.py", "tests/test_simulate_grid.py"),
        per_module=8,
    ),
    "grid_chains": Target(
        ("srchain/grid_chains.py", "srchain/grid_sr.py", "srchain/grid_r.py", "srchain/assemble.py"),
        (
            "tests/test_assemble.py",
            "tests/test_grid_chains.py",
            "tests/test_grid_resolution.py",
            "tests/test_small_alpha.py",
            "tests/test_grid_memory.py",
        ),
        per_module=8,
    ),
    "grid_interp": Target(
        ("srchain/grid_interp.py", "srchain/grid_lifted.py"),
        ("tests/test_grid_interp.py", "tests/test_grid_lifted.py", "tests/test_grid_dense.py"),
        per_module=8,
    ),
    "grid_sim": Target(
        ("srchain/simulate/grid.py", "srchain/simulate/grid_locate.py"),
        (
            "tests/test_simulate_grid.py",
            "tests/test_simulate_grid_fast.py",
            "tests/test_simulate_grid_pairs.py",
            "tests/test_grid_runs.py",
            "tests/toy/test_bc_grid.py",
        ),
        per_module=8,
    ),
    "toy_formats": Target(
        ("toy/formats.py",),
        (
            "tests/toy/test_formats.py",
            "tests/toy/test_formats_bc.py",
            "tests/test_cli_formats.py",
            "tests/test_grid_dense.py::test_srchain_formats_solves_a_grid_holding_0_on_the_dense_route",
            "tests/test_grid_dense.py::test_srchain_formats_gives_the_k_bit_bias_on_the_dense_route",
        ),
        per_module=8,
    ),
    "grid_kbit": Target(
        ("srchain/grid_kbit.py",),
        (
            "tests/test_grid_kbit.py",
            "tests/test_grid_chains.py",
            "tests/test_grid_dense.py::test_srchain_formats_gives_the_k_bit_bias_on_the_dense_route",
        ),
        per_module=8,
    ),
    "gth_sparse": Target(
        ("srchain/gth/sparse.py", "srchain/gth/dissection.py", "srchain/gth/thin.py", "srchain/gth/scaling.py"),
        (
            "tests/test_gth_edges.py",
            "tests/test_dissection_cuts.py",
            "tests/test_gth_order.py",
            "tests/test_gth_split.py",
            "tests/test_stationary.py",
            "tests/test_grid_dense.py",
            "tests/test_small_alpha.py",
            "tests/test_gth_progress.py",
            "tests/test_gth_memory.py",
        ),
        per_module=8,
    ),
    "stationary": Target(
        ("srchain/stationary.py", "srchain/wide_moves.py"),
        (
            "tests/test_stationary.py",
            "tests/test_wide_noise.py",
            "tests/test_grid_resolution.py",
            "tests/test_small_alpha.py",
            "tests/test_theorem5.py",
        ),
        per_module=8,
    ),
    "cnn_formats": Target(
        ("cnn/formats.py",),
        ("tests/cnn/test_formats_optim.py", "tests/test_format_names.py"),
        per_module=10,
    ),
    "cnn_metrics": Target(
        ("cnn/metrics.py",),
        ("tests/cnn/test_optim_algorithm.py", "tests/cnn/test_metrics.py"),
    ),
}

#: Reasons shared by several equivalent survivors (srchain/mixing_powers.py, every mutant run).
_BLOCK_SIZE = (
    "a block size: memory use only; each row's sum is taken on its own, so any blocking gives the same numbers "
    "(tests/test_mixing_powers.py)"
)
_PRODUCT_CHOICE = (
    "which product squares P (scipy, the run kernel or BLAS) and which form holds it change speed and memory only: "
    "each is exact to rounding and every decision is certified either way (the choices at the tested sizes are "
    "pinned by test_the_square_takes_the_form_its_cost_calls_for)"
)
_NO_BOUNDS_CHECK = (
    "Numba does not check bounds: the empty slice starts at the same address, so the loop reads and writes the "
    "same entries"
)

#: Survivors that no test can kill, each with the reason (the key is ``file:function:`before` -> `after```).
EQUIVALENT: dict[str, str] = {
    'srchain/grid_kbit.py:kbit_drift_gap:`hi = np.clip(np.searchsorted(v, c + reach, side="left") + 1, 0, '
    'v.size - 2)` -> `hi = np.clip(np.searchsorted(v, c + reach, side="left") - 1, 0, v.size - 2)`': (
        "the window still ends with the cell that holds the mean step plus the noise's 2^-60 quantile; the two cells "
        "it leaves out lie beyond it, where the mass is below 2^-60 (tests/test_grid_kbit.py checks the window "
        "against every cell to 16 eps)"
    ),
    "srchain/grid_kbit.py:stair_cells:`lo, hi = (np.full(a.shape, -1e300), b) if up else (a, np.full(b.shape, 1e300)) "
    "# the tail beyond the grid` -> `lo, hi = (np.full(a.shape, -1e300), b) if up else (a, np.full(b.shape, 2e+300)) "
    "# the tail beyond the grid`": (
        "the bound only stands for +inf beyond the grid: (x − 1e300)/α and (x − 2e300)/α are both far below the "
        "noise's quantiles (or overflow to −inf alike), so the tail's CDF is the same 0 and SF the same 1"
    ),
    "srchain/grid_kbit.py:_half_stair:`per = max(1, _STAIR_BLOCK // max(c.size, 1))` -> "
    "`per = max(1, _STAIR_BLOCK // max(c.size, 2))`": (
        "the block size only groups the staircase's differences into sums (the law's bits may move by an ulp); c is "
        "never empty there (an empty staircase returns first)"
    ),
    "srchain/grid_kbit.py:_half:`if j == 0 and (H / s) * (1.0 + abs(mid) / s) < ONE_NODE: # one node at the weight's "
    "centroid` -> `if j == 0 and (H / s) * (2.0 + abs(mid) / s) < ONE_NODE: # one node at the weight's centroid`": (
        "the criterion only chooses between two rules exact to rounding there: one density value at the weight's "
        "centroid (error below 2^-55 where the criterion holds) and the 8-point product rule (below 4e-18); a larger "
        "constant moves cells from the first to the second, the law's bits by an ulp"
    ),
    "srchain/gth/sparse.py:_factor:`helpers = ThreadPoolExecutor(nthreads - 1)` -> "
    "`helpers = ThreadPoolExecutor(nthreads + 1)`": (
        "the pool's size bounds only how many of a split front's nthreads panels run at once; each panel's numbers are "
        "the same whichever thread takes it (tests/test_gth_split.py)"
    ),
    "srchain/simulate/grid.py:_round_step:`cc = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 1], "
    "lp[j, 2], lp[j, 3], lp[j, 4])` -> `cc = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 2], "
    "lp[j, 2], lp[j, 3], lp[j, 4])`": (
        "the key offset k0 in place of klo is at least klo on every format's grid and lattice (a LINEAR table ignores "
        "both), so the bucket is at or below the cell's and the walk up finds the same cell, more slowly; on "
        "from_values grids spanning 600 decades, where k0 < klo, no point of 300,000 tried gave another cell"
    ),
    "srchain/simulate/grid_locate.py:_locator:`return np.zeros(1, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, "
    "0)` -> `return np.zeros(2, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, 0)`": (
        "an axis of one value is never looked up (_qd_axis, _chains and _bc_step test n first); the offsets of the "
        "later axes' tables follow the table's own size"
    ),
    "srchain/simulate/grid_locate.py:_locator:`return np.zeros(1, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, "
    "0)` -> `return np.zeros(1, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, 1)`": (
        "an axis of one value is never looked up (_qd_axis, _chains and _bc_step test n first)"
    ),
    "srchain/stationary.py:_period:`return int(np.gcd.reduce(diffs[diffs > 0])) if np.any(diffs > 0) else 0` -> "
    "`return int(np.gcd.reduce(diffs[diffs > 0])) if np.any(diffs >= 0) else 0`": (
        "the gcd of no differences is 0, the value of the else branch"
    ),
    "srchain/simulate/grid.py:_bc_step:`c += (np.int64(c < n - 2) & np.int64(vals[o + c + 1] <= y)) - "
    "(np.int64(c > 0) & np.int64(vals[o + c] > y))` -> `c += (np.int64(c < n - 2) & np.int64(vals[o + c + 1] <= y)) "
    "- (np.int64(c > 1) & np.int64(vals[o + c] > y))`": (
        "the step down it skips at c = 1 is then taken by the check after it, which finds the cell from the table"
    ),
    "srchain/simulate/grid.py:simulate_grid:`if start.size == 1 and d > 1:` -> `if start.size == 1 and d >= 1:`": (
        "at d = 1 a one-value start filled to length d is the same array"
    ),
    "srchain/simulate/grid.py:simulate_grid:`perm = np.zeros((2, params.size - 1 if code == NoiseKind.MINIBATCH else "
    "1), dtype=np.int64)` -> `perm = np.zeros((2, params.size - 1 if code == NoiseKind.MINIBATCH else 2), "
    "dtype=np.int64)`": "only minibatch draws read the permutation; for any other noise its length is unused",
    "srchain/gth/dissection.py:lattice_nested_dissection:`nl = _take_marked(slo, shi, assigned, strides, buf, 0, -1)` "
    "-> `nl = _take_marked(slo, shi, assigned, strides, buf, 0, -2)`": (
        "_take_marked only counts for any keep other than 1 (assign) and 0 (unmark)"
    ),
    "srchain/gth/scaling.py:underflow_flags:`if 0.0 < c < cmin:` -> `if 0.0 < c <= cmin:`": (
        "replacing the least value by an equal one leaves it the same"
    ),
    "srchain/gth/thin.py:_eliminate_thin:`cbuf[0] = 0.0 # (the own row's entry of the node's factor is never read)` -> "
    "`cbuf[0] = 1.0 # (the own row's entry of the node's factor is never read)`": (
        "a thin node's front has one own state, whose factor entry multifrontal_solve never reads (its loops over "
        "q < p and rows r ≥ k = 1)"
    ),
    "srchain/stationary.py:_period:`diffs = np.abs(level[coo.row] + 1 - level[coo.col])` -> "
    "`diffs = (level[coo.row] + 1 - level[coo.col])`": (
        "BFS levels satisfy level(v) ≤ level(u) + 1 on every edge u → v of an irreducible chain, so the differences "
        "are never negative"
    ),
    "srchain/simulate/grid_runs.py:runs:`S = np.zeros((n, d, 3))` -> `S = np.zeros((n, d, 4))`": (
        "a larger table: only its first three columns are written and read"
    ),
    "srchain/simulate/grid_runs.py:fixed_runs:`f = min(52, 54 - int(np.ceil(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())` -> `f = min(53, 54 - int(np.ceil(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())`": "c ≥ 1, so 54 − ⌈log2(2c + 2)⌉ ≤ 52: the first bound never decides",
    "srchain/simulate/grid_runs.py:fixed_runs:`f = min(52, 54 - int(np.ceil(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())` -> `f = min(52, 55 - int(np.ceil(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())`": (
        "one more fraction bit: S0·2^f + cells·2^f < 2^(f + ⌈log2(2c + 2)⌉) = 2^55 still holds, so nothing "
        "overflows and the index is the same except at near-ties of probability ~2^-40 per step"
    ),
    "srchain/simulate/grid_runs.py:fixed_runs:`f = min(52, 54 - int(np.ceil(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())` -> `f = min(52, 54 - int(np.floor(np.log2(2 * c + 2))), "
    "61 - int(len(axes[j])).bit_length())`": (
        "at most one more fraction bit: 2c·2^f < 2^(⌊log2(2c + 2)⌋ + 1 + f) = 2^55 still (see the mutant with 55)"
    ),
    "srchain/simulate/grid_runs.py:runs:`if v.size < 2:` -> `if v.size < 3:`": (
        "an axis of two values loses its fast path: the look-up gives the same indices (up to near-ties of "
        "probability ~2^-40 per step)"
    ),
    "srchain/mixing_symmetry.py:_flush:`if X[i, j] != 0.0 and abs(X[i, j]) < theta:` -> "
    "`if X[i, j] != 1.0 and abs(X[i, j]) < theta:`": (
        "the first test only skips writing zeros over zeros (0 and 1 both fail or pass the second test alike)"
    ),
    "srchain/mixing_symmetry.py:flush_bound:`return 2.0 * n * THETA * (1.0 + n**0.5)` -> "
    "`return 4.0 * n * THETA * (1.0 + n**0.5)`": (
        "a bound of ~1e-148 doubled: it is added to error bounds of at least 2u = 2.2e-16, where both round away"
    ),
    "srchain/grid_wide.py:gauss_hat_integrals:`wt = np.empty((_CELL_BLOCK, 2, 2, NODES))` -> "
    "`wt = np.empty((_CELL_BLOCK, 3, 2, NODES))`": (
        "a larger work array: only the first two sides of its second axis are written and read"
    ),
    "srchain/rounding.py:check_sr_bits:`kk = -1` -> `kk = -2`": (
        "a stand-in for a k that is no integer: −1 and −2 are both outside 1…32, so both are refused alike"
    ),
    "srchain/grid_chains.py:stall_set:`vals = np.zeros(1)` -> `vals = np.zeros(2)`": (
        "the mean gradient's noise value 0 checked twice: the same states round back both times"
    ),
    "srchain/grid_sr.py:sr_axis_law:`rows = max(1, _CELLS_PER_THREAD // max(W, 1))` -> "
    "`rows = max(1, _CELLS_PER_THREAD // min(W, 1))`": (
        "rows per thread task: each row's law is computed on its own, so any blocking gives the same numbers (and "
        "W ≥ 1: a window holds at least the row's own value)"
    ),
    "srchain/grid_interp.py:binned_axis_law:`per = max(1, _CELLS_PER_THREAD // max(W, 1))` -> "
    "`per = max(1, _CELLS_PER_THREAD // min(W, 1))`": (
        "rows per thread task: each row is interpolated on its own, so any blocking gives the same numbers (and "
        "W ≥ 1: a window holds at least the row's own value)"
    ),
    "srchain/grid_lifted.py:_binade:`if lo[rows].min() < blo or hi[rows].max() > bhi: # (the binade's cells hold "
    "every window: _binade)` -> `if lo[rows].min() < blo and hi[rows].max() > bhi: # (the binade's cells hold every "
    "window: _binade)`": (
        "a guard that never fires: grid_interp._binade makes the binade's cells hold every row's window (neither side "
        "was out on any of 2,512 binades of bf16 and fp16 grids at α from 0.001 to 0.1, SR and R), so `or` and `and` "
        "are both false"
    ),
    'srchain/grid_interp.py:_binade:`lo = int(np.searchsorted(v, c_lo - reach, side="left")) - 3` -> '
    '`lo = int(np.searchsorted(v, c_lo - reach, side="left")) - 4`': (
        "one cell more below the binade's cells: a superset, and every row reads only the cells of its own window"
    ),
    "cnn/formats.py:Format:`return torch.where(v > 0, s, torch.ones_like(v))` -> "
    "`return torch.where(v >= 0, s, torch.ones_like(v))`": (
        "at v = 0 frexp gives the exponent 0, so s = 2^0 = 1 there as well (v = amax/M is never negative)"
    ),
    "srchain/noise.py:TabulatedNoise:`return c / c[-1]` -> `return c * c[-1]`": (
        "c[-1] is the integral of a density already normalised to 1 (exactly 1.0 for the laws the suite builds), so "
        "dividing by it and multiplying by it agree to rounding"
    ),
    'srchain/mixing.py:_exact:`info["dense_products"] += 1` -> `info["dense_products"] -= 1`': (
        "a diagnostic counter that nothing reads"
    ),
    'srchain/mixing.py:_exact:`info["dense_products"] += 1` -> `info["dense_products"] -= 1` #2': (
        "a diagnostic counter that nothing reads"
    ),
    'srchain/mixing.py:_exact:`info["dense_products"] += 1` -> `info["dense_products"] -= 1` #3': (
        "a diagnostic counter that nothing reads"
    ),
    "srchain/gth/front.py:front_eliminate:`if not (s > 0.0) or not math.isfinite(s):` -> "
    "`if not (s > 0.0) and not math.isfinite(s):`": (
        "differs only for s = +inf, and s sums censored rates of a stochastic matrix (<= 1); NaN trips both forms"
    ),
    "srchain/mixing.py:spectral_bounds:`if n <= _DENSE_EIG_MAX:` -> `if n < _DENSE_EIG_MAX:`": (
        "at n = 600 ARPACK instead of the dense eigensolver: the same λ* to 1e-12"
    ),
    (
        'srchain/mixing.py:spectral_bounds:`A.T.tocsc(), k=min(6, n - 2), which="LM", return_eigenvectors=False, '
        'tol=1e-12, maxiter=20 * n, v0=v0` -> `A.T.tocsc(), k=min(6, n - 2), which="LM", return_eigenvectors=False, '
        "tol=1e-12, maxiter=21 * n, v0=v0`"
    ): ("an iteration cap ARPACK converges well within"),
    "srchain/mixing.py:spectral_bounds:`vals = np.array([1.0, 1.0])` -> `vals = np.array([2.0, 1.0])`": (
        "ARPACK's failure fallback: λ* = 1 or 2, t_rel = inf and the same note either way"
    ),
    "srchain/mixing.py:spectral_bounds:`order = np.argsort(-np.abs(vals))` -> `order = np.argsort(np.abs(vals))`": (
        "the order of the eigenvalues changes neither which one is nearest 1 (up to exact ties, equal anyway) nor "
        "the largest modulus of the rest"
    ),
    "toy/bc_law.py:bc_transfer_matrix:`bw = int(max(np.max(np.abs(tgt[~below & ~above] - np.repeat(i, "
    "tgt.shape[1])[(~below & ~above).ravel()])), 1))` -> `bw = int(max(np.max(np.abs(tgt[~below & ~above] - "
    "np.repeat(i, tgt.shape[1])[(~below & ~above).ravel()])), 2))`": (
        "a band of at least 2 instead of 1 only adds zero rates, which GTH adds and multiplies as exact zeros"
    ),
    "toy/bc_law.py:bc_transfer_matrix:`B = np.zeros((N, 2 * b + 1))` -> `B = np.zeros((N, 3 * b + 1))`": (
        "columns beyond 2b that neither the fill (offsets in [0, 2b]) nor banded GTH ever touch"
    ),
    "cnn/quantized.py:rademacher:`return torch.where(u < 0.5, -grid.delta, grid.delta)` -> "
    "`return torch.where(u <= 0.5, -grid.delta, grid.delta)`": (
        "differs only for a uniform draw of exactly 0.5 (probability 2^-24): the same law"
    ),
    "srchain/noise.py:TabulatedNoise:`conv = np.fft.fftshift(np.fft.irfft(ft**batch, n=points)) / h # density of the "
    "sum on the same grid` -> `conv = np.fft.fftshift(np.fft.irfft(ft**batch, n=points)) * h # density of the sum on "
    "the same grid`": ("a constant factor that the normalisation by the trapezoid integral two lines later removes"),
    "toy/bc_law.py:BCLaw:`tol: float = 1e-3` -> `tol: float = 0.002`": (
        "a dataclass default that bc_law always overrides with its own tol"
    ),
    "srchain/simulate/kernels_1d.py:single_1d:`m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1` -> "
    "`m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 2`": (
        "the length of a scratch permutation that only minibatch noise reads"
    ),
    "srchain/simulate/kernels_1d.py:pair_1d:`m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1` -> "
    "`m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 2`": (
        "the length of a scratch permutation that only minibatch noise reads"
    ),
    "srchain/simulate/kernels_nd.py:chain_lattice:`elif x > hi:` -> `elif x >= hi:`": (
        "x == hi is clamped to hi: the same value"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`if emax > -(2**62) and emax // SCALE_EXP < cur:` -> "
    "`if emax > -(2**62) and emax / SCALE_EXP < cur:`": (
        "cur is an integer, so floor(x) < cur exactly when x < cur (emax is far below 2^53: emax / 600 is within "
        "one rounding of the true quotient and crosses no integer)"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`if a > 0.0 and mant[i] > 0.0:` -> `if a > 0.0 and mant[i] >= 0.0:` #2": (
        "differs only for mant[i] = 0, which an irreducible chain never has: each pi_i is a sum with a positive "
        "term, kept inside its frame, so it never underflows (a reducible chain has no law to solve for)"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`if run[f] < i:` -> `if run[f] <= i:`": (
        "rows are visited in increasing i, so run[f] (-1 or an earlier row) is below i: both tests are true"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`emax = -(2**62)` -> `emax = -(2**63)`": (
        "a sentinel below every exponent either way: with no term emax > -(2**62) is false for both, with one the "
        "max is the term's"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`if v > big or (0.0 < v < small):` -> `if v > big or (0.0 < v <= small):`": (
        "a positive v is at least 1/4: the frame is lowered to the largest term's (emax // 600) or kept below it, "
        "and the overflow guard leaves that term above 2^360, so v <= 2^-600 never occurs (the branch is dead)"
    ),
    "srchain/gth/envelope.py:_envelope_gth:`while v > big or (0.0 < v < small):` -> "
    "`while v > big or (0.0 < v <= small):`": (
        "as for the `if` above it: a positive v is at least 1/4, and v > big is rescaled below 2^600 and above 1"
    ),
    (
        "srchain/mixing_powers.py:tv_rows:`b = max(1, min(m, _TV_BLOCK // max(n, 1)))` -> `b = min(1, min(m, _TV_"
        "BLOCK // max(n, 1)))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:tv_rows:`b = max(1, min(m, _TV_BLOCK // max(n, 1)))` -> `b = max(2, min(m, _TV_"
        "BLOCK // max(n, 1)))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:tv_rows:`b = max(1, min(m, _TV_BLOCK // max(n, 1)))` -> `b = max(1, max(m, _TV_"
        "BLOCK // max(n, 1)))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:tv_rows:`b = max(1, min(m, _TV_BLOCK // max(n, 1)))` -> `b = max(1, min(m, _TV_"
        "BLOCK // min(n, 1)))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:tv_rows:`b = max(1, min(m, _TV_BLOCK // max(n, 1)))` -> `b = max(1, min(m, _TV_"
        "BLOCK // max(n, 2)))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:_tv_of:`b = max(1, min(len(idx), _BLOCK))` -> `b = min(1, min(len(idx), _BLOCK))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:_tv_of:`b = max(1, min(len(idx), _BLOCK))` -> `b = max(2, min(len(idx), _BLOCK))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:_tv_of:`b = max(1, min(len(idx), _BLOCK))` -> `b = max(1, max(len(idx), _BLOCK))`"
    ): _BLOCK_SIZE,
    (
        "srchain/mixing_powers.py:_row_runs:`rptr = np.zeros(n + 1, dtype=np.int64)` -> `rptr = np.zeros(n + 2, d"
        "type=np.int64)`"
    ): "an entry past rptr[n] that nothing reads",
    ("srchain/mixing_powers.py:_square_to_dense:`dst = row[c : c + L]` -> `dst = row[c : c - L]`"): _NO_BOUNDS_CHECK,
    ("srchain/mixing_powers.py:_square_to_dense:`src = data[q : q + L]` -> `src = data[q : q - L]`"): _NO_BOUNDS_CHECK,
    (
        "srchain/mixing_powers.py:_square:`if work >= n**3 / _KERNEL_DIV:` -> `if work > n**3 / _KERNEL_DIV:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`rows = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64)) "
        "# the square's density, sampled` -> `rows = np.unique(np.linspace(1, n - 1, min(n, 256)).astype(np.int64"
        ")) # the square's density, sampled`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`rows = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64)) "
        "# the square's density, sampled` -> `rows = np.unique(np.linspace(0, n - 2, min(n, 256)).astype(np.int64"
        ")) # the square's density, sampled`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`rows = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64)) "
        "# the square's density, sampled` -> `rows = np.unique(np.linspace(0, n - 1, max(n, 256)).astype(np.int64"
        ")) # the square's density, sampled`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`rows = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64)) "
        "# the square's density, sampled` -> `rows = np.unique(np.linspace(0, n - 1, min(n, 257)).astype(np.int64"
        ")) # the square's density, sampled`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work > 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, "
        "n, rows) >= 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.2 * n * n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) >= 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 / n * n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) >= 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 * n / n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) >= 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 * n * n or _square_row_nnz(A.indptr, A.indices, "
        "n, rows) >= 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) > 0.1 * n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) >= 0.1 / n * rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n"
        ", rows) >= 0.1 * n * rows.size` -> `dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices,"
        " n, rows) >= 0.1 * n / rows.size`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`if work < n**3 / 40.0 and not dense:` -> `if work <= n**3 / 40.0 and n"
        "ot dense:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`if work < n**3 / 40.0 and not dense:` -> `if work < n**4 / 40.0 and no"
        "t dense:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`if work < n**3 / 40.0 and not dense:` -> `if work < n**3 * 40.0 and no"
        "t dense:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_square:`if work < n**3 / 40.0 and not dense:` -> `if work < n**3 / 80.0 and no"
        "t dense:`"
    ): _PRODUCT_CHOICE,
    ("srchain/mixing_powers.py:_square:`if _density(C) < 0.1:` -> `if _density(C) <= 0.1:`"): _PRODUCT_CHOICE,
    ("srchain/mixing_powers.py:_square:`if _density(C) < 0.1:` -> `if _density(C) < 0.2:`"): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:sparse_pays:`return _density(A) < 0.1 or (n >= _SPARSE_MIN_STATES and _square_w"
        "ork(A) < n**3 / _KERNEL_DIV)` -> `return _density(A) <= 0.1 or (n >= _SPARSE_MIN_STATES and _square_work"
        "(A) < n**3 / _KERNEL_DIV)`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:sparse_pays:`return _density(A) < 0.1 or (n >= _SPARSE_MIN_STATES and _square_w"
        "ork(A) < n**3 / _KERNEL_DIV)` -> `return _density(A) < 0.1 or (n > _SPARSE_MIN_STATES and _square_work(A"
        ") < n**3 / _KERNEL_DIV)`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:sparse_pays:`return _density(A) < 0.1 or (n >= _SPARSE_MIN_STATES and _square_w"
        "ork(A) < n**3 / _KERNEL_DIV)` -> `return _density(A) < 0.1 or (n >= _SPARSE_MIN_STATES and _square_work("
        "A) <= n**3 / _KERNEL_DIV)`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_kernel_csr:`if n < _SPARSE_MIN_STATES:` -> `if n <= _SPARSE_MIN_STATES:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_kernel_csr:`if cnt.sum() >= 0.5 * n * n: # a screen, not a bound: a power'"
        "s pattern half full squares far above n³/16` -> `if cnt.sum() > 0.5 * n * n: # a screen, not a bound"
        ": a power's pattern half full squares far above n³/16`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_kernel_csr:`if cnt.sum() >= 0.5 * n * n: # a screen, not a bound: a power'"
        "s pattern half full squares far above n³/16` -> `if cnt.sum() >= 1.0 * n * n: # a screen, not a boun"
        "d: a power's pattern half full squares far above n³/16`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_kernel_csr:`if float(np.dot(_dense_col_nnz(D).astype(float), cnt.astype(fl"
        "oat))) >= n**3 / _KERNEL_DIV:` -> `if float(np.dot(_dense_col_nnz(D).astype(float), cnt.astype(float"
        "))) > n**3 / _KERNEL_DIV:`"
    ): _PRODUCT_CHOICE,
    (
        "srchain/mixing_powers.py:_tail_max:`if out[i] == out[i] and not acc <= out[i]:` -> `if out[i] == out"
        "[i] and not acc < out[i]:`"
    ): "equal values: where acc == out[i], writing acc into out[i] changes nothing",
    (
        "srchain/mixing_powers.py:_dense_col_nnz:`for b in prange((m + 255) // 256):` -> `for b in prange((m "
        "+ 256) // 256):`"
    ): "one more block only when m is a multiple of 256, and its column range [m, m) is empty",
}

#: Hand-planted bugs: (file, the exact text, its replacement, the test that must catch it, that test's arguments).
#: ``--planted`` runs them in a copy; ``tests/test_mutation_sample.py`` applies them in-process (every suite run).
PLANTED = [
    (
        "toy/bc_grid.py",
        "cell = np.stack([k, k + 1], axis=1).ravel()",
        "cell = np.stack([k, k], axis=1).ravel()",
        "tests/toy/test_bc_grid.py::test_bins_lie_inside_the_cells_of_qd_and_are_no_wider_than_h",
        {},
    ),
    (
        "srchain/bounds.py",
        'return np.sqrt(_pos("d", d)) * _pos("delta", delta, True) * _pos("alpha", alpha)',
        'return 2 * np.sqrt(_pos("d", d)) * _pos("delta", delta, True) * _pos("alpha", alpha)',
        "tests/test_bounds_exact.py::test_lemma1_and_the_floors_by_hand",
        {},
    ),
    (
        "srchain/bounds.py",
        'c * _pos("G", G, True) ** 2 * sqrt_schedule_sum(T) / (2 * T)\n        + sr_floor',
        'c * _pos("G", G, True) ** 2 * sqrt_schedule_sum(T) / T\n        + sr_floor',
        "tests/test_bounds_exact.py::test_theorems_2_3_proved_by_hand",
        {},
    ),
    (
        "srchain/mixing.py",
        'above[und] = decide_starts(A, pi, starts[und], t, eps, info["ties"], tv[und])',
        'above[und] = ~decide_starts(A, pi, starts[und], t, eps, info["ties"], tv[und])',
        "tests/test_mixing_edges.py::test_sparse_chain_ties_at_eps_through_the_binary_search",
        {},
    ),
    (
        "cnn/metrics.py",
        'if n.startswith("conv_"):',
        "if True:",
        "tests/cnn/test_optim_algorithm.py::test_flip_totals_count_conv_layers_only_and_weight_them_by_size",
        {},
    ),
    (
        "cnn/metrics.py",
        ".abs().mean().item()",
        ".abs().sum().item()",
        "tests/cnn/test_optim_algorithm.py::test_flip_totals_count_conv_layers_only_and_weight_them_by_size",
        {},
    ),
    (
        "cnn/optim.py",
        "self.flat.copy_(self.latent)  # the gradient",
        "pass  # the gradient",
        "tests/cnn/test_optim_algorithm.py::test_bc_latent_accumulates_small_steps_and_flips_the_sign_when_it_crosses_zero",
        {},
    ),
    (
        "srchain/noise.py",
        "return self.sigma / math.sqrt(self.batch)",
        "return self.sigma / self.batch",
        "tests/test_simulate_batch.py::test_one_dimensional_histogram_matches_the_batched_law",
        {"method": "sr", "alpha": 0.1},
    ),
    (
        "srchain/gth/envelope.py",
        "for p in range(first[i], i):",
        "for p in range(first[i] + 1, i):",
        "tests/test_envelope_gth.py::test_profile_is_closed_under_the_fill",
        {},
    ),
    (
        "srchain/gth/extended.py",
        "ivm, ive = _norm(1.0 / sm, -se)",
        "ivm, ive = _norm(1.0 / sm, se)",
        "tests/test_extended_arith.py::test_front_eliminate_ext_has_the_float64_bits_and_scales_exactly",
        {"seed": 0, "m": 9, "k": 5},
    ),
]

# --------------------------------------------------------------------------------------------------------------
# Mutants
# --------------------------------------------------------------------------------------------------------------
_BINOP = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "/"),
    ast.Div: ("/", "*"),
    ast.Pow: ("**", "*"),
    ast.FloorDiv: ("//", "/"),
    ast.Mod: ("%", "//"),
}
_CMP = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
}
_AUG = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+="), ast.Mult: ("*=", "/="), ast.Div: ("/=", "*=")}
_BOOL = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
_CALLS = {
    "maximum": "minimum",
    "minimum": "maximum",
    "floor": "ceil",
    "ceil": "floor",
    "max": "min",
    "min": "max",
    "abs": "",
    "sqrt": "",
    "log1p": "expm1",
    "exp": "expm1",
    "log": "log1p",
}


@dataclass
class Mutant:
    file: str
    function: str
    line: int
    start: int  # character offsets in the file
    end: int
    before: str
    after: str
    key: str = field(default="")

    def apply(self, text: str) -> str:
        assert text[self.start : self.end] == self.before, (self.key, text[self.start : self.end])
        return text[: self.start] + self.after + text[self.end :]


def _offsets(text: str) -> list[int]:
    out, pos = [0], 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        out.append(pos)
    return out


def _docstring_nodes(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _in_raise_or_string(parents, node) -> bool:
    p = parents.get(id(node))
    while p is not None:
        if isinstance(p, (ast.Raise, ast.JoinedStr, ast.Assert)):
            return True
        p = parents.get(id(p))
    return False


def enumerate_mutants(file: str, functions: tuple[str, ...] | None, root: Path = ROOT) -> list[Mutant]:
    """Every mutant of ``file`` inside the named functions (or classes), in source order."""
    text = (root / file).read_text()
    tree = ast.parse(text)
    offs = _offsets(text)
    docs = _docstring_nodes(tree)
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node

    def pos(line, col):
        return offs[line - 1] + len(text.splitlines(keepends=True)[line - 1].encode()[:col].decode())

    def gap_token(a_end, b_start, token, new, node, fname):
        """The operator ``token`` between two operands (comments blanked out, so a '-' in a comment is not it)."""
        seg = re.sub(r"#[^\n]*", lambda mm: " " * len(mm.group()), text[a_end:b_start])
        pat = r"\b" + token + r"\b" if token.isalpha() else re.escape(token) + r"(?![=*/<>])"
        hit = re.search(pat, seg)
        if hit is None:
            return None
        j = a_end + hit.start()
        return Mutant(file, fname, node.lineno, j, j + len(token), token, new)

    out: list[Mutant] = []

    def visit(fnode, fname):
        for node in ast.walk(fnode):
            if _in_raise_or_string(parents, node):
                continue
            m = None
            if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
                tok, new = _BINOP[type(node.op)]
                a = pos(node.left.end_lineno, node.left.end_col_offset)
                b = pos(node.right.lineno, node.right.col_offset)
                m = gap_token(a, b, tok, new, node, fname)
                if m is not None:
                    out.append(m)
            elif isinstance(node, ast.AugAssign) and type(node.op) in _AUG:
                tok, new = _AUG[type(node.op)]
                a = pos(node.target.end_lineno, node.target.end_col_offset)
                b = pos(node.value.lineno, node.value.col_offset)
                m = gap_token(a, b, tok, new, node, fname)
                if m is not None:
                    out.append(m)
            elif isinstance(node, ast.Compare):
                left = node.left
                for op, right in zip(node.ops, node.comparators, strict=True):
                    if type(op) in _CMP:
                        tok, new = _CMP[type(op)]
                        a = pos(left.end_lineno, left.end_col_offset)
                        b = pos(right.lineno, right.col_offset)
                        m = gap_token(a, b, tok, new, node, fname)
                        if m is not None:
                            out.append(m)
                    left = right
            elif isinstance(node, ast.BoolOp):
                tok, new = _BOOL[type(node.op)]
                a = pos(node.values[0].end_lineno, node.values[0].end_col_offset)
                b = pos(node.values[1].lineno, node.values[1].col_offset)
                m = gap_token(a, b, tok, new, node, fname)
                if m is not None:
                    out.append(m)
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                if isinstance(node.operand, ast.Constant):
                    continue  # -1 etc.: the constant mutation covers it
                s = pos(node.lineno, node.col_offset)
                if text[s] == "-":
                    out.append(Mutant(file, fname, node.lineno, s, s + 1, "-", ""))
            elif isinstance(node, ast.Constant) and id(node) not in docs:
                v = node.value
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                if isinstance(parents.get(id(node)), ast.Subscript) or isinstance(parents.get(id(node)), ast.Slice):
                    continue  # indices/slices: mostly shape plumbing, not science
                s, e = pos(node.lineno, node.col_offset), pos(node.end_lineno, node.end_col_offset)
                src = text[s:e]
                if isinstance(v, int):
                    new = str(v + 1)
                else:
                    new = repr(v * 2) if v != 0 else "1.0"
                out.append(Mutant(file, fname, node.lineno, s, e, src, new))
            elif isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if name in _CALLS:
                    if isinstance(f, ast.Attribute):
                        e = pos(f.end_lineno, f.end_col_offset)
                        s = e - len(name)
                    else:
                        s = pos(f.lineno, f.col_offset)
                        e = s + len(name)
                    new = _CALLS[name]
                    if new == "" and len(node.args) != 1:
                        continue
                    if new == "" and isinstance(f, ast.Attribute):
                        s = pos(f.lineno, f.col_offset)  # drop the whole `np.abs`: `(x)` stays
                    out.append(Mutant(file, fname, node.lineno, s, e, text[s:e], new))

    for top in tree.body:
        if isinstance(top, (ast.FunctionDef, ast.ClassDef)) and (functions is None or top.name in functions):
            visit(top, top.name)
    seen, uniq, count = set(), [], {}
    for m in sorted(out, key=lambda m: (m.start, m.end, m.after)):
        if (m.start, m.end, m.after) in seen:
            continue
        seen.add((m.start, m.end, m.after))
        key = f"{file}:{m.function}:`{_context(text, m)}`"
        count[key] = count.get(key, 0) + 1
        m.key = key if count[key] == 1 else f"{key} #{count[key]}"  # the same change on an identical line
        uniq.append(m)
    return uniq


def _context(text: str, m: Mutant) -> str:
    """The mutated line, before -> after (whitespace squeezed), a key that survives unrelated edits elsewhere."""
    ls = text.rfind("\n", 0, m.start) + 1
    le = text.find("\n", m.end)
    line = text[ls:le]
    new = text[ls : m.start] + m.after + text[m.end : le]
    return f"{' '.join(line.split())}` -> `{' '.join(new.split())}"


def _only(t: Target, files: tuple[str, ...] | None) -> tuple[str, ...]:
    """The target's files, restricted to those ending in one of ``files`` (None: all)."""
    return t.files if not files else tuple(f for f in t.files if any(f.endswith(x) for x in files))


def select(
    name: str, t: Target, per_module: int | None, seed: int, files: tuple[str, ...] | None = None, root: Path = ROOT
) -> list[Mutant]:
    """The sampled mutants of one target, enumerated from the files under ``root`` (a run's private copy: the
    working tree may change while a run goes on)."""
    allm = [m for f in _only(t, files) for m in enumerate_mutants(f, t.functions, root)]
    k = per_module if per_module is not None else t.per_module
    if k <= 0 or k >= len(allm):
        return allm
    rng = random.Random(f"{seed}:{name}")
    return sorted(rng.sample(allm, k), key=lambda m: (m.file, m.start))


# --------------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------------
def make_copy() -> Path:
    """A private copy of the tree in which ``srchain``, ``srchain.toy`` and ``srchain.cnn`` import from the copy."""
    tmp = Path(tempfile.mkdtemp(prefix="srchain-mutation-"))
    for d in ("srchain", "toy", "cnn", "tests"):
        shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    (tmp / "srchain" / "toy").symlink_to("../toy")
    (tmp / "srchain" / "cnn").symlink_to("../cnn")
    return tmp


def _env(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_tests(copy: Path, t: Target, timeout: float) -> tuple[str, float]:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *t.tests]
    for d in t.deselect:
        cmd += ["--deselect", d]
    # a fresh Numba cache per run: a kernel cached while another mutant was applied would be reused (Numba checks
    # only its own file's time stamp, not those of the helpers it inlined from other modules)
    env = _env(copy)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        try:
            r = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "timeout", time.perf_counter() - t0
    dt = time.perf_counter() - t0
    if r.returncode == 0:
        return "passed", dt
    if r.returncode == 1:
        return "failed", dt
    return f"error(rc={r.returncode}): {r.stdout[-300:]}", dt


def check_copy_imports(copy: Path) -> None:
    code = "import srchain, srchain.toy.bc_law as b; print(srchain.__file__); print(b.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=_env(copy), capture_output=True, text=True)
    paths = out.stdout.split()
    if len(paths) != 2 or not all(Path(p).resolve().is_relative_to(copy.resolve()) for p in paths):
        raise SystemExit(f"the copy does not import from itself: {out.stdout} {out.stderr}")


def run_module(copy: Path, name: str, t: Target, mutants: list[Mutant], log) -> dict:
    status, base = run_tests(copy, t, timeout=3600)
    if status != "passed":
        raise SystemExit(f"{name}: the unmutated tests do not pass ({status}); fix that first")
    timeout = 3 * base + 120
    res = {
        "tests": list(t.tests),
        "baseline_seconds": round(base, 1),
        "mutants": len(mutants),
        "killed": 0,
        "survived": [],
        "equivalent": [],
        "timeouts": 0,
    }
    for m in mutants:
        path = copy / m.file
        orig = path.read_text()
        path.write_text(m.apply(orig))
        try:
            status, dt = run_tests(copy, t, timeout)
        finally:
            path.write_text(orig)
        killed = status != "passed"
        res["killed"] += killed
        res["timeouts"] += status == "timeout"
        if not killed:
            (res["equivalent"] if m.key in EQUIVALENT else res["survived"]).append(m.key)
        log(f"{name}: {'killed' if killed else 'SURVIVED'} ({status}, {dt:.0f}s) {m.key}")
    scored = res["mutants"] - len(res["equivalent"])
    res["score"] = round(res["killed"] / scored, 4) if scored else None
    return res


def run_planted(copy: Path, log) -> dict:
    out = {"planted": len(PLANTED), "caught": 0, "missed": []}
    for file, old, new, test, _ in PLANTED:
        path = copy / file
        orig = path.read_text()
        assert orig.count(old) == 1, (file, old)
        path.write_text(orig.replace(old, new))
        try:
            status, _ = run_tests(copy, Target((file,), (test,)), timeout=1800)  # a node id: that test only
        finally:
            path.write_text(orig)
        caught = status != "passed"
        out["caught"] += caught
        if not caught:
            out["missed"].append(f"{file}: {old!r} -> {new!r}")
        log(f"planted: {'caught' if caught else 'MISSED'} {file}: {old[:50]!r}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modules", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    ap.add_argument("--per-module", type=int, default=None, help="mutants sampled per module (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--files",
        default="",
        help="comma-separated: mutate only the targets' files ending in one of these (e.g. envelope.py)",
    )
    ap.add_argument("--list", action="store_true", help="print the selected mutants and stop")
    ap.add_argument("--planted", action="store_true", help="run the hand-planted mutants only")
    ap.add_argument("--json", type=Path, help="also write the JSON report here")
    ap.add_argument("--rerun", type=Path, help="run only the survivors of this earlier JSON report (same keys)")
    a = ap.parse_args(argv)
    names = [n for n in a.modules.split(",") if n]
    files = tuple(x for x in a.files.split(",") if x) or None
    for n in names:
        if n not in TARGETS:
            ap.error(f"unknown module {n!r}; choose from {', '.join(TARGETS)}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if a.list:
        for n in names:
            allm = [m for f in _only(TARGETS[n], files) for m in enumerate_mutants(f, TARGETS[n].functions)]
            sel = select(n, TARGETS[n], a.per_module, a.seed, files)
            print(f"# {n}: {len(sel)} of {len(allm)} mutants")
            for m in sel:
                print(f"  {m.key}")
        return 0
    copy = make_copy()
    try:
        check_copy_imports(copy)
        t0 = time.perf_counter()
        if a.planted:
            report = run_planted(copy, log)
        else:
            report = {"seed": a.seed, "modules": {}}
            for n in names:
                t = TARGETS[n]
                total = sum(len(enumerate_mutants(f, t.functions, copy)) for f in _only(t, files))
                sel = select(n, t, a.per_module, a.seed, files, copy)
                if a.rerun is not None:
                    old = json.loads(a.rerun.read_text())["modules"].get(n)
                    if old is None:
                        continue
                    keep = set(old["survived"]) | set(old["equivalent"])
                    if not keep:
                        continue
                    every = [m for f in _only(t, files) for m in enumerate_mutants(f, t.functions, copy)]
                    sel = [m for m in every if m.key in keep]
                    missing = keep - {m.key for m in sel}
                    if missing:
                        log(f"{n}: {len(missing)} survivors no longer found (the source changed): {sorted(missing)}")
                r = run_module(copy, n, t, sel, log)
                r["population"] = total
                report["modules"][n] = r
            k = sum(r["killed"] for r in report["modules"].values())
            s = sum(r["mutants"] - len(r["equivalent"]) for r in report["modules"].values())
            report["total"] = {
                "mutants": sum(r["mutants"] for r in report["modules"].values()),
                "killed": k,
                "score": round(k / s, 4) if s else None,
            }
        report["seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
