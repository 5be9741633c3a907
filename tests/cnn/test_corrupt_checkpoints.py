"""Issue 9, class 6 (CNN side): corrupt checkpoints are refused with one line, never resumed silently.

Each probe corrupts the checkpoint of an interrupted run and resumes it through ``srchain train --resume``. With
``fix_sha`` the probe also rewrites ``checkpoint.pt.sha256`` to match, so the schema / shape / finiteness checks
(not the checksum) must catch it; without, the checksum must.
"""

import hashlib
import io

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn import train as tr  # noqa: E402

from srchain import SrchainError  # noqa: E402
from srchain.cli import main  # noqa: E402

SMALL = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu", "--threads", "1"]


def _resume_argv(run):
    return ["train", "--method", "bc-adam", "--epochs", "2", "--out", str(run), "--resume", *SMALL]


def _load(ck):
    return torch.load(ck, weights_only=True)


def _save(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _first_weight(state):
    return next(k for k, v in state["model"].items() if v.dim() == 4)


def _flip_64_bytes(raw, state):
    """XOR 64 bytes in the middle of the largest tensor's stored bytes."""
    big = max((v for v in state["model"].values()), key=lambda t: t.numel())
    data = big.numpy().tobytes()
    at = raw.find(data)
    assert at >= 0 and len(data) >= 128
    mid = at + len(data) // 2
    return raw[:mid] + bytes(b ^ 0xA5 for b in raw[mid : mid + 64]) + raw[mid + 64 :]


def _edit(fn):
    def make(raw, state):
        fn(state)
        return _save(state)

    return make


def _set(path, value):
    def fn(state):
        d = state
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value

    return _edit(fn)


def _delete(path):
    def fn(state):
        d = state
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]

    return _edit(fn)


def _reshape_weight(state):
    k = _first_weight(state)
    state["model"][k] = torch.zeros(3, 3, 3, 3)


def _nan_weight(state):
    k = _first_weight(state)
    state["model"][k] = state["model"][k].clone()
    state["model"][k].view(-1)[5] = float("nan")


def _opt_shape(state):
    st = state["optimizer"]["optimizer"]["state"]
    i = next(iter(st))
    st[i]["exp_avg"] = torch.zeros(7)


def _opt_inf(state):
    st = state["optimizer"]["optimizer"]["state"]
    i = next(iter(st))
    st[i]["exp_avg_sq"] = st[i]["exp_avg_sq"].clone().fill_(float("inf"))


def _extra_layer(state):
    state["model"]["features.99.weight"] = torch.zeros(2)


def _flips_shape(state):
    n = next(iter(state["flips"]["init"]))
    state["flips"]["init"][n] = torch.zeros(2, dtype=torch.bool)


