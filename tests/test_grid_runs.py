"""The grid simulators' fixed-point step inside a run of equal gaps (srchain.simulate.grid_runs) against exact
rational arithmetic, and outside its runs against the look-up path."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import srchain.simulate.grid as sg
from srchain.grids import Grid, axis_parity, axis_values
from srchain.lattice import Lattice
from srchain.problems import get_problem
from srchain.simulate.grid_runs import NO_RUN, SHIFT_MAX, bc_runs, fixed_runs, runs

GRIDS = [
    ("bf16", (1.0, 8.0)),
    ("bf16", (-4.0, 10.0)),
    ("fp16", (1.0, 8.0)),
    ("fp8-e4m3", (-4.0, 10.0)),
    ("fp8-e5m2", (0.5, 12.0)),
    ("fixed", (-4.0, 10.0)),
    ("fp4-e2m1", (-6.0, 6.0)),
    ("fp8-e4m3", (-0.02, 0.02)),  # one run of 2^-9 gaps: the subnormals and the first binade, across 0
]
_TABLES = {}


def _tables(i, alpha):
    """One axis's look-up structures (as simulate_grid builds them) and its run tables at ``alpha``."""
    key = (i, alpha)
    if key not in _TABLES:
        name, domain = GRIDS[i]
        grid = Lattice.from_domain(14.0 / 999, domain) if name == "fixed" else Grid.of(name, domain)
        v = np.asarray(axis_values(grid, 0), dtype=np.float64)
        toy = get_problem("toy").with_domain(domain)
        G = np.asarray(toy.gradient(v[:, None]), dtype=np.float64).reshape(-1, 1)
        M = np.ascontiguousarray(v[:, None] - alpha * G)
        S, B = runs([v], M)
        Q, C, F, Z = fixed_runs(S, B, [v])
        tab, p = sg._locator(v)
        lp = np.array([[p[0], *p[3:]]], dtype=np.int64)
        lf = np.array([[p[1], p[2]]], dtype=np.float64)
        inv = np.append(1.0 / np.diff(v), 0.0)
        even = np.ascontiguousarray(axis_parity(grid, 0))
        _TABLES[key] = (v, M[:, 0].copy(), S[:, 0], B[:, 0], Q, C, F, (inv, even, tab, lp, lf, Z))
    return _TABLES[key]


def _step(k, ax, u, rule, Q, C, F, M, v, look, bits=0):
    inv, even, tab, lp, lf, Z = look
    return sg._step(k, ax, u, rule, bits, Q, C, F, Z, M, v, 0, v.size, inv, even, tab, 0, lp, lf, 0)


@settings(max_examples=600, deadline=None)
@given(
    i=st.integers(0, len(GRIDS) - 1),
    alpha=st.sampled_from([30.0, 0.1, 0.01, 0.001]),
    rule=st.sampled_from([sg.R, sg.SR, sg.SR]),
    bits=st.sampled_from([0, 0, 1, 4, 8, 16]),
    m=st.integers(0, 2**53 - 1),
    data=st.data(),
)
def test_step_in_a_run_is_the_exact_rounding(i, alpha, rule, bits, m, data):
    """In its run, the fixed-point step is SR's ⌊X + 1 − u⌋ (R's ⌊X + ½⌋) of the exact X = S0 − αξ̄/h (rationals);
    SR with k bits moves from the cell ⌊X⌋ away from zero iff the uniform's k leading bits are below the fraction's
    (in a negative cell: at least ⌊(1 − frac)·2^k⌋). So whenever X is not within the fixed point's error (5·2^-f:
    five truncations, each below one unit) of an integer, of the run's ends or of a k-bit boundary; outside its run
    (and for states without one) it is the look-up path's index."""
    if rule == sg.R:
        bits = 0
    v, M, S, B, Q, C, F, look = _tables(i, alpha)
    k = data.draw(st.integers(0, v.size - 1))
    ax = data.draw(st.floats(-4.0, 4.0, allow_nan=False)) * min(alpha, 0.1) * 2.0  # αξ̄ for |ξ̄| ≤ 8
    u = m * 2.0**-53
    got = _step(k, ax, u, rule, Q, C, F, M, v, look, bits)
    none = np.full_like(Q, 0)
    none[0::4] = NO_RUN
    lookup = _step(k, ax, u, rule, none, C, F, M, v, look, bits)
    want = _exact(v, S, B, Q, F, k, ax, m, rule, bits)
    assume(want is not None)
    assert got == (lookup if want == "look-up" else want)


