"""What the R / SR / BC rules of the optimizer wrapper do, step by step, against values computed by hand (Section 3).

The model is a single weight vector ``w`` with loss ``Σ_i g_i w_i``, so the gradient is the constant ``g`` wherever
it is taken, and plain SGD's step is exactly ``lr · g``. Each rule's effect is then known in closed form:

* BC (Eq. 7): the latent ``w_r`` takes every small step (``w_r ← w_r − lr·g``), the weights the model sees stay at
  ``Qd(w_r)`` and flip sign on the step where ``w_r`` crosses 0;
* R (Eq. 4): ``Qd(w − lr·g)`` with ``lr·g < Δ/2`` maps a grid value to itself, forever;
* SR (Eq. 5): ``Qs(w − lr·g)`` moves to the next grid value down with probability ``lr·g/Δ`` (the quantize is
  applied *after* the step), so ``E[w]`` follows the real-valued step.

And the metrics of Section 6 on hand-made weights.
"""

import math

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.metrics import FlipTracker, flip_percentage, mean_abs_difference, signs  # noqa: E402
from srchain.cnn.optim import QuantizedOptimizer  # noqa: E402
from srchain.cnn.quantized import Grid  # noqa: E402


def _one_weight(values, rule, lr, grid, g, seed=0, **kw):
    w = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    opt = QuantizedOptimizer(
        torch.optim.SGD([w], lr=lr), [w], rule=rule, grid=grid, generator=torch.Generator().manual_seed(seed), **kw
    )
    grad = torch.as_tensor(g, dtype=torch.float64).expand_as(w)

    def step():
        opt.zero_grad()
        (w * grad).sum().backward()
        opt.step()

    return w, opt, step


def test_bc_latent_accumulates_small_steps_and_flips_the_sign_when_it_crosses_zero():
    # w_r = 0.3, lr·g = 0.05 (a tenth of Δ/2): w_r after k steps is 0.3 − 0.05k; w_b = Δ·sign(w_r) (binary Qd)
    w, opt, step = _one_weight([0.3, -0.3], "bc", lr=0.05, grid=Grid(1.0), g=[1.0, -1.0], init="keep")
    assert w.tolist() == [1.0, -1.0]  # w_b = Qd(w_r) from the start
    for k in range(1, 10):
        step()
        wr = opt.latent_views()[0]
        assert wr.tolist() == pytest.approx([0.3 - 0.05 * k, -0.3 + 0.05 * k], abs=1e-12)
        # sign(0) = +1: the first coordinate flips on the step after w_r reaches 0 (k = 7: w_r = −0.05)
        want = 1.0 if 0.3 - 0.05 * k > -1e-9 else -1.0
        assert w.tolist() == [want, -want], k
    assert w.tolist() == [-1.0, 1.0]


def test_bc_gradient_is_taken_at_the_binary_weights_and_the_latent_is_clipped():
    # loss = ½‖w‖²: its gradient is w itself, i.e. w_b = ±Δ for BC (not w_r); with lr = 0.1 each step moves w_r
    # by 0.1·Δ toward 0 from either side, whatever |w_r| is.
    w = torch.nn.Parameter(torch.tensor([0.45, 3.0], dtype=torch.float64))
    opt = QuantizedOptimizer(torch.optim.SGD([w], lr=0.1), [w], rule="bc", grid=Grid(1.0), init="keep")
    assert opt.latent_views()[0].tolist() == [0.45, 1.0]  # clipped to the grid's range [−Δ, Δ] at the start
    for k in range(1, 4):
        opt.zero_grad()
        (0.5 * (w * w).sum()).backward()
        opt.step()
        assert opt.latent_views()[0].tolist() == pytest.approx([0.45 - 0.1 * k, 1.0 - 0.1 * k], abs=1e-12)
    # a large step is clipped to the range: w_r = 0.15 − 5·1 → −1
    opt.optimizer.param_groups[0]["lr"] = 5.0
    opt.zero_grad()
    (0.5 * (w * w).sum()).backward()
    opt.step()
    assert opt.latent_views()[0].tolist() == pytest.approx([-1.0, -1.0], abs=1e-12)
    assert w.tolist() == [-1.0, -1.0]


def test_bc_without_clipping_keeps_the_whole_latent_step():
    w, opt, step = _one_weight([0.5], "bc", lr=2.0, grid=Grid(1.0), g=[1.0], init="keep", clip_latent=False)
    step()
    assert opt.latent_views()[0].tolist() == pytest.approx([-1.5])
    assert w.tolist() == [-1.0]


def test_r_quantizes_after_the_step_and_small_steps_never_move_it():
    # 2-bit grid {−Δ, 0, Δ}: Qd(Δ − 0.3Δ) = Δ for ever; a step of 0.6Δ lands on Qd(0.4Δ) = 0
    w, opt, step = _one_weight([1.0, -1.0, 0.0], "r", lr=0.3, grid=Grid(1.0, bits=2), g=[1.0, -1.0, 1.0], init="keep")
    for _ in range(20):
        step()
    assert w.tolist() == [1.0, -1.0, 0.0]
    opt.optimizer.param_groups[0]["lr"] = 0.6
    step()
    assert w.tolist() == [0.0, 0.0, -1.0]  # Qd(0.4) = 0, Qd(−0.4) = 0, Qd(−0.6) = −1