#: name -> (corruption(raw bytes, loaded state) -> new bytes, rewrite the checksum?, expected words)
PROBES = {
    "random-bytes": (lambda raw, st: bytes(range(256)) * 40, False, "SHA-256 does not match"),
    "random-bytes-matching-sha": (lambda raw, st: bytes(range(256)) * 40, True, "not a srchain train checkpoint"),
    "empty-file": (lambda raw, st: b"", True, "not a srchain train checkpoint"),
    "truncated": (lambda raw, st: raw[: len(raw) // 2], True, "not a srchain train checkpoint"),
    "bare-tensor": (lambda raw, st: _save(torch.zeros(3)), True, "holds a Tensor, not a dict"),
    "list": (lambda raw, st: _save([1, 2]), True, "holds a list, not a dict"),
    "missing-rng": (_delete(["rng"]), True, "missing 'rng'"),
    "missing-model": (_delete(["model"]), True, "missing 'model'"),
    "missing-numpy-rng": (_delete(["rng", "numpy"]), True, "missing rng 'numpy'"),
    "rng-torch-size": (_set(["rng", "torch"], torch.zeros(10, dtype=torch.uint8)), True, "rng 'torch' has shape"),
    "rng-numpy-key": (_set(["rng", "numpy", "key"], torch.zeros(5, dtype=torch.int64)), True, "numpy key"),
    "rng-python-state": (_set(["rng", "python", "state"], torch.zeros(3, dtype=torch.int64)), True, "rng python state"),
    "wrong-tensor-shape": (_edit(_reshape_weight), True, "has shape (3, 3, 3, 3)"),
    "extra-layer": (_edit(_extra_layer), True, "other layers"),
    "nan-weight": (_edit(_nan_weight), True, "NaN or infinite"),
    "optimizer-shape": (_edit(_opt_shape), True, "optimizer state 'exp_avg'"),
    "optimizer-inf": (_edit(_opt_inf), True, "NaN or infinite"),
    "latent-shape": (_set(["optimizer", "latent"], torch.zeros(4)), True, "latent weights do not fit"),
    "latent-missing": (_set(["optimizer", "latent"], None), True, "latent weights do not fit"),
    "generator-state": (_set(["optimizer", "generator"], torch.zeros(3, dtype=torch.uint8)), True, "generator state"),
    "flips-shape": (_edit(_flips_shape), True, "flips init"),
    "config-not-dict": (_set(["config"], "vgg9"), True, "'config' is a str"),
    "epoch-string": (_set(["epoch"], "1"), True, "'epoch' is a str"),
    "history-length": (_set(["history"], []), True, "history records"),
    "old-version": (_set(["version"], 1), True, "format version 1"),
    "64-bytes-flipped": (_flip_64_bytes, False, "SHA-256 does not match"),
}


@pytest.mark.parametrize("name", list(PROBES))
def test_corrupt_checkpoint_is_refused_with_one_line(stopped_run, capsys, name):
    corrupt, fix_sha, needle = PROBES[name]
    ck = stopped_run / "checkpoint.pt"
    raw = ck.read_bytes()
    bad = corrupt(raw, _load(ck))
    assert bad != raw
    ck.write_bytes(bad)
    if fix_sha:
        (stopped_run / "checkpoint.pt.sha256").write_text(f"{hashlib.sha256(bad).hexdigest()}  checkpoint.pt\n")
    capsys.readouterr()
    rc = main(_resume_argv(stopped_run))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("srchain: error: "), err
    assert needle in err[0], err[0]
    assert ck.read_bytes() == bad  # refused before anything was written
    assert len((stopped_run / "log.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("case", ["missing-sha", "sha-garbage", "checkpoint-is-a-directory"])
def test_unverifiable_checkpoint_is_refused(stopped_run, capsys, case):
    ck, sha = stopped_run / "checkpoint.pt", stopped_run / "checkpoint.pt.sha256"
    if case == "missing-sha":
        sha.unlink()
        needle = "is missing"
    elif case == "sha-garbage":
        sha.write_text("not a digest\n")
        needle = "SHA-256 does not match"
    else:
        ck.unlink()
        ck.mkdir()
        needle = "cannot read checkpoint"
    rc = main(_resume_argv(stopped_run))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err


def test_checksum_file_is_written_atomically_beside_each_checkpoint(stopped_run):
    ck, sha = stopped_run / "checkpoint.pt", stopped_run / "checkpoint.pt.sha256"
    assert sha.read_text() == f"{hashlib.sha256(ck.read_bytes()).hexdigest()}  checkpoint.pt\n"
    assert not list(stopped_run.glob(".*.tmp"))
    st = tr.load_checkpoint(ck)
    assert st["epoch"] == 1 and st["version"] == tr.CHECKPOINT_VERSION


def test_a_crash_while_replacing_the_checkpoint_leaves_one_that_verifies(stopped_run, monkeypatch):
    """save_checkpoint lists the old and the new digest while it renames, so either file verifies."""
    import os

    ck = stopped_run / "checkpoint.pt"
    old = ck.read_bytes()
    state = tr.load_checkpoint(ck)
    state["history"] = state["history"] + [dict(state["history"][0], epoch=2)]
    state["epoch"] = 2

    real = os.replace

    def crash(src, dst):  # interrupted just before the checkpoint's rename
        if str(dst) == str(ck):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        tr.save_checkpoint(ck, state)
    monkeypatch.undo()
    assert ck.read_bytes() == old
    assert tr.load_checkpoint(ck)["epoch"] == 1  # the old file still verifies
    assert len((stopped_run / "checkpoint.pt.sha256").read_text().splitlines()) == 2
    tr.save_checkpoint(ck, state)
    assert tr.load_checkpoint(ck)["epoch"] == 2
    assert len((stopped_run / "checkpoint.pt.sha256").read_text().splitlines()) == 1


def test_checkpoint_holds_only_weights_only_types(stopped_run):
    """The whole file loads under weights_only=True (RNG states as tensors, config as plain values)."""
    st = torch.load(stopped_run / "checkpoint.pt", weights_only=True)
    assert isinstance(st["rng"]["numpy"]["key"], torch.Tensor) and st["rng"]["numpy"]["key"].shape == (624,)
    assert isinstance(st["rng"]["python"]["state"], torch.Tensor)
    assert isinstance(st["config"], dict) and st["config"]["threads"] == 1


def test_rng_states_round_trip_exactly():
    import random

    import numpy as np

    random.seed(3)
    np.random.seed(4)
    random.random()
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    st = tr._rng_state()
    a = (random.random(), np.random.standard_normal(), torch.rand(3))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    tr._set_rng_state(st)
    b = (random.random(), np.random.standard_normal(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_load_checkpoint_library_errors_are_srchain_errors(tmp_path):
    with pytest.raises(SrchainError, match="cannot read checkpoint"):
        tr.load_checkpoint(tmp_path / "none.pt")
    p = tmp_path / "t.pt"
    torch.save({"a": torch.zeros(2)}, p)
    with pytest.raises(SrchainError, match="format version None"):
        tr.load_checkpoint(p, verify=False)