def _exact(v, S, B, Q, F, k, ax, m, rule, bits):
    """The index the fixed-point step must give from state k (exact rationals), "look-up" where it must agree with
    the look-up path, None at a near-tie (within the fixed point's error, 5·2^-f: five truncations, each below
    one unit, of an integer, of the run's ends or of a k-bit boundary)."""
    eps = Fraction(5, 2 ** int(F[0]))
    X = Fraction(float(S[k, 0])) - Fraction(ax) * Fraction(float(S[k, 1]))
    cells = int(S[k, 2])
    if Q[4 * k] == NO_RUN:
        return "look-up"
    if min(abs(X), abs(X - cells)) <= eps:
        return None
    if not 0 <= X < cells:
        return "look-up"
    if bits:
        c = math.floor(X)
        frac = X - c
        if min(frac, 1 - frac) <= eps:
            return None
        r = m >> (53 - bits)
        negative = v[int(B[k]) + c + 1] <= 0.0  # away from zero is down
        t = ((1 - frac) if negative else frac) * 2**bits
        if abs(t - round(t)) <= eps * 2**bits:
            return None
        up = r >= math.floor(t) if negative else r < math.floor(t)
        return int(B[k]) + c + int(up)
    y = X + (1 - Fraction(m, 2**53) if rule == sg.SR else Fraction(1, 2))
    if y - math.floor(y) <= eps or math.ceil(y) - y <= eps:
        return None
    return int(B[k]) + math.floor(y)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("i", [6, 7])  # grids with 0 inside a run: fp4-e2m1 [-6, 6], fp8-e4m3 [-0.02, 0.02]
def test_k_bit_step_in_negative_cells(i, bits):
    """SR with k bits in the runs' negative cells (upper value ≤ 0), where it rounds away from zero (down), and
    in their positive ones, against exact rationals: 4000 random steps from the states whose run holds 0."""
    v, M, S, B, Q, C, F, look = _tables(i, 0.1)
    Z = look[-1]
    rng = np.random.default_rng(bits)
    ks = [k for k in range(v.size) if Q[4 * k] != NO_RUN and B[k] < Z < B[k] + S[k, 2]]
    assert ks
    negative = checked = 0
    for _ in range(4000):
        k = int(rng.choice(ks))
        ax = float(rng.uniform(-1, 1)) * float(S[k, 2]) / float(S[k, 1])  # up to a run's length either way
        m = int(rng.integers(0, 2**53))
        want = _exact(v, S, B, Q, F, k, ax, m, sg.SR, bits)
        if want is None or want == "look-up":
            continue
        checked += 1
        X = Fraction(float(S[k, 0])) - Fraction(ax) * Fraction(float(S[k, 1]))
        negative += int(v[int(B[k]) + math.floor(X) + 1] <= 0.0)
        assert _step(k, ax, m * 2.0**-53, sg.SR, Q, C, F, M, v, look, bits) == want
    # binomial: about half of the checked steps land left of 0; far more than 100 of them either way
    assert checked > 1000 and 100 < negative < checked - 100


