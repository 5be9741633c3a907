"""The training step: no host synchronisation inside an epoch, fewer operators, same results as before."""

import json

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.data import crop_flip_gather, load_dataset, random_crop_flip  # noqa: E402
from srchain.cnn.profiling import StepCounter  # noqa: E402
from srchain.cnn.step import deterministic_mode, make_base_optimizer, resolve_amp  # noqa: E402
from srchain.cnn.train import TrainConfig, build_run, load_checkpoint, train  # noqa: E402

from srchain import SrchainError  # noqa: E402


def _parts(method, **kw):
    cfg = TrainConfig(method=method, width=0.125, image_size=16, batch=64, device="cpu", **kw).resolved()
    return cfg, build_run(cfg, torch.device("cpu"), 10)


@pytest.mark.parametrize(
    "method,kw",
    [
        ("adam", {}),
        ("sr-adam", {}),
        ("bc-adam", {}),
        ("r-adam", {}),
        ("big-sr-adam", {}),
        ("sgd", {}),
        ("bc-adam", {"scale": "filter"}),
        ("sr-adam", {"amp": "bf16"}),
        ("sr-adam", {"bits": 2, "delta": 0.5}),
        ("bc-adam", {"channels_last": True}),
    ],
)
def test_no_host_sync_inside_an_epoch(method, kw):
    """Data batch + forward + backward + optimizer + quantize + bookkeeping: 0 host syncs per step."""
    cfg, parts = _parts(method, **kw)
    data = load_dataset("digits", image_size=16)
    step = parts["step"]
    step.begin_epoch(data.n_train_steps(cfg.batch))
    it = data.batches(cfg.batch, 0, 0, channels_last=parts["channels_last"])
    x, y = next(it)
    step(x, y)  # creates the optimizer state (its CPU step counters) outside the count
    with StepCounter() as c:
        for _ in range(4):
            x, y = next(it)
            step(x, y)
    assert c.syncs == 0, dict(c.sync_ops)
    assert c.kernels > 0
    with StepCounter() as c:
        r = step.read()  # the epoch's one read
    assert c.syncs == 1 and len(r.losses) == 5 and r.bad_step is None


def test_the_counter_sees_every_kind_of_sync():
    t = torch.tensor([1.0, -2.0])
    for f in (
        lambda: t[0].item(),
        lambda: bool(t[0] > 0),
        lambda: t.tolist(),
        lambda: float(t.sum()),
        lambda: t[t > 0],
        lambda: t.nonzero(),
        lambda: t.cpu(),
        lambda: torch.equal(t, t),
    ):
        with StepCounter() as c:
            f()
        assert c.syncs == 1


def test_a_run_reads_the_device_once_per_epoch_whatever_its_length(small_cfg, tmp_path):
    """Host syncs of a whole 1-epoch run do not grow with its number of steps (23 vs 45 steps)."""
    counts = {}
    for batch in (64, 32):
        train(small_cfg(method="sr-adam", batch=batch, out=str(tmp_path / f"warm{batch}")))  # imports, caches
        with StepCounter() as c:
            train(small_cfg(method="sr-adam", batch=batch, out=str(tmp_path / f"b{batch}")))
        counts[batch] = c.syncs
    assert counts[64] == counts[32], counts


def test_sync_every_stops_a_nan_within_n_steps(small_cfg, tmp_path, monkeypatch):
    import srchain.cnn.train as tr

    real = tr.F.cross_entropy
    calls = {"n": 0}

    class FakeF:
        @staticmethod
        def cross_entropy(*a, **k):
            calls["n"] += 1
            loss = real(*a, **k)
            return loss * float("nan") if calls["n"] > 25 else loss  # epoch 1 has 23 steps of 64

    monkeypatch.setattr(tr, "F", FakeF)
    with pytest.raises(SrchainError, match=r"loss became nan at epoch 2, step 3; the last good checkpoint"):
        train(small_cfg(method="bc-adam", epochs=3, sync_every=2))
    assert calls["n"] == 27  # read after steps 2 and 4 of epoch 2: stopped after step 4
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1


def test_train_loss_is_the_sequential_sum_of_the_step_losses():
    cfg, parts = _parts("adam")
    data = load_dataset("digits", image_size=16)
    step = parts["step"]
    step.begin_epoch(3)
    for _, (x, y) in zip(range(3), data.batches(64, 0, 0), strict=False):
        step(x, y)
    vals = step.read().losses
    total = 0.0
    for v in vals:
        total += v
    assert step.loss_sum() == total and len(vals) == 3


@pytest.mark.parametrize("base,kw", [("adam", {}), ("adam", {"weight_decay": 0.1}), ("sgd", {"momentum": 0.9})])
def test_foreach_optimizer_is_bit_identical_to_the_loop_on_cpu(base, kw):
    from srchain.cnn.models import build_model

    def run(impl):
        torch.manual_seed(0)
        m = build_model("resnet56", width=0.125)
        opt = make_base_optimizer(
            m.parameters(), base, 0.01, kw.get("weight_decay", 0.0), kw.get("momentum", 0.0), "cpu", impl=impl
        )
        g = torch.Generator().manual_seed(1)
        for _ in range(3):
            x, y = torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        return [p.detach().clone() for p in m.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(run("loop"), run("auto"), strict=True))


