"""The training loop: logs, bit-for-bit resume, NaN handling, schedule."""

import json

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.train import TrainConfig, load_checkpoint, lr_at, train  # noqa: E402

from srchain import SrchainError  # noqa: E402


def _weights(res):
    return {k: v.detach().clone() for k, v in res["model"].state_dict().items()}


@pytest.mark.parametrize("method", ["sr-adam", "bc-adam"])
def test_resume_after_interruption_is_bit_for_bit(small_cfg, tmp_path, method):
    full = train(small_cfg(method=method, epochs=3, out=str(tmp_path / "full")))
    part = train(small_cfg(method=method, epochs=3, out=str(tmp_path / "part"), stop_after=1))
    assert part["stopped"] and len(part["history"]) == 1
    rest = train(small_cfg(method=method, epochs=3, out=str(tmp_path / "part"), resume=True))
    a, b = _weights(full), _weights(rest)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if method == "bc-adam":
        assert torch.equal(full["optimizer"].latent, rest["optimizer"].latent)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(full["history"]) == strip(rest["history"])
    log = (tmp_path / "part" / "log.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in log] == [1, 2, 3]


def test_fresh_run_into_used_folder_or_changed_settings_is_refused(small_cfg):
    train(small_cfg(method="adam"))
    with pytest.raises(SrchainError, match="--resume"):
        train(small_cfg(method="adam"))
    with pytest.raises(SrchainError, match="--lr"):
        train(small_cfg(method="adam", lr=0.02, resume=True))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(small_cfg, tmp_path, monkeypatch):
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
    cfg = small_cfg(method="sr-adam", epochs=3)
    with pytest.raises(SrchainError, match=r"loss became nan at epoch 2, step 3; the last good checkpoint"):
        train(cfg)
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 1
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 1


def test_log_schema_and_sr_weights_on_grid(small_cfg, tmp_path):
    res = train(small_cfg(method="sr-adam", epochs=2))
    rec = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])
    for key in ("epoch", "lr", "train_error", "test_error", "layers"):
        assert key in rec
    assert set(rec["layers"]) == {f"conv_{i}" for i in range(1, 8)} | {"linear_1", "linear_2"}
    for v in rec["layers"].values():
        assert set(v) == {"flipped_since_init", "flipped_last_k", "mean_abs_wb_minus_wr"}
        assert 0 <= v["flipped_since_init"] <= 100
    assert rec["layers"]["conv_3"]["flipped_since_init"] > 0  # SR explores (Section 6)
    assert 0 <= rec["test_error"] <= 100
    for m in res["model"].modules():
        if isinstance(m, torch.nn.Conv2d):
            assert set(torch.unique(m.weight.detach()).tolist()) <= {-1.0, 1.0}


def test_paper_schedule():
    c = TrainConfig(dataset="cifar10").resolved()
    assert c.milestones == (82, 122) and c.lr == 0.01 and c.weight_decay == 0 and c.batch == 128
    assert [lr_at(c, e) for e in (0, 81, 82, 121, 122)] == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert TrainConfig(dataset="imagenet", model="resnet18").resolved().milestones == (30, 60)
    assert TrainConfig(method="big-sr-adam", model="vgg9").resolved().batch == 1024
    assert TrainConfig(method="big-sr-adam", model="wrn56-2").resolved().batch == 512
    assert TrainConfig(dataset="digits", epochs=10).resolved().milestones == (5, 7)
