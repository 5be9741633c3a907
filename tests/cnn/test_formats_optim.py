"""Conv weights kept in a number format (bf16, fp16, fp8, fp4) and updated with R or SR (issue 18).

Statistical tests use fixed seeds and tolerances derived from the sample size (see each comment): with N
independent draws a frequency has standard deviation sqrt(p(1 − p)/N); 5 standard deviations are exceeded with
probability < 6e-7 per check, so the tests fail only when the code is wrong.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")

from srchain.cnn.formats import Format, format_values, get_format  # noqa: E402
from srchain.cnn.metrics import FlipTracker  # noqa: E402
from srchain.cnn.optim import QuantizedOptimizer  # noqa: E402
from srchain.cnn.registry import parse_method  # noqa: E402
from srchain.cnn.train import TrainConfig, build_run, train  # noqa: E402

from srchain import SrchainError  # noqa: E402

TORCH_FORMATS = ["bf16", "fp16", "fp8", "fp8e5m2"]
ALL_FORMATS = TORCH_FORMATS + ["fp4"]
ML = {"bf16": "bfloat16", "fp16": "float16", "fp8": "float8_e4m3fn", "fp8e5m2": "float8_e5m2", "fp4": "float4_e2m1fn"}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _ml_cast(x: np.ndarray, name: str) -> np.ndarray:
    dt = np.float16 if name == "fp16" else getattr(ml_dtypes, ML[name])
    return x.astype(dt).astype(np.float64)


def _boundary_points(name: str) -> np.ndarray:
    """Every value, every midpoint of two neighbours (the ties) and the float32 numbers just either side of each
    midpoint, inside [−M, M]."""
    v = format_values(name)[0].astype(np.float32)
    mid = ((v[:-1].astype(np.float64) + v[1:]) / 2).astype(np.float32)
    assert np.array_equal(mid.astype(np.float64), (v[:-1].astype(np.float64) + v[1:]) / 2)  # the ties are exact
    pts = np.concatenate(
        [v, mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))]
    ).astype(np.float32)
    return pts[np.abs(pts) <= v[-1]]


# -- the grids ---------------------------------------------------------------------------------------------------
def test_fp4_values_are_the_e2m1_grid():
    vals, _ = format_values("fp4")
    assert sorted(set(vals.tolist())) == sorted({0.0} | {s * m for s in (1, -1) for m in (0.5, 1, 1.5, 2, 3, 4, 6)})


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_values_are_sorted_finite_and_round_trip_through_ml_dtypes(name):
    vals, even = format_values(name)
    assert np.all(np.diff(vals) > 0) and np.all(np.isfinite(vals)) and (vals == 0).sum() == 1
    assert np.array_equal(_ml_cast(vals, name), vals)
    assert get_format(name).max == vals[-1] == -vals[0]
    assert even[np.searchsorted(vals, 0.0)]  # +0 has an even last bit


# -- Qd ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_FORMATS)
def test_qd_equals_the_cast_on_every_boundary_ties_to_even(name):
    f = get_format(name)
    pts = _boundary_points(name)
    got = f.qd(torch.from_numpy(pts)).numpy().astype(np.float64)
    assert np.array_equal(got, _ml_cast(pts.astype(np.float64), name))
    if f.torch_dtype is not None:
        x = torch.from_numpy(pts)
        assert torch.equal(f.qd(x), x.to(f.torch_dtype).float())


def test_qd_saturates_and_fp4_scale_is_a_power_of_two():
    for name in ALL_FORMATS:
        f = get_format(name)
        got = f.qd(torch.tensor([3.0 * f.max, -2.0 * f.max, float(f.max)]))
        assert got.tolist() == [f.max, -f.max, f.max]
    f = get_format("fp4")
    amax = torch.tensor([6.0, 7.0, 0.75, 12.0, 0.0, 1e-3])
    s = f.block_scale(amax)
    assert s.tolist() == [1.0, 2.0, 0.125, 2.0, 1.0, 2.0**-12]  # 2^ceil(log2(amax/6)); 1 for an all-zero tensor
    assert bool(((amax / s) <= 6).all())


# -- neighbours and Qs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_FORMATS)
def test_neighbours_are_the_adjacent_grid_values(name):
    f = get_format(name)
    vals = format_values(name)[0]
    g = torch.Generator().manual_seed(3)
    x = torch.cat([torch.from_numpy(_boundary_points(name)), (torch.rand(20000, generator=g) * 2 - 1) * f.max])
    x = torch.cat([x, x * 1e-3, x * 1e-6])  # down into the subnormals
    t, a = f.toward_away(x)
    xt, tt, at = x.double().numpy(), t.double().numpy(), a.double().numpy()
    assert np.all(np.isin(tt, vals)) and np.all(np.isin(at, vals))
    assert np.all(np.abs(tt) <= np.abs(xt)) and np.all(np.abs(xt) <= np.abs(at))
    exact = np.isin(xt, vals)
    assert np.array_equal(tt[exact], xt[exact]) and np.array_equal(at[exact], xt[exact])
    # otherwise t and a are neighbours in the sorted list of values
    it, ia = np.searchsorted(vals, tt[~exact]), np.searchsorted(vals, at[~exact])
    assert np.all(np.abs(it - ia) == 1)


def _qs_points(name):
    """Inputs with varied rounding probabilities: inside a binade, next to a power of two, subnormal, negative."""
    vals = format_values(name)[0]
    pos = vals[vals > 0]
    picks = [pos[0], pos[len(pos) // 3], pos[len(pos) // 2], pos[-3]]
    xs = []
    for v in picks:
        nxt = vals[np.searchsorted(vals, v) + 1]
        for q in (0.1, 0.37, 0.5, 0.83):
            xs += [v + q * (nxt - v), -(v + q * (nxt - v))]
    return torch.tensor(xs, dtype=torch.float32)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_qs_is_unbiased_with_binomial_variance(name):
    f = get_format(name)
    x = _qs_points(name)
    n = 20000
    g = torch.Generator().manual_seed(7)
    xs = x.repeat(n, 1)
    r = f.qs(xs, generator=g)
    t, a = f.toward_away(x)
    assert bool(((r == t) | (r == a)).all())  # only the two neighbours
    q = ((x - t).abs() / (a - t).abs()).double()
    k = (r == a).sum(0).double()
    # each column is Binomial(n, q): |k/n − q| <= 5 sqrt(q(1 − q)/n) (5 sd), and the sum over the m columns of
    # (k − nq)^2 / (nq(1 − q)) is chi-square with m degrees of freedom (mean m, sd sqrt(2m)): a spread wider than
    # the binomial one (e.g. correlated draws) pushes it past m + 5 sqrt(2m)
    sd = torch.sqrt(q * (1 - q) / n)
    assert bool(((k / n - q).abs() <= 5 * sd).all()), (k / n - q) / sd
    chi2 = float(((k - n * q) ** 2 / (n * q * (1 - q))).sum())
    m = x.numel()
    assert chi2 <= m + 5 * math.sqrt(2 * m), chi2
    # unbiased: the mean of Qs(x) − x has sd |a − t| sqrt(q(1 − q)/n)
    gap = (a - t).abs().double()
    bias = r.double().mean(0) - x.double()
    assert bool((bias.abs() <= 5 * gap * sd + 1e-12 * gap).all())


@pytest.mark.parametrize("name", ["bf16", "fp8", "fp4"])
@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_k_bit_sr_bias_equals_the_exact_one(name, bits):
    f = get_format(name)
    x = _qs_points(name)
    n = 20000
    r = f.qs(x.repeat(n, 1), generator=torch.Generator().manual_seed(11), bits=bits)
    t, a = f.toward_away(x)
    gap = (a - t).abs().double()
    q = (x - t).abs().double() / gap
    pk = torch.floor(q * 2**bits) / 2**bits  # the probability truncated to k bits
    exact = -torch.sign(x.double()) * (q - pk) * gap  # rounds toward zero more often
    assert torch.allclose(f.bias(x, bits), exact, rtol=1e-12, atol=0)
    measured = r.double().mean(0) - x.double()
    sd = gap * torch.sqrt(pk * (1 - pk) / n)  # Bernoulli(pk) steps of size gap, n draws
    assert bool(((measured - exact).abs() <= 5 * sd + 1e-9 * gap).all()), (measured - exact) / gap
    if bits <= 2:  # q = 0.1 < 2^-k: k-bit SR never rounds away, exact SR would
        assert bool((pk[(q < 2.0**-bits)] == 0).all()) and bool((exact != 0).any())


def test_k_bit_draws_with_q_on_the_k_bit_grid_are_unbiased():
    f = get_format("bf16")
    x = torch.tensor([1.0 + 0.375 * 2**-7, -(2.0 + 0.625 * 2**-6)])  # q = 3/8 and 5/8: exact in 3 bits
    assert bool((f.bias(x, 3) == 0).all()) and bool((f.bias(x, 2) != 0).all())


# -- the optimizer: R stalls below ulp/2, SR moves in expectation ------------------------------------------------
def _constant_gradient_run(rule, steps, step_size, n=20000, fmt="bf16", bits=None, grad=1.0):
    w = torch.nn.Parameter(torch.full((n,), 1.0 + 2**-6))  # a bf16 value; its ulp is 2^-7
    base = torch.optim.SGD([w], lr=step_size, momentum=0.0)
    opt = QuantizedOptimizer(base, [w], rule=rule, fmt=fmt, sr_bits=bits, generator=torch.Generator().manual_seed(5))
    w0 = w.detach().clone()
    for _ in range(steps):
        w.grad = torch.full_like(w, grad)
        opt.step()
    return w0, w.detach().clone()


def test_r_bf16_stalls_below_half_an_ulp_and_sr_moves_in_expectation():
    ulp, steps = 2.0**-7, 50
    step_size = 0.3 * ulp  # < ulp/2: R rounds every step back to where it was
    w0, wr = _constant_gradient_run("r", steps, step_size)
    assert torch.equal(w0, wr)
    w0, ws = _constant_gradient_run("sr", steps, step_size)
    # SR: E[w_t] = w_0 − t·step exactly (each Qs is unbiased and the gradient is constant). Each of the n weights
    # moves by a sum of `steps` independent rounding errors, each of variance <= gap^2/4, so the mean over n
    # weights has sd <= ulp·sqrt(steps/(4n)) (the gap is ulp or ulp/2 below 1); 5 sd
    n = w0.numel()
    drift = float((ws - w0).double().mean())
    assert abs(drift + steps * step_size) <= 5 * ulp * math.sqrt(steps / (4 * n)), (drift, -steps * step_size)
    assert bool(torch.equal(ws.bfloat16().float(), ws))  # the weights stay bf16 values
    # 1-bit SR rounds away from zero with probability floor(2q)/2: moving away from zero (q = 0.3) it stalls like
    # R; moving toward zero (q = 0.7 toward the larger magnitude, floored to 1/2) it still moves, faster than SGD
    w0, w1 = _constant_gradient_run("sr", steps, step_size, bits=1, grad=-1.0)
    assert torch.equal(w0, w1)
    w0, w1 = _constant_gradient_run("sr", steps, step_size, bits=1)
    assert float((w1 - w0).mean()) < -steps * step_size


def test_bc_bf16_keeps_fp32_master_weights_and_a_bf16_copy():
    w0, _ = _constant_gradient_run("r", 1, 0.0)
    w = torch.nn.Parameter(w0.clone())
    opt = QuantizedOptimizer(torch.optim.SGD([w], lr=0.3 * 2**-7), [w], rule="bc", fmt="bf16")
    for _ in range(10):
        w.grad = torch.ones_like(w)
        opt.step()
    lat = opt.latent_views()[0]
    assert torch.allclose(lat, w0 - 10 * 0.3 * 2**-7)  # the master weights moved by every step
    assert torch.equal(w.detach(), lat.bfloat16().float())  # the network sees their bf16 rounding


# -- methods, flips, the CLI -------------------------------------------------------------------------------------
def test_method_names():
    m = parse_method("sr8-bf16-adam")
    assert (m.rule, m.fmt, m.sr_bits, m.base, m.big) == ("sr", "bf16", 8, "adam", False)
    m = parse_method("big-bc-fp8-sgd")
    assert (m.rule, m.fmt, m.sr_bits, m.base, m.big) == ("bc", "fp8-e4m3", None, "sgd", True)  # the canonical name
    assert parse_method("sr-adam").fmt is None
    for bad in ("sr0-bf16-adam", "sr33-bf16-adam", "sr-bf17-adam", "fp-bf16-adam", "sr08-bf16-adam", "r8-fp8-adam"):
        with pytest.raises(SrchainError):
            parse_method(bad)


@pytest.mark.parametrize("argv", [["--method", "sr33-bf16-adam"], ["--method", "sr-fp5-adam"]])
def test_cli_rejects_bad_format_methods_in_one_line(argv, capsys):
    from srchain.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", *argv, "--epochs", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bf16-adam" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_scale_filter_is_refused_on_a_format():
    with pytest.raises(SrchainError, match="not bc-bf16-adam"):
        TrainConfig(method="bc-bf16-adam", scale="filter").resolved()


def test_value_flips_count_changed_values():
    w = torch.tensor([1.0, 2.0, -3.0, 0.0])
    tr = FlipTracker([("conv_1", w)], k=1, values=True)
    w.copy_(torch.tensor([1.0, 2.5, -3.0, -0.0]))  # one value changed; -0 is +0
    layers, totals = tr.update()
    assert layers["conv_1"]["flipped_since_init"] == 25.0 and totals["flipped_last_k"] == 25.0
    tr_sign = FlipTracker([("conv_1", w)], k=1)
    w.copy_(torch.tensor([1.0, 2.0, -3.0, 0.0]))
    assert tr_sign.update()[0]["conv_1"]["flipped_since_init"] == 0.0  # no sign changed


def test_train_cli_sr_bf16_on_cpu(tmp_path):
    from srchain.cli import main

    out = tmp_path / "run"
    argv = ["train", "--model", "vgg9", "--method", "sr-bf16-adam", "--dataset", "digits", "--epochs", "1"]
    assert main([*argv, "--width", "0.25", "--device", "cpu", "--quiet", "--out", str(out)]) in (0, None)
    rec = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(rec) == 1 and rec[0]["method"] == "sr-bf16-adam"
    assert rec[0]["train_error"] < 70  # it learns in one epoch (chance is 90%; fp32 adam: 48%)
    assert 0 < rec[0]["conv_flipped_since_init"] <= 100
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    convs = [v for k, v in ck["model"].items() if k.endswith("weight") and v.dim() == 4]
    assert convs and all(torch.equal(v, v.bfloat16().float()) for v in convs)


@pytest.mark.parametrize("method", ["bc-bf16-adam", "sr-fp4-adam", "sr8-fp8-adam", "r-fp16-adam"])
def test_format_methods_train_resume_and_report_metrics(method, small_cfg, tmp_path):
    full = train(small_cfg(method=method, epochs=2, threads=1, out=str(tmp_path / "a")))
    train(small_cfg(method=method, epochs=2, stop_after=1, threads=1, out=str(tmp_path / "b")))
    resumed = train(small_cfg(method=method, epochs=2, resume=True, threads=1, out=str(tmp_path / "b")))
    assert full["final"]["train_loss"] == resumed["final"]["train_loss"]  # resume is bit for bit
    layer = full["final"]["layers"]["conv_1"]
    assert (layer["mean_abs_wb_minus_wr"] is not None) == method.startswith("bc-")
    f = get_format(parse_method(method).fmt)
    opt = full["optimizer"]
    flat = opt.flat.detach()
    s = opt._scale_of(flat) if f.scaled else None  # fp4: each tensor's own power-of-two scale
    assert torch.equal(f.qd(flat, scale=s, tables=opt._tables), flat)  # every conv weight is a value of the format


# -- inside the captured step ------------------------------------------------------------------------------------
FORMAT_METHODS = ["sr-bf16-adam", "sr8-fp8-adam", "sr-fp4-adam", "bc-bf16-adam", "r-bf16-adam"]


def _steps(method, device="cpu", batches=((8, 5),), **kw):
    cfg = TrainConfig(model="vgg9", method=method, dataset="cifar10", width=0.0625, device=device, batch=8, **kw)
    parts = build_run(cfg.resolved(), torch.device(device), 10)
    step = parts["step"]
    step.begin_epoch(sum(n for _, n in batches))
    g = torch.Generator().manual_seed(1)
    for bs, n in batches:
        for _ in range(n):
            x = torch.randn(bs, 3, 32, 32, generator=g).to(device)
            y = torch.randint(0, 10, (bs,), generator=g).to(device)
            step(x, y)
    r = step.read()
    return {k: v.detach().cpu().clone() for k, v in parts["model"].state_dict().items()}, r.losses, parts


@pytest.mark.parametrize("method", FORMAT_METHODS)
def test_static_buffer_step_without_host_syncs_is_bit_identical_on_cpu(method):
    from srchain.cnn.profiling import StepCounter, host_step_counters

    a, la, _ = _steps(method, cuda_graph=False, batches=((8, 3), (5, 1), (8, 2)))
    b, lb, pb = _steps(method, cuda_graph=True, batches=((8, 3), (5, 1), (8, 2)))
    assert pb["step"].graph and la == lb and all(torch.equal(a[k], b[k]) for k in a)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    with StepCounter(host_step_counters(pb["opt"])) as c:
        pb["step"](x, y)
    assert c.syncs == 0, dict(c.sync_ops)


@cuda
@pytest.mark.parametrize("method", FORMAT_METHODS)
def test_cuda_graph_step_equals_eager_step(method):
    from srchain.cnn.step import deterministic_mode

    with deterministic_mode(True, "cuda"):
        a, la, pa = _steps(method, device="cuda", cuda_graph=True, batches=((8, 8),))
        b, lb, _ = _steps(method, device="cuda", cuda_graph=False, batches=((8, 8),))
    assert pa["step"].captures == 1
    assert la == lb and all(torch.equal(a[k], b[k]) for k in a)


@cuda
@pytest.mark.parametrize("name", ALL_FORMATS)
def test_rounding_on_cuda_equals_the_cpu(name):
    f = get_format(name)
    x = torch.from_numpy(_boundary_points(name))
    assert torch.equal(f.qd(x.cuda(), tables=f._tables("cuda") if f.scaled else None).cpu(), f.qd(x))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(2))
    tab = f._tables("cuda") if f.scaled else None
    assert torch.equal(f.qs(x.cuda(), u=u.cuda(), tables=tab).cpu(), f.qs(x, u=u))


def test_format_class_is_frozen_and_named():
    assert Format("bf16") == get_format("bf16")
    with pytest.raises(SrchainError, match="unknown format"):
        get_format("fp5")


# -- against torchao's bf16 stochastic rounding (run when torchao is installed) ---------------------------------
@pytest.mark.parametrize("bits", [None, 16])
def test_sr_bf16_has_the_law_of_torchaos_bf16_stochastic_rounding(bits):
    quant_utils = pytest.importorskip("torchao.optim.quant_utils")
    f = get_format("bf16")
    g = torch.Generator().manual_seed(13)
    m = 64  # inputs: random mantissas over 30 binades, both signs, and a few subnormal ones
    x = (torch.rand(m, generator=g) + 1) * 2.0 ** torch.randint(-20, 10, (m,), generator=g).float()
    x = torch.where(torch.rand(m, generator=g) < 0.5, -x, x)
    x[:4] = torch.tensor([1e-39, -3e-40, 5.5e-39, 2e-40])
    n = 20000
    xs = x.repeat(n, 1)
    torch.manual_seed(17)  # torchao draws from the global generator
    theirs = quant_utils._fp32_to_bf16_sr(xs).float()
    ours = f.qs(xs, generator=torch.Generator().manual_seed(19), bits=bits)
    t, a = f.toward_away(x)
    for r in (theirs, ours):  # the same two neighbours
        assert bool(((r == t) | (r == a)).all())
    q = ((x - t).abs() / (a - t).abs()).double()  # a multiple of 2^-16 (the 16 bits bf16 drops), exact
    k1, k2 = (theirs == a).sum(0).double(), (ours == a).sum(0).double()
    # both columns are Binomial(n, q) if the laws agree: k1 − k2 has mean 0 and variance 2nq(1 − q); 5 sd per
    # element, and the sum of the m squared z-scores is chi-square(m) (mean m, sd sqrt(2m))
    var = 2 * n * q * (1 - q)
    ok = var > 0
    z2 = (k1 - k2)[ok] ** 2 / var[ok]
    assert bool((z2 <= 25).all()) and float(z2.sum()) <= ok.sum() + 5 * math.sqrt(2 * ok.sum())
    assert torch.equal(k1[~ok], k2[~ok])  # inputs that are bf16 values stay put in both


def test_the_grid_rules_are_unchanged_for_a_seed():
    """fp, R, SR and BC on ΔZ (binary and 3-bit) after 5 SGD steps: the digest was computed with the code before number
    formats were added (commit 1db8496's parent), and is the same on every CPU path torch takes. Weights and gradients
    come from NumPy's PCG64 (torch.randn's vectorised Box-Muller differs between CPU capabilities), and the step is
    plain SGD with lr = 1/8, so -lr·g is exact and w - lr·g is one rounding whether or not the kernel fuses it (Adam's
    foreach kernels also differ by capability: the first pin, with Adam and torch.randn, failed on another CPU)."""
    import hashlib

    from srchain.cnn.quantized import Grid

    h = hashlib.sha256()
    for rule in ("fp", "r", "sr", "bc"):
        for grid in (Grid(1.0), Grid(0.5, bits=3)):
            g = torch.Generator().manual_seed(4)  # SR's uniforms: torch.rand, drawn serially from mt19937
            rng = np.random.default_rng(4)
            w = torch.nn.Parameter(torch.from_numpy(rng.standard_normal((6, 3, 3, 3)).astype(np.float32)))
            base = torch.optim.SGD([w], lr=0.125)
            opt = QuantizedOptimizer(base, [w], rule=rule, grid=grid, generator=g)
            for _ in range(5):
                w.grad = torch.from_numpy(rng.standard_normal((6, 3, 3, 3)).astype(np.float32))
                opt.step()
            h.update(w.detach().numpy().tobytes())
            if opt.latent is not None:
                h.update(opt.latent.numpy().tobytes())
    assert h.hexdigest() == "3bb25dad1ef99f65430679793106cd909891bbcc7cc541a2416124a06be278ce"


def test_exact_sr_rounds_away_iff_the_draw_is_below_q():
    """torch.rand draws multiples of 2^-24 in [0, 1), so "away iff u < q" gives P(away) = q exactly for every q on
    that grid: at a midpoint (q = 1/2) the draw 1/2 rounds toward 0 and the float below it away (u ≤ q would round
    away with probability 1/2 + 2^-24)."""
    f = get_format("bf16")
    x = torch.tensor([1.0 + 2**-8, -(4.0 + 2**-6)])  # midpoints: bf16's ulp is 2^-7 on [1, 2), 2^-5 on [4, 8)
    t, a = f.toward_away(x)
    for u, want in ((0.5, t), (float(np.nextafter(np.float32(0.5), np.float32(0))), a)):
        assert torch.equal(f.qs(x, u=torch.full_like(x, u)), want)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_the_bias_is_zero_on_the_grid(name):
    """At every value of the grid Qs has nothing to round: the bias is exactly 0 for exact and k-bit SR (the two
    neighbours coincide there, a gap of 0: no 0/0)."""
    f = get_format(name)
    v = torch.tensor(format_values(f.name)[0], dtype=torch.float32)
    for bits in (None, 1, 8):
        assert torch.equal(f.bias(v, bits), torch.zeros_like(v, dtype=torch.float64))