@pytest.mark.parametrize("pad,flip", [(2, False), (2, True), (0, True), (1, True)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_one_gather_equals_crop_then_flip(pad, flip, channels_last):
    src = torch.randint(0, 256, (20, 3, 6, 6), dtype=torch.uint8)
    idx = torch.tensor([3, 0, 19, 7, 7])
    padded = torch.nn.functional.pad(src, (pad,) * 4)
    a = random_crop_flip(src[idx].float(), pad, flip, torch.Generator().manual_seed(5))
    b = crop_flip_gather(padded, idx, pad, flip, torch.Generator().manual_seed(5), channels_last).float()
    assert torch.equal(a, b)
    assert b.is_contiguous(memory_format=torch.channels_last) if channels_last else b.is_contiguous()


def test_channels_last_weights_stay_views_of_the_flat_buffer_and_checkpoints_are_layout_free():
    from srchain.cnn.models import build_model, conv_weights
    from srchain.cnn.optim import QuantizedOptimizer
    from srchain.cnn.quantized import Grid, on_grid

    def make(cl):
        torch.manual_seed(0)
        m = build_model("vgg9", width=0.125, image_size=16)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        return m, QuantizedOptimizer(
            torch.optim.Adam(m.parameters(), lr=0.01), conv_weights(m), rule="bc", grid=Grid(1.0)
        )

    m, opt = make(True)
    ws = conv_weights(m)
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in ws if w.shape[-1] > 1)
    assert all(w.untyped_storage().data_ptr() == opt.flat.untyped_storage().data_ptr() for w in ws)
    x = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3])).backward()
        opt.step()
    assert all(on_grid(w.detach(), Grid(1.0)) for w in ws)
    m2, opt2 = make(False)
    opt2.load_state_dict(opt.state_dict())  # NHWC run resumed in NCHW: the latent weights follow the layers
    for a, b in zip(opt.latent_views(), opt2.latent_views(), strict=True):
        assert torch.equal(a, b)
    m3, opt3 = make(True)
    opt3.load_state_dict(opt2.state_dict())  # and back
    for a, b in zip(opt.latent_views(), opt3.latent_views(), strict=True):
        assert torch.equal(a, b)


def test_resume_is_bit_for_bit_with_channels_last(small_cfg, tmp_path):
    full = train(small_cfg(method="sr-adam", epochs=2, channels_last=True, out=str(tmp_path / "full")))
    train(small_cfg(method="sr-adam", epochs=2, channels_last=True, out=str(tmp_path / "part"), stop_after=1))
    rest = train(small_cfg(method="sr-adam", epochs=2, channels_last=True, out=str(tmp_path / "part"), resume=True))
    a, b = full["model"].state_dict(), rest["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_amp_choices_and_the_old_meaning_of_a_bare_amp(small_cfg, tmp_path):
    assert resolve_amp(False, "cpu") == resolve_amp(None, "cuda") == resolve_amp("off", "cuda") == "off"
    assert resolve_amp(True, "cpu") == "bf16" and resolve_amp(True, "cuda") == "fp16"
    assert resolve_amp("bf16", "cuda") == "bf16" and resolve_amp("fp16", "cpu") == "fp16"
    with pytest.raises(SrchainError, match="--amp"):
        resolve_amp("fp8", "cpu")
    assert TrainConfig(amp=True, device="cpu").resolved().amp == "bf16"
    from srchain.cli import build_parser

    p = build_parser()
    assert p.parse_args(["train", "--amp"]).amp is True
    assert p.parse_args(["train", "--amp", "fp16"]).amp == "fp16"
    assert p.parse_args(["train"]).amp == "auto"  # the default: fastest on CUDA (measured), fp32 on the CPU
    assert TrainConfig(amp="auto", device="cpu").resolved().amp == "off"
    # a checkpoint written when amp was a bool resumes under the new spelling
    out = tmp_path / "r"
    train(small_cfg(method="adam", epochs=2, stop_after=1, amp=True, out=str(out)))
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["config"]["amp"] == "bf16"
    import srchain.cnn.train as tr

    assert tr._resume_value("amp", True, "cpu") == tr._resume_value("amp", "bf16", "cpu")
    assert tr._resume_value("amp", False, "cpu") == tr._resume_value("amp", "off", "cpu")
    assert train(small_cfg(method="adam", epochs=2, amp="bf16", resume=True, out=str(out)))["final"]["epoch"] == 2


def test_fp16_on_cpu_runs_with_a_grad_scaler(small_cfg):
    res = train(small_cfg(method="bc-adam", amp="fp16"))
    assert res["final"]["epoch"] == 1 and res["config"]["amp"] == "fp16"


def test_deterministic_mode_sets_and_restores_the_flags():
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    with deterministic_mode(True, "cpu"):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
    assert (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    ) == before


def test_deterministic_run_on_cpu_gives_the_same_result(small_cfg, tmp_path):
    a = train(small_cfg(method="sr-adam", out=str(tmp_path / "a")))
    b = train(small_cfg(method="sr-adam", deterministic=True, out=str(tmp_path / "b")))
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert json.loads((tmp_path / "b" / "config.json").read_text())["deterministic"] is True
