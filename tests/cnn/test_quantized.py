"""Torch quantizers against the paper's definitions (Eq. 3, Eq. 5) and the NumPy reference srchain.quantize."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.quantized import Grid, on_grid, qd, qs, rademacher  # noqa: E402

from srchain import SrchainError  # noqa: E402
from srchain.quantize import qd as np_qd  # noqa: E402


def test_binary_qd_is_delta_sign_with_sign0_plus():
    g = Grid(0.5, 1)
    w = torch.tensor([-2.0, -1e-8, 0.0, -0.0, 1e-8, 3.0])
    assert qd(w, g).tolist() == [-0.5, -0.5, 0.5, 0.5, 0.5, 0.5]


def test_multibit_qd_matches_numpy_eq3_including_ties():
    g = Grid(0.5, 4)  # ΔZ clipped to ±7Δ
    w = torch.tensor([0.25, 0.75, -0.25, -0.75, 1.3, -1.26, 0.0, 10.0, -10.0], dtype=torch.float64)
    ref = np.clip(np_qd(w.numpy(), 0.5), g.lo, g.hi)
    assert qd(w, g).tolist() == ref.tolist()  # ties go away from zero, as Eq. 3


def test_qs_stays_on_grid_and_keeps_grid_points():
    gen = torch.Generator().manual_seed(0)
    for g in (Grid(1.0, 1), Grid(0.25, 3)):
        w = torch.randn(10_000, generator=gen) * 2
        assert on_grid(qs(w, g, gen), g)
        pts = qs(w, g, gen)
        assert torch.equal(qs(pts, g, gen), pts)  # grid points never move (p < 0 is impossible)


@pytest.mark.parametrize("bits,delta,w0", [(1, 1.0, 0.3), (1, 0.5, -0.4), (3, 0.25, 0.61)])
def test_qs_is_unbiased(bits, delta, w0):
    # E[Qs(w)] = w (Eq. 5). Each draw takes one of two neighbouring grid values a < b (b - a = s, s = 2Δ binary,
    # Δ otherwise), so its std is at most s/2; the mean of N = 200_000 draws has std <= s/(2 sqrt N) = s·0.0011.
    # A tolerance of 5 such stds makes a false failure (p < 1e-6) practically impossible, while a rounding bias
    # of one percent of s would exceed it.
    n = 200_000
    g = Grid(delta, bits)
    s = 2 * delta if bits == 1 else delta
    w = torch.full((n,), w0, dtype=torch.float64)
    out = qs(w, g, torch.Generator().manual_seed(1))
    tol = 5 * s / (2 * math.sqrt(n))
    assert abs(out.mean().item() - w0) < tol
    assert set(torch.unique(out).tolist()) <= {
        math.floor(w0 / s) * s if bits > 1 else -delta,
        (math.floor(w0 / s) + 1) * s if bits > 1 else delta,
    }


def test_qs_probability_formula_with_given_draws():
    g = Grid(1.0, 1)  # binary: up to +Δ iff p < (w + Δ)/(2Δ)
    w = torch.tensor([0.0, 0.0, 0.5, 0.5, -1.0, 1.0])
    p = torch.tensor([0.49, 0.51, 0.74, 0.76, 0.0, 0.999])
    assert qs(w, g, p=p).tolist() == [1.0, -1.0, 1.0, -1.0, -1.0, 1.0]


def test_rademacher_is_pm_delta_and_balanced():
    # the number of +Δ among n fair signs is Binomial(n, 1/2): std sqrt(n)/2; allow 5 std.
    n = 100_000
    t = rademacher((n,), Grid(0.7), torch.Generator().manual_seed(3))
    assert torch.equal(t.abs(), torch.full((n,), 0.7))
    plus = (t > 0).sum().item()
    assert abs(plus - n / 2) < 5 * math.sqrt(n) / 2


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan")])
def test_bad_delta_is_a_user_error(delta):
    with pytest.raises(SrchainError, match="delta"):
        Grid(delta)


def test_float64_grid_values_are_exact():
    g = Grid(0.1, 1)
    w = torch.tensor([-0.3, 0.0, 0.05], dtype=torch.float64)
    assert qd(w, g).tolist() == [-0.1, 0.1, 0.1]
    assert set(qs(w, g, torch.Generator().manual_seed(0)).tolist()) <= {-0.1, 0.1}
