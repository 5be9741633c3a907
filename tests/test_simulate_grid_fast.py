"""The grid simulators' shortcuts (srchain.simulate.grid) against the plain computation they replace: the bucket
table's cell against a binary search, and the fast path inside a run of equal gaps against the look-up path (same
draws, so the same end states and counts, exactly)."""

import numpy as np
import pytest

import srchain.simulate.grid as sg
import srchain.simulate.grid_locate as sg_locate
from srchain.grids import Grid
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import get_problem


def _axis(name, domain):
    if name == "fixed":
        return np.asarray(Lattice.from_domain(14.0 / 3000, domain).axis(0), dtype=np.float64)
    return np.asarray(Grid.of(name, domain).axis(0), dtype=np.float64)


@pytest.mark.parametrize(
    "name, domain",
    [
        ("bf16", (-4.0, 10.0)),
        ("fp16", (-4.0, 10.0)),
        ("fp8-e4m3", (1.0, 8.0)),
        ("fp4-e2m1", (-6.0, 6.0)),
        ("fixed", (-4.0, 10.0)),
    ],
)
@pytest.mark.parametrize("table_max", [None, 64])
def test_cell_of_the_bucket_table_is_the_binary_search_cell(name, domain, table_max, monkeypatch):
    """``table_max``: a table capped far below the axis' values, whose buckets hold many values each, so that the
    cell is found by the walk after the table's first step."""
    if table_max is not None:
        monkeypatch.setattr(sg_locate, "LOCATOR_MAX", table_max)
    v = _axis(name, domain)
    tab, p = sg._locator(v)
    lp = np.array([[p[0], *p[3:]]], dtype=np.int64)
    lf = np.array([[p[1], p[2]]], dtype=np.float64)
    rng = np.random.default_rng(0)
    # the grid values, their float neighbours, points inside cells (uniform and near 0), and points outside the box
    y = np.concatenate(
        [
            v,
            np.nextafter(v, -np.inf),
            np.nextafter(v, np.inf),
            rng.uniform(v[0], v[-1], 20_000),
            rng.normal(0.0, 1e-3, 2_000),
            rng.normal(0.0, 1e-30, 200),
            [v[0] - 1.0, v[-1] + 1.0, -1e300, 1e300, 0.0, -0.0],
        ]
    )
    got = sg._cells(y, v, tab, lp, lf)
    want = np.clip(np.searchsorted(v, y, side="right") - 1, 0, v.size - 2)
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    "name, domain, method, noise",
    [
        ("bf16", (1.0, 8.0), "sr", ("gaussian", 2.0)),
        ("bf16", (-4.0, 10.0), "sr", ("laplace", 1.0)),
        ("fp8-e4m3", (-4.0, 10.0), "r", ("gaussian", 2.0)),
        ("fp16", (1.0, 8.0), "r", ("student-t", 1.0)),
    ],
)
def test_fast_path_equals_the_look_up(name, domain, method, noise, monkeypatch):
    toy = get_problem("toy").with_domain(domain)
    grid = Grid.of(name, domain)
    nz = make_noise(*noise)
    kw = dict(steps=300, chains=200, start=[3.0], seed=11, burn=5)
    fast = sg.simulate_grid(toy, nz, grid, method, 0.05, **kw)
    runs = sg._runs

    def no_runs(axes, M):  # every step outside its run: the look-up path everywhere
        S, B = runs(axes, M)
        S[:, :, 2] = -1.0  # no X satisfies 0 <= X <= -1
        return S, B

    monkeypatch.setattr(sg, "_runs", no_runs)
    slow = sg.simulate_grid(toy, nz, grid, method, 0.05, **kw)
    assert np.array_equal(fast.final, slow.final) and np.array_equal(fast.counts, slow.counts)


