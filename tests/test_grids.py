"""Grids of a format's values (srchain.grids) and rounding onto them (srchain.rounding)."""

import math

import ml_dtypes
import numpy as np
import pytest

from srchain import SrchainError
from srchain.grids import FORMATS, Grid, check_scale, format_dtype, format_values
from srchain.lattice import Lattice
from srchain.rounding import (
    check_sr_bits,
    kbit_bias,
    kbit_up_probability,
    qd_grid,
    qd_grid_scalar,
    qs_grid,
    qs_kbit,
    qs_kbit_scalar,
)

NAMES = [n for n in FORMATS if n != "fixed"]


def reference_values(dt):
    """The format's finite values, from ml_dtypes' own iinfo/finfo-free enumeration: every float64 that a cast of
    itself round-trips, built from the dtype's bit patterns as unsigned integers (an independent path: np.frombuffer
    over bytes)."""
    bits = ml_dtypes.finfo(dt).bits
    raw = np.arange(2**bits, dtype=np.uint8 if bits <= 8 else np.uint16).tobytes()
    with np.errstate(invalid="ignore"):  # NaN patterns
        vals = np.frombuffer(raw, dtype=dt).astype(np.float64)
    vals = vals[np.isfinite(vals)]
    return np.unique(vals)  # unique: +0 and -0 are equal and collapse


@pytest.mark.parametrize("name", NAMES)
def test_values_are_ml_dtypes_enumeration(name):
    dt = format_dtype(name)
    v = format_values(name)
    assert np.array_equal(v, reference_values(dt))
    fi = ml_dtypes.finfo(dt)
    assert v[-1] == float(fi.max) and v[0] == -float(fi.max)
    # subnormals are in: the smallest positive value is finfo's smallest_subnormal
    assert v[v > 0][0] == float(fi.smallest_subnormal)
    assert np.sum(v == 0) == 1  # one zero
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) > 0)
    # every value round-trips through the dtype
    assert np.array_equal(v.astype(dt).astype(np.float64), v)


