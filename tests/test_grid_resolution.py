"""T_α on grids too fine for float64 at the given α (bf16/fp16 near 0) is refused; just coarser ones are accurate.

SR's move law on a grid is a divided second difference of the noise's excess over gaps ``h``; its rounding error
relative to a cell's mass is about ``4 eps (α·std/h)²``. bf16's values near 0 are 9.2e-41 apart: there the
differences are all rounding (on [−1e-3, 1e-3] at α = 0.01 a row's law summed to 1,112 before it was renormalised),
so srchain.grid_chains refuses gaps below 2^-18·α·std in one line. Just above that limit each cell keeps the derived
relative accuracy: checked here against the hat function integrated by adaptive quadrature.
"""

import numpy as np
import pytest
from scipy.integrate import quad

from srchain.errors import SrchainError
from srchain.grid_chains import grid_move_laws
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem

NOISE = make_noise("gaussian", 2.0)


@pytest.mark.parametrize(
    "fmt,domain,alpha,method",
    [("bf16", (-1e-3, 1e-3), 0.01, "sr"), ("fp16", (-0.01, 0.01), 0.1, "sr"), ("bf16", (1e-38, 1e-36), 1e-3, "r")],
)
def test_too_fine_a_grid_is_refused_in_one_line(fmt, domain, alpha, method):
    toy = get_problem("toy", domain=domain)
    with pytest.raises(SrchainError, match="too fine for float64") as err:
        transition_matrix(toy, NOISE, Grid.of(fmt, domain), alpha, method)
    assert "\n" not in str(err.value)


def test_cli_refuses_it_with_exit_status_2(capsys):
    from srchain.cli import main

    # bf16 on [1e-38, 1e-36]: 830 values (small enough for the memory check), 9.2e-41 apart at the bottom
    code = main(["stationary", "--format", "bf16", "--domain", "1e-38", "1e-36", "--alpha", "0.01", "--quiet"])
    assert code == 2
    assert "too fine for float64" in capsys.readouterr().err


def _cell_mass(x, g, alpha, vm, v0, v1):
    """∫ hat_{v0}(y) f_Y(y) dy for y = x − α(g + ξ̄): the exact SR probability of v0 (interior cell)."""

    def f(y):
        return float(NOISE.pdf(np.array((x - y) / alpha - g))) / alpha

    left = quad(lambda y: (y - vm) / (v0 - vm) * f(y), vm, v0, epsabs=0, epsrel=1e-12, limit=200)[0]
    right = quad(lambda y: (v1 - y) / (v1 - v0) * f(y), v0, v1, epsabs=0, epsrel=1e-12, limit=200)[0]
    return left + right


def test_just_above_the_limit_the_law_is_accurate():
    # fp16's subnormals in [1e-7, 1e-5]: 166 values 6e-8 apart; α = 0.007 puts the limit 2^-18·α·2 = 5.3e-8 just
    # below the gap (the step's spread, 0.014, covers the whole grid: every interior cell has mass ~2e-6)
    dom = (1e-7, 1e-5)
    toy = get_problem("toy", domain=dom)
    grid = Grid.of("fp16", dom)
    alpha, std = 0.007, NOISE.std
    v = grid.points[:, 0]
    transition_matrix(toy, NOISE, grid, alpha)  # accepted
    rows = np.array([0, 40, 100, v.size - 1])
    targets, probs, _ = grid_move_laws(toy, NOISE, grid, alpha, rows=rows)
    g = 2.0 * v[rows]  # objective (8): f'(w) = 2w below 1
    checked = 0
    for r, i in enumerate(rows):
        law = np.where(targets[r, 0] >= 0, probs[r, 0], 0.0)
        assert abs(law.sum() - 1.0) < 1e-9
        t = targets[r, 0]
        inner = np.flatnonzero((t > 0) & (t < v.size - 1) & (law > 1e-12))
        for w in inner[:: max(1, inner.size // 25)]:
            c = t[w]
            vm, v0, v1 = v[c - 1], v[c], v[c + 1]
            want = _cell_mass(v[i], g[r], alpha, vm, v0, v1)
            # rounding of the second difference relative to the cell's mass: 4 eps (α·std/h)², doubled, plus the
            # quadrature's 1e-12 and the excess's own few ulps relative to the mass (1e-9 covers both)
            rel = 8 * np.finfo(float).eps * (alpha * std / min(v0 - vm, v1 - v0)) ** 2 + 1e-9
            assert probs[r, 0, w] == pytest.approx(want, rel=rel)
            checked += 1
    assert checked > 40
