"""The R / SR / BC optimizer wrapper (Section 3): what each rule does to conv and linear weights."""

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.models import build_model, conv_weights  # noqa: E402
from srchain.cnn.optim import QuantizedOptimizer  # noqa: E402
from srchain.cnn.quantized import Grid, on_grid  # noqa: E402


def _setup(rule, lr=0.01, seed=0):
    torch.manual_seed(seed)
    model = build_model("vgg9", width=0.125, image_size=16)
    base = torch.optim.Adam(model.parameters(), lr=lr)
    opt = QuantizedOptimizer(
        base, conv_weights(model), rule=rule, grid=Grid(1.0), generator=torch.Generator().manual_seed(seed)
    )
    gen = torch.Generator().manual_seed(seed + 1)
    batches = [
        (torch.randn(32, 3, 16, 16, generator=gen), torch.randint(0, 10, (32,), generator=gen)) for _ in range(4)
    ]
    return model, opt, batches


def _step(model, opt, x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_r_with_small_lr_leaves_every_conv_weight_unchanged():
    model, opt, batches = _setup("r", lr=1e-4)
    before = [w.detach().clone() for w in conv_weights(model)]
    lin_before = model.classifier[0].weight.detach().clone()
    for x, y in batches:
        _step(model, opt, x, y)
    for b, w in zip(before, conv_weights(model), strict=True):
        assert torch.equal(b, w)
    assert not torch.equal(lin_before, model.classifier[0].weight)  # the step itself did happen


def test_sr_conv_weights_stay_on_grid_after_every_step_and_do_move():
    model, opt, batches = _setup("sr", lr=0.05)
    start = torch.cat([w.detach().flatten() for w in conv_weights(model)])
    assert on_grid(start, Grid(1.0))
    for x, y in batches:
        _step(model, opt, x, y)
        for w in conv_weights(model):
            assert on_grid(w.detach(), Grid(1.0))
    now = torch.cat([w.detach().flatten() for w in conv_weights(model)])
    assert (now != start).any()


def test_bc_latent_moves_while_forward_sees_only_grid_values():
    model, opt, batches = _setup("bc", lr=0.01)
    seen = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp: seen.append(mod.weight.detach().clone()))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    latent0 = opt.latent.clone()
    for x, y in batches:
        _step(model, opt, x, y)
    for h in hooks:
        h.remove()
    assert len(seen) == 7 * len(batches)
    assert all(on_grid(w, Grid(1.0)) for w in seen)
    assert not torch.equal(opt.latent, latent0)
    assert opt.latent.abs().max() <= 1.0  # clipped to [-Δ, Δ]
    # w_b = Qd(w_r): the parameters are the signs of the latent weights
    for w, wr in zip(conv_weights(model), opt.latent_views(), strict=True):
        assert torch.equal(w.detach(), torch.where(wr >= 0, 1.0, -1.0))


@pytest.mark.parametrize("rule", ["r", "sr", "bc"])
def test_linear_layers_are_never_quantized(rule):
    model, opt, batches = _setup(rule, lr=0.01)
    for x, y in batches:
        _step(model, opt, x, y)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            assert not on_grid(m.weight.detach(), Grid(1.0))
            assert m.weight.detach().abs().max() < 0.9


def test_conv_weights_share_one_flat_buffer():
    # the quantize-after-step is one pass over this buffer, not a loop over tensors
    model, opt, _ = _setup("sr")
    ptrs = {w.untyped_storage().data_ptr() for w in conv_weights(model)}
    assert ptrs == {opt.flat.untyped_storage().data_ptr()}
    assert opt.flat.numel() == sum(w.numel() for w in conv_weights(model))


def test_bc_per_filter_scale_is_mean_abs_latent():
    torch.manual_seed(0)
    model = build_model("vgg9", width=0.125, image_size=16)
    opt = QuantizedOptimizer(
        torch.optim.Adam(model.parameters(), lr=0.01), conv_weights(model), rule="bc", grid=Grid(1.0), scale="filter"
    )
    for w, wr in zip(conv_weights(model), opt.latent_views(), strict=True):
        alpha = wr.abs().flatten(1).mean(1).view(-1, 1, 1, 1)
        assert torch.allclose(w.detach(), torch.where(wr >= 0, alpha, -alpha))
