"""Edges of the torch quantizers and the optimizer's checkpoint path: outputs of another dtype, uniform draws of
exactly 0 on grid values (Eq. 5 with p < q keeps them), the Rademacher init's two signs, and moment buffers
restored in their parameter's memory format."""

import math

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.optim import QuantizedOptimizer  # noqa: E402
from srchain.cnn.quantized import Grid, qd, qs, rademacher  # noqa: E402


@pytest.mark.parametrize("grid", [Grid(1.0), Grid(0.5, bits=3)])
def test_quantizers_write_into_an_output_of_another_dtype(grid):
    w = torch.tensor([0.3, -0.2, 0.8, -1.7], dtype=torch.float64)
    out = torch.empty(4, dtype=torch.float32)
    want = qd(w, grid)
    assert torch.equal(qd(w, grid, out=out), want.float())
    p = torch.tensor([0.0, 0.99, 0.5, 0.1], dtype=torch.float64)
    assert torch.equal(qs(w, grid, p=p, out=torch.empty(4, dtype=torch.float32)), qs(w, grid, p=p).float())


@pytest.mark.parametrize("grid", [Grid(1.0, bits=2), Grid(0.25, bits=4)])
def test_sr_keeps_grid_values_fixed_even_for_a_draw_of_zero(grid):
    # Eq. 5 rounds up iff p < q; on the grid q = 0, so p = 0 must not move the weight (p ≤ q would push it up)
    w = grid.delta * torch.arange(-grid.kmax, grid.kmax + 1, dtype=torch.float64)
    assert torch.equal(qs(w, grid, p=torch.zeros_like(w)), w)
    # and q > 0 with p = 0 always rounds up: one quarter of a step above each level but the top
    w2 = w[:-1] + grid.delta / 4
    assert torch.equal(qs(w2, grid, p=torch.zeros_like(w2)), w[1:])


def test_rademacher_draws_both_signs_equally_often():
    # n independent ±Δ with probability ½: the count of −Δ is Binomial(n, ½); 5 standard deviations (√n/2 = 50)
    n = 10_000
    drawn = rademacher((n,), Grid(0.5), torch.Generator().manual_seed(1))
    in_place = rademacher(torch.zeros(n), Grid(0.5), torch.Generator().manual_seed(2))
    for x in (drawn, in_place):
        assert set(x.unique().tolist()) == {-0.5, 0.5}
        neg = int((x < 0).sum())
        assert abs(neg - n / 2) < 5 * math.sqrt(n) / 2, neg


def test_moment_buffers_are_restored_in_the_parameters_memory_format():
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    opt = QuantizedOptimizer(torch.optim.Adam(conv.parameters(), lr=0.01), [conv.weight], rule="sr", grid=Grid(1.0))
    conv(torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)).sum().backward()
    opt.step()
    state = opt.state_dict()
    # a checkpoint written from an NCHW run: the moments arrive contiguous
    for st in state["optimizer"]["state"].values():
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() == 4:
                st[k] = v.contiguous()
    opt.load_state_dict(state)
    moments = [v for st in opt.state.values() for v in st.values() if torch.is_tensor(v) and v.dim() == 4]
    assert moments and all(v.stride() == conv.weight.stride() for v in moments)
    assert conv.weight.stride() != conv.weight.contiguous().stride()  # the case is not trivial


def test_bc_latent_of_several_channels_last_layers_survives_a_checkpoint():
    convs = [torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 2, 3)]
    for c in convs:
        c.to(memory_format=torch.channels_last)
    params = [p for c in convs for p in c.parameters()]

    def make(gen):
        return QuantizedOptimizer(
            torch.optim.SGD(params, lr=0.1), [c.weight for c in convs], rule="bc", grid=Grid(1.0), generator=gen
        )

    opt = make(torch.Generator().manual_seed(0))
    with torch.no_grad():
        opt.latent.uniform_(-1, 1, generator=torch.Generator().manual_seed(3))
    want = [v.clone() for v in opt.latent_views()]
    state = opt.state_dict()
    state["generator"] = None  # a checkpoint without a generator state leaves the generator as it is
    other = make(torch.Generator().manual_seed(1))
    other.load_state_dict(state)
    for a, b in zip(other.latent_views(), want, strict=True):
        assert torch.equal(a, b)