@pytest.mark.parametrize(
    "name, domain",
    [("bf16", (1.0, 8.0)), ("fp8-e4m3", (-4.0, 10.0)), ("fp4-e2m1", (-6.0, 6.0)), ("fixed", (-4.0, 10.0))],
)
def test_bc_step_rounds_to_the_nearest_value(name, domain):
    """BC's step (the shortcut from the current index, its fallbacks, the clip) gives Qd of its new latent weight:
    the nearest value, ties to the even neighbour, as a binary search and the midpoint find it. Steps of a fraction
    of a cell to many cells, points exactly on midpoints (the ties) and beyond the box's ends (the clip, which the
    shortcut's end thresholds must send to the fallback)."""
    v = _axis(name, domain)
    grid = Lattice.from_domain(14.0 / 3000, domain) if name == "fixed" else Grid.of(name, domain)
    even = np.ascontiguousarray(sg.axis_parity(grid, 0))
    tab, p = sg._locator(v)
    lp = np.array([[p[0], *p[3:]]], dtype=np.int64)
    lf = np.array([[p[1], p[2]]], dtype=np.float64)
    th, mo = sg._thresholds([v], [even])
    bt = (th, *sg.bc_runs([v], [even]))
    mids = set((0.5 * (v[:-1] + v[1:])).tolist())
    n = v.size
    rng = np.random.default_rng(3)
    h = np.diff(v)

    def qd(y):
        c = min(max(int(np.searchsorted(v, y, side="right")) - 1, 0), n - 2)
        mid = 0.5 * (v[c] + v[c + 1])
        return c + int(y > mid or (y == mid and bool(even[c + 1])))

    ties = far = clipped = 0
    for _ in range(20_000):
        k = int(rng.integers(0, n))
        w = v[k] + rng.uniform(-0.5, 0.5) * h[min(k, n - 2)]
        k = qd(w)
        scale = h[min(k, n - 2)] * float(rng.choice([0.3, 1.0, 3.0, 30.0]))
        target = w + rng.normal() * scale
        if rng.random() < 0.1:  # exactly on a midpoint near the target: a tie
            c = min(max(int(np.searchsorted(v, target)) - 1, 0), n - 2)
            target = 0.5 * (v[c] + v[c + 1])
        if rng.random() < 0.02:  # past an end of the box, by less than a cell or by many
            target = (v[0] if rng.random() < 0.5 else v[-1]) + rng.normal() * h[0] * float(rng.choice([0.3, 30.0]))
        y, kn = sg._bc_step(w, k, 0.0, w - target, 1.0, v, 0, n, even, tab, 0, lp, lf, 0, bt, mo[0])
        assert v[0] <= y <= v[-1]
        clipped += int(y != (w - (w - target)))
        assert kn == qd(y), (w, k, y, kn, qd(y))
        ties += int(y in mids)
        far += int(abs(kn - k) > 1)
    assert ties > 500 and far > 500 and clipped > 100  # the ties, the fallback beyond one cell and the clip


def test_r_stalled_at_a_binade_edge(monkeypatch):
    """R at 4.0 on fp8-e4m3 (a binade's lower edge, where about half its steps would leave the run of the mean
    step's point; a step's deviation 0.2 cells): that state rounds by BC's thresholds (R_EDGE_SDS), with the same
    paths as the fixed-point run (the marking off) and as the look-up (one chain after the other). The noise is
    wide enough that some steps pass a midpoint (2.5 deviations away) and the chains leave 4.0 and come back."""
    toy = get_problem("toy").with_domain((1.0, 8.0))
    grid = Grid.of("fp8-e4m3", (1.0, 8.0))
    nz = make_noise("gaussian", 5.0)
    kw = dict(steps=2000, chains=64, start=[4.0], seed=2, burn=3)
    edge = int(np.flatnonzero(grid.points[:, 0] == 4.0)[0])
    marked = sg.simulate_grid(toy, nz, grid, "r", 0.01, **kw)
    assert 0.2 < marked.counts[edge] / marked.counts.sum() < 0.99 and (marked.counts > 0).sum() >= 3
    monkeypatch.setattr(sg, "R_EDGE_SDS", 0.0)
    in_run = sg.simulate_grid(toy, nz, grid, "r", 0.01, **kw)
    monkeypatch.setattr(sg, "LOCKSTEP", False)
    look_up = sg.simulate_grid(toy, nz, grid, "r", 0.01, **kw)
    for other in (in_run, look_up):
        assert np.array_equal(marked.final, other.final) and np.array_equal(marked.counts, other.counts)