@pytest.mark.parametrize("alpha", [0.01, 30.0])
@pytest.mark.parametrize("i", range(len(GRIDS)))
def test_a_step_far_outside_every_run_takes_the_look_up(i, alpha):
    """A step so large that its product with C is clipped (or infinite) is never taken for one inside a run, on
    either side: the clipped integer, shifted by at most SHIFT_MAX, exceeds every run's reach (also where α is so
    large that the mean step's point leaves the box)."""
    v, M, S, B, Q, C, F, look = _tables(i, alpha)
    none = np.full_like(Q, 0)
    none[0::4] = NO_RUN
    lim = 2.0**62 / C[0]
    for k in range(0, v.size, max(1, v.size // 50)):
        for ax in (lim, -lim, 1.5 * lim, -1.5 * lim, 8 * lim, -8 * lim, 200 * lim, -200 * lim, 1e300, -1e300):
            for rule, bits in ((sg.R, 0), (sg.SR, 0), (sg.SR, 4)):
                got = _step(k, ax, 0.25, rule, Q, C, F, M, v, look, bits)
                assert got == _step(k, ax, 0.25, rule, none, C, F, M, v, look, bits)


@pytest.mark.parametrize("alpha", [0.01, 30.0])
@pytest.mark.parametrize("i", range(len(GRIDS)))
def test_runs_are_the_maximal_runs_of_equal_gaps_holding_the_mean_step(i, alpha):
    """Each state's run [B, B + cells] is a maximal stretch of equal gaps h (bit for bit: a fixed lattice's float
    values have runs of a few cells), ``inv = 1/h``, and it holds the cell of M (clipped to the box's end cells)."""
    v, M, S, B, Q, C, F, _ = _tables(i, alpha)
    h = np.diff(v)
    for k in range(v.size):
        b, cells = int(B[k]), int(S[k, 2])
        assert cells >= 1 and b + cells <= v.size - 1
        assert (h[b : b + cells] == h[b]).all() and S[k, 1] == 1.0 / h[b]
        assert b == 0 or h[b - 1] != h[b]
        assert b + cells == v.size - 1 or h[b + cells] != h[b]
        c = min(max(int(np.searchsorted(v, M[k], side="right")) - 1, 0), v.size - 2)
        assert b <= c < b + cells


def test_fixed_tables_stay_within_int64_and_the_window():
    """Every used entry: a shift in [0, SHIFT_MAX], the run's start below 2^61 in units of 2^-f, and S0 and the run's
    width together below 2^55 (a clipped step, ≥ 2^(62 − SHIFT_MAX) after its shift, never lands in a run); a grid
    spanning more binades than the window leaves its finest runs to the look-up."""
    for i in range(len(GRIDS)):
        v, M, S, B, Q, C, F, _ = _tables(i, 0.01)
        used = Q[0::4] != NO_RUN
        assert used.any()
        assert (Q[1::4][used] >= 0).all() and (Q[1::4][used] <= SHIFT_MAX).all()
        s0f = Q[0::4][used] - Q[2::4][used]
        assert (Q[2::4][used] < 2**61).all() and (s0f >= 0).all() and (s0f + Q[3::4][used] < 2**55).all()
        # the entry is S0 and the run's start in fixed point
        f = int(F[0])
        s0 = np.trunc(S[used, 0] * 2.0**f).astype(np.int64)
        assert np.array_equal(Q[0::4][used] - Q[2::4][used], s0)
    # a lattice of 2^21 values (runs of a few cells, float-rounded gaps): f is set by n, B·2^f stays below 2^61
    v = np.asarray(Lattice.from_domain(14.0 / (2**21 - 1), (-4.0, 10.0)).axis(0), dtype=np.float64)
    S, B = runs([v], v[:, None].copy())
    Q, C, F, Z = fixed_runs(S, B, [v])
    used = Q[0::4] != NO_RUN
    assert F[0] == 61 - v.size.bit_length() and used.any() and (Q[2::4][used] < 2**61).all()
    # an axis of one value has no run
    S, B = runs([np.array([2.0]), v[:8]], np.array([[2.0, v[3]]]))
    Q, C, F, Z = fixed_runs(S, B, [np.array([2.0]), v[:8]])
    assert S[0, 0, 2] == -1.0 and Q[0] == NO_RUN and Q[4] != NO_RUN
    v, M, S, B, Q, C, F, _ = _tables(1, 0.01)  # bf16 [-4, 10]: binades down to 2^-133
    inv = S[:, 1]
    coarse = inv.min()
    assert (Q[0::4][inv > coarse * 2.0**SHIFT_MAX] == NO_RUN).all()
    assert (Q[0::4][inv <= coarse * 2.0**SHIFT_MAX] != NO_RUN).all()


def _nearest(v, even, y):
    """Qd(y) by exact rationals: the nearest value (clipped to the box), a tie to the even one."""
    if y <= v[0]:
        return 0
    if y >= v[-1]:
        return v.size - 1
    c = int(np.searchsorted(v, y, side="right")) - 1
    below, above = Fraction(y) - Fraction(v[c]), Fraction(v[c + 1]) - Fraction(y)
    return c + int(above < below or (above == below and bool(even[c + 1])))


@pytest.mark.parametrize("i", [*range(len(GRIDS)), "dyadic"])
def test_bc_run_index_is_the_nearest_value(i):
    """BC's rounding inside a run (bc_runs): wherever the run's test accepts ``y``, its index is Qd(y) by exact
    rationals, ties to even included (points a fraction of a cell to a few cells from a value, exact midpoints and
    exact values); points past the box, ±inf and NaN are refused. Format grids take the run path for most points;
    a fixed lattice never: 14/999 is not a power of two, and on Δ = 1/2 every tie goes up (``axis_parity``), which
    rint's ties to even cannot give."""
    if i == "dyadic":
        grid = Lattice.from_domain(0.5, (-4.0, 10.0))
    else:
        name, domain = GRIDS[i]
        grid = Lattice.from_domain(14.0 / 999, domain) if name == "fixed" else Grid.of(name, domain)
    v = np.asarray(axis_values(grid, 0), dtype=np.float64)
    even = np.asarray(axis_parity(grid, 0), dtype=bool)
    RF, RI = bc_runs([v], [even])
    n, h = v.size, np.diff(v)
    rng = np.random.default_rng(11)
    k = rng.integers(0, n, 6000)
    g = h[np.minimum(k, n - 2)]
    y = v[k] + rng.uniform(-1, 1, k.size) * g * rng.choice([0.3, 1.0, 3.0], k.size)
    tie = rng.random(k.size) < 0.15  # exact midpoints beside v_k, and exact values
    c = np.clip(k - rng.integers(0, 2, k.size), 0, n - 2)
    y[tie] = 0.5 * (v[c] + v[c + 1])[tie]
    exact = rng.random(k.size) < 0.05
    y[exact] = v[np.clip(k + rng.integers(-1, 2, k.size), 0, n - 1)][exact]
    odd = rng.random(k.size) < 0.02  # past the box, and not numbers
    y[odd] = rng.choice([v[0] - 3 * g[0], v[-1] + 3 * h[-1], np.inf, -np.inf, np.nan], int(odd.sum()))
    with np.errstate(invalid="ignore", over="ignore"):
        kr = (y * RF[2 * k] + RF[2 * k + 1]).view(np.int64) - RI[3 * k]
    taken = (kr - RI[3 * k + 1]).astype(np.uint64) < RI[3 * k + 2].astype(np.uint64)
    for j in np.flatnonzero(taken):
        assert kr[j] == _nearest(v, even, float(y[j])), (y[j], kr[j], k[j])
    assert not taken[odd].any()
    if i == "dyadic" or GRIDS[i][0] == "fixed":
        assert not taken.any()
    else:  # most points, and ties among them
        assert taken.mean() > 0.3 and (taken & tie).sum() > 50, (taken.mean(), (taken & tie).sum())