def test_sr_quantizes_after_the_step_with_the_probability_of_eq5():
    # n weights at Δ = 1 on a 2-bit grid, one step of lr·g = 0.2: each goes to 0 with probability 0.2 (Eq. 5
    # applied to w − 0.2), independently. The count of moves is Binomial(n, 0.2); 5 standard deviations
    # (√(n·0.2·0.8) = 40 for n = 10⁴) bound the miss of a correct implementation by 6e-7.
    n, p = 10_000, 0.2
    w, opt, step = _one_weight([1.0] * n, "sr", lr=p, grid=Grid(1.0, bits=2), g=[1.0], seed=3, init="keep")
    step()
    vals = w.detach()
    assert set(vals.unique().tolist()) <= {0.0, 1.0}
    moved = int((vals == 0.0).sum())
    sd = math.sqrt(n * p * (1 - p))
    assert abs(moved - n * p) < 5 * sd, (moved, n * p, sd)
    # the real-valued step is followed in mean: E[w] = 1 − 0.2 (a rule that quantized before the step, or Qd,
    # would leave every weight at 1)
    assert float(vals.mean()) == pytest.approx(1 - p, abs=5 * sd / n)


def test_sr_binary_grid_moves_with_probability_half_the_step():
    # binary grid −Δ + 2ΔZ ∩ [−Δ, Δ]: from +Δ, one step of 0.5 goes to −Δ with probability 0.5/2 = 0.25 (Eq. 5)
    n, p = 10_000, 0.25
    w, _, step = _one_weight([1.0] * n, "sr", lr=0.5, grid=Grid(1.0), g=[1.0], seed=5, init="keep")
    step()
    flipped = int((w.detach() == -1.0).sum())
    sd = math.sqrt(n * p * (1 - p))
    assert abs(flipped - n * p) < 5 * sd, (flipped, n * p, sd)


def test_fp_rule_is_the_plain_optimizer_step():
    w, _, step = _one_weight([0.3, -0.7], "fp", lr=0.05, grid=Grid(1.0), g=[1.0, 2.0])
    step()
    assert w.tolist() == pytest.approx([0.25, -0.8], abs=1e-15)


# --- metrics ---------------------------------------------------------------------------------------------------


def test_signs_count_zero_as_positive_and_flip_percentage_by_hand():
    a = signs(torch.tensor([0.0, -0.0, 1.0, -2.0]))
    assert a.tolist() == [True, True, True, False]
    b = signs(torch.tensor([-1.0, 1.0, 1.0, 3.0]))
    assert flip_percentage(a, b) == 50.0  # entries 0 and 3 differ
    assert flip_percentage(a, a) == 0.0


def test_mean_abs_wb_minus_wr_by_hand():
    wb = torch.tensor([1.0, -1.0, 1.0, -1.0])
    wr = torch.tensor([0.5, -0.25, 2.0, 1.0])
    # |0.5| + |−0.75| + |−1| + |−2| = 4.25, over d = 4
    assert mean_abs_difference(wb, wr) == 4.25 / 4


def test_flip_totals_count_conv_layers_only_and_weight_them_by_size():
    conv1 = torch.ones(10)
    conv2 = torch.ones(30)
    fc = torch.ones(100)
    tr = FlipTracker([("conv_1", conv1), ("conv_2", conv2), ("fc_1", fc)], k=2)
    conv1[:5] = -1  # 5 of 10
    conv2[:3] = -1  # 3 of 30
    fc[:] = -1  # every linear weight flips: not in the totals
    layers, totals = tr.update(latent={"conv_1": torch.full((10,), 0.5)})
    assert layers["conv_1"]["flipped_since_init"] == 50.0
    assert layers["conv_2"]["flipped_since_init"] == 10.0
    assert layers["fc_1"]["flipped_since_init"] == 100.0
    assert totals["flipped_since_init"] == 100.0 * 8 / 40
    assert totals["flipped_last_k"] == 100.0 * 8 / 40  # fewer than k epochs: against the start
    # |w_b − w_r| only where a latent is given: conv_1 is 5 × |1 − 0.5| + 5 × |−1 − 0.5|, over 10
    assert layers["conv_1"]["mean_abs_wb_minus_wr"] == (5 * 0.5 + 5 * 1.5) / 10
    assert layers["conv_2"]["mean_abs_wb_minus_wr"] is None


def test_flipped_last_k_compares_with_exactly_k_epochs_earlier():
    w = torch.ones(4)
    tr = FlipTracker([("conv_1", w)], k=2)
    w[0] = -1
    tr.update()  # epoch 1: signs (−, +, +, +)
    w[1] = -1
    tr.update()  # epoch 2: (−, −, +, +); history holds epochs 1, 2
    w[2] = -1
    layers, totals = tr.update()  # epoch 3 against epoch 1: entries 1 and 2 differ
    assert layers["conv_1"]["flipped_last_k"] == 50.0
    assert layers["conv_1"]["flipped_since_init"] == 75.0
    w[0] = 1
    layers, _ = tr.update()  # epoch 4 (+, −, −, +) against epoch 2 (−, −, +, +): entries 0 and 2
    assert layers["conv_1"]["flipped_last_k"] == 50.0
    assert layers["conv_1"]["flipped_since_init"] == 50.0


def test_flip_percentage_of_empty_layers_is_zero_and_shapes_must_agree():
    e = signs(torch.zeros(0))
    assert flip_percentage(e, e) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        flip_percentage(signs(torch.zeros(3)), signs(torch.zeros(4)))


def test_one_weight_and_empty_layers():
    # a layer of one weight that flips is 100% flipped; an empty layer is 0% (and does not divide by zero)
    w, e = torch.ones(1), torch.zeros(0)
    tr = FlipTracker([("conv_1", w), ("conv_2", e)], k=1)
    w[0] = -1
    layers, totals = tr.update()
    assert layers["conv_1"]["flipped_since_init"] == 100.0
    assert layers["conv_1"]["flipped_last_k"] == 100.0
    assert layers["conv_2"]["flipped_since_init"] == 0.0
    assert totals["flipped_since_init"] == 100.0
