"""Flip percentages (Figures 4-5) and |w_b - w_r| (Figure 7) on hand-made cases."""

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.metrics import FlipTracker, flip_percentage, mean_abs_difference, signs  # noqa: E402


def test_flip_percentage_exact_on_hand_made_signs():
    a = signs(torch.tensor([1.0, -1.0, 0.0, 2.0, -3.0, 0.5, 0.5, -0.5]))  # 0 counts as +
    b = signs(torch.tensor([1.0, 1.0, -0.1, 2.0, -3.0, -0.5, 0.5, -0.5]))
    assert flip_percentage(a, b) == 100.0 * 3 / 8


def test_tracker_since_init_and_last_k_window():
    w = torch.tensor([1.0, 1.0, 1.0, 1.0])
    tr = FlipTracker([("conv_1", w)], k=2)
    w[0] = -1  # epoch 1: one flip
    l1, t1 = tr.update()
    assert l1["conv_1"]["flipped_since_init"] == 25.0 and l1["conv_1"]["flipped_last_k"] == 25.0
    w[1] = -1  # epoch 2
    l2, _ = tr.update()
    assert l2["conv_1"]["flipped_since_init"] == 50.0 and l2["conv_1"]["flipped_last_k"] == 50.0
    w[0] = 1  # epoch 3: compare with epoch 1's signs [-, +, +, +]
    l3, t3 = tr.update()
    assert l3["conv_1"]["flipped_since_init"] == 25.0
    assert l3["conv_1"]["flipped_last_k"] == 50.0  # positions 0 and 1 differ from epoch 1
    assert t3 == {"flipped_since_init": 25.0, "flipped_last_k": 50.0}
    assert l3["conv_1"]["mean_abs_wb_minus_wr"] is None


def test_mean_abs_wb_minus_wr():
    wr = torch.tensor([0.25, -0.5, 1.0, 0.0])
    wb = torch.tensor([1.0, -1.0, 1.0, 1.0])
    assert mean_abs_difference(wb, wr) == (0.75 + 0.5 + 0.0 + 1.0) / 4
    tr = FlipTracker([("conv_1", wb)], k=5)
    layers, _ = tr.update({"conv_1": wr})
    assert layers["conv_1"]["mean_abs_wb_minus_wr"] == pytest.approx(0.5625)