def test_known_sizes():
    assert format_values("fp4-e2m1").tolist() == [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert format_values("fp8-e4m3").size == 253  # 256 patterns − 2 NaN − one duplicate zero
    assert format_values("fp8-e5m2").size == 256 - 2 - 6 - 1  # − ±inf − 6 NaN − duplicate zero
    assert format_values("bf16").size == 65536 - 2 - 254 - 1


def test_grid_of_bf16_toy_domain():
    g = Grid.of("bf16", (-4, 10))
    v = g.axis(0)
    allv = format_values("bf16")
    assert np.array_equal(v, allv[(allv >= -4) & (allv <= 10)])
    assert 30_000 < g.size < 35_000
    assert g.points.shape == (g.size, 1)
    assert g.domain.tolist() == [[-4.0, 10.0]]
    # spacing grows with |w|: the ulp of 8 in bf16 is 2^-4
    h = g.spacing(0)
    assert h[-1] == 2.0**-4
    assert h.min() == float(ml_dtypes.finfo(ml_dtypes.bfloat16).smallest_subnormal)


def test_grid_product_and_interface():
    g = Grid.of("fp8-e4m3", [[-1, 1], [0.5, 2]])
    assert g.dim == 2 and g.shape[1] == 17  # [0.5, 2]: 8 + 8 values and 2.0
    c = g.coords[37]
    assert g.index(c) == 37
    assert np.array_equal(g.points[37], [g.axis(0)[c[0]], g.axis(1)[c[1]]])
    assert g.nearest(g.points[37]) == 37
    assert g.cells(g.points[37]).tolist() == [37]
    assert len(g.cells([0.01, 0.51])) == 4
    assert g.contains(g.points) and not g.contains([[3.0, 1.0]])
    assert g.to_dict()["format"] == "fp8-e4m3"


def test_strides_index_and_locate_on_a_3d_grid():
    """C order on a 3-D box: a state's flat index is its per-axis indices times the strides, and locate (the nearest
    value per axis, ties to even) is Qd per axis, for every value, midpoint and point outside the box."""
    g = Grid.of("fp4-e2m1", [[-1, 1], [0, 3], [-6, 6]])
    assert g.dim == 3 and g.shape == (5, 6, 15)  # {0, ±0.5, ±1}, {0, 0.5, 1, 1.5, 2, 3}, ±{0, …, 6}
    assert np.array_equal(g.coords @ g.strides, np.arange(g.size))
    assert np.array_equal(g.index(g.coords), np.arange(g.size))
    for k in range(3):
        v = g.axis(k)
        w = np.concatenate([boundary_points(v), [v[0] - 1.0, v[-1] + 1.0]])
        pts = np.zeros((w.size, 3))
        pts[:, k] = w
        assert np.array_equal(v[g.locate(pts)[:, k]], qd_grid(w, v, g.even[k]))


def test_max_states_allows_a_grid_of_exactly_that_many():
    n = Grid.of("bf16", (1, 2)).size
    assert Grid.of("bf16", (1, 2), max_states=n).size == n
    with pytest.raises(SrchainError, match="more than the allowed"):
        Grid.of("bf16", (1, 2), max_states=n - 1)


def test_fixed_is_the_lattice():
    g = Grid.of("fixed", (-4, 10), delta=0.5)
    assert isinstance(g, Lattice) and g == Lattice.from_domain(0.5, (-4, 10))


def test_scale():
    g = Grid.of("fp4-e2m1", (-4, 10), scale=2)
    assert g.axis(0).tolist() == [-4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8]
    for bad in (3, 0, -2, float("nan"), 0.3):
        with pytest.raises(SrchainError, match="power of two"):
            check_scale(bad)


def test_errors():
    with pytest.raises(SrchainError, match="unknown format"):
        Grid.of("fp7", (0, 1))
    with pytest.raises(SrchainError, match="largest finite value"):
        Grid.of("fp4-e2m1", (-4, 10))
    with pytest.raises(SrchainError, match="largest finite value"):
        Grid.of("fp8-e4m3", (0, 1000))
    with pytest.raises(SrchainError, match="more than the allowed"):
        Grid.of("bf16", [(-4, 10), (-4, 10)], max_states=10**6)
    with pytest.raises(SrchainError, match="fewer than 2"):
        Grid.of("fp4-e2m1", (0.1, 0.4))
    for bad in (0, 33, 2.5, True, "x"):
        with pytest.raises(SrchainError, match="1 to 32"):
            check_sr_bits(bad)


def test_from_values_takes_two_or_more_increasing_finite_values():
    two = Grid.from_values([0.0, 0.5])  # the smallest grid: one cell
    assert two.size == 2 and two.axes[0].tolist() == [0.0, 0.5]
    # ties of Qd go to the larger index on such a grid (every value counts as "even")
    assert qd_grid(np.array([0.25, 0.2499]), two.axes[0], two.even[0]).tolist() == [0.5, 0.0]
    for bad in ([0.0], [0.0, 0.0], [1.0, 0.0], [0.0, np.inf], [[0.0, 1.0]]):
        with pytest.raises(SrchainError, match="at least 2 finite values in increasing order"):
            Grid.from_values(bad)


def boundary_points(v):
    """Every value, every midpoint, and the float64 neighbours of each midpoint."""
    mid = 0.5 * (v[:-1] + v[1:])
    return np.concatenate([v, mid, np.nextafter(mid, -np.inf), np.nextafter(mid, np.inf)])


@pytest.mark.parametrize("name", NAMES)
def test_qd_is_the_cast(name):
    """Round-to-nearest-even equals ml_dtypes' cast on every value, midpoint and both sides of each midpoint."""
    dt = format_dtype(name)
    g = Grid.of(name, (float(format_values(name)[0]), float(format_values(name)[-1])))
    v, even = g.axis(0), g.even[0]
    w = boundary_points(v)
    w = w[np.abs(w) <= v[-1]]
    cast = w.astype(dt).astype(np.float64)
    cast[cast == 0] = 0.0  # -0 is the grid's one zero
    assert np.array_equal(qd_grid(w, v, even), cast)
    scalar = np.array([qd_grid_scalar(x, v, even) for x in w[:: max(1, w.size // 4000)]])
    assert np.array_equal(scalar, cast[:: max(1, w.size // 4000)])


@pytest.mark.parametrize("name", ["bf16", "fp16", "fp8-e4m3", "fp8-e5m2"])
def test_qd_is_torch_cast(name):
    """The same against torch's casts from float32 (its training dtype; float64 inputs round twice in torch)."""
    torch = pytest.importorskip("torch")
    tdt = {
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
        "fp8-e4m3": torch.float8_e4m3fn,
        "fp8-e5m2": torch.float8_e5m2,
    }[name]
    v = format_values(name)
    g = Grid.of(name, (float(v[0]), float(v[-1])))
    w = boundary_points(g.axis(0)).astype(np.float32)
    w = w[np.abs(w) <= v[-1]].astype(np.float64)  # float32 points (midpoints are exact in float32)
    cast = torch.from_numpy(w.astype(np.float32)).to(tdt).to(torch.float64).numpy()
    cast[cast == 0] = 0.0
    assert np.array_equal(qd_grid(w, g.axis(0), g.even[0]), cast)


@pytest.mark.parametrize("name", ["bf16", "fp8-e4m3", "fp4-e2m1"])
def test_qs_unbiased_binomial(name):
    """Qs(w) takes the upper value with probability q: its count over N draws is Binomial(N, q); a 5-sigma band
    (sqrt(N q (1-q))) has two-sided probability 6e-7 per point under the null, over 12 points < 1e-5."""
    g = Grid.of(name, (-4, 4) if name != "fp4-e2m1" else (-6, 6))
    v = g.axis(0)
    rng = np.random.default_rng(0)
    idx = rng.choice(v.size - 1, 12, replace=False)
    N = 200_000
    for j in idx:
        q = rng.uniform(0.05, 0.95)
        w = v[j] + q * (v[j + 1] - v[j])
        q = (w - v[j]) / (v[j + 1] - v[j])
        out = qs_grid(np.full(N, w), v, rng=rng)
        assert set(np.unique(out)) <= {v[j], v[j + 1]}
        ups = int(np.sum(out == v[j + 1]))
        assert abs(ups - N * q) < 5 * math.sqrt(N * q * (1 - q))


@pytest.mark.parametrize("k", [1, 2, 3, 8, 16, 32])
def test_kbit_probability_and_bias(k):
    """SR with k bits: P(away from zero) = floor(2^k q_a)/2^k exactly, measured on all 2^k draws (k <= 8: every
    value of r = floor(2^k u), an exact count) and the exact bias is toward zero, below h 2^-k."""
    v = format_values("fp8-e4m3")
    rng = np.random.default_rng(k)
    w = rng.uniform(-400, 400, 500)
    p = kbit_up_probability(w, v, k)
    j = np.clip(np.searchsorted(v, w, side="right") - 1, 0, v.size - 2)
    h = v[j + 1] - v[j]
    b = kbit_bias(w, v, k)
    assert np.all(np.sign(b) * np.sign(w) <= 0) and np.all(np.abs(b) < h * 2.0**-k + 1e-12 * h)
    if k <= 8:
        u = (np.arange(2**k) + 0.5) / 2**k  # one draw per value of r
        for x, pu in zip(w[:50], p[:50], strict=True):
            out = qs_kbit(np.full(u.size, x), v, k, u=u)
            hi = v[np.searchsorted(v, x, side="right")]
            assert np.sum(out == hi) / u.size == pu
            assert np.array_equal(out, [qs_kbit_scalar(x, v, uu, k) for uu in u])


def test_kbit_bias_measured():
    """The measured mean of k-bit SR equals w + kbit_bias within its standard error (5 sigma, N = 400,000)."""
    v = format_values("bf16")
    rng = np.random.default_rng(3)
    for k, w in [(2, 1.2345), (4, -3.3333), (8, 0.0123)]:
        N = 400_000
        out = qs_kbit(np.full(N, w), v, k, rng=rng)
        j = np.searchsorted(v, w, side="right") - 1
        h = v[j + 1] - v[j]
        p = kbit_up_probability(w, v, k)
        se = h * math.sqrt(p * (1 - p) / N)
        assert abs(out.mean() - (w + float(kbit_bias(w, v, k)))) < 5 * se + 1e-15
        if k <= 4:  # the bias is real: here larger than 5 standard errors (at k = 8 it is below the noise)
            assert abs(float(kbit_bias(w, v, k))) > 5 * se
