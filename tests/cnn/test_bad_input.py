"""Issue 9, classes 5 and 7 and the low ones (CNN side): every bad input to ``srchain train``, ``table1`` and
``plot`` is one line on stderr and exit status 2; runs too big for memory are refused before anything is
allocated; a huge learning rate gives the documented non-finite stop; ``--resume`` refuses other settings.
"""

import json

import pytest

torch = pytest.importorskip("torch")

from srchain import SrchainError  # noqa: E402
from srchain.cli import main  # noqa: E402

SMALL = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu", "--epochs", "1"]


def _run(argv, capsys):
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    cap = capsys.readouterr()
    return rc, cap.err.strip().splitlines()


def _assert_one_line(rc, err, needle):
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("srchain") and "error:" in err[0], err
    assert needle in err[0], err[0]


# ------------------------------------------------------------------------------------------------------------
# resources: refused up front (the data and the model are never built)
# ------------------------------------------------------------------------------------------------------------
RESOURCE_PROBES = [
    (["--width", "1e6"], "--max-memory"),
    (["--width", "1e300"], "--max-memory"),
    (["--image-size", "1e5"], "--max-memory"),
    (["--image-size", "100000", "--width", "1"], "--max-memory"),
    (["--model", "vgg-bc", "--width", "1000"], "--max-memory"),
    (["--model", "resnet56", "--width", "1e5"], "--max-memory"),
    (["--model", "wrn56-2", "--image-size", "50000"], "--max-memory"),
    (["--model", "resnet18", "--width", "1e4"], "--max-memory"),
    (["--batch", "100000000", "--image-size", "64"], "--max-memory"),
    (["--max-memory", "1e-9"], "--max-memory is"),
    (["--max-memory", "0.001"], "--max-memory is"),
    (["--width", "1e-9"], "0 channels"),
    (["--width", "0.001"], "0 channels"),
    (["--model", "resnet56", "--width", "0.03"], "0 channels"),
    (["--model", "vgg-bc", "--width", "0.003"], "0 channels"),
    (["--batch", "1"], "--batch must be >= 2"),
    (["--method", "big-sr-adam", "--big-batch", "1"], "--big-batch must be >= 2"),
]


@pytest.fixture
def no_allocation(monkeypatch):
    """Make building the data or the model fail loudly: a refusal must come before either."""
    import srchain.cnn.train as tr

    def boom(*a, **k):
        raise AssertionError("allocated before refusing")

    monkeypatch.setattr(tr, "load_dataset", boom)
    monkeypatch.setattr(tr, "build_model", boom)


@pytest.mark.parametrize("command", ["train", "table1"])
@pytest.mark.parametrize("argv,needle", RESOURCE_PROBES)
def test_too_big_or_degenerate_runs_are_refused_before_allocating(
    tmp_path, capsys, no_allocation, command, argv, needle
):
    extra = ["--methods", "adam", "--seeds", "1"] if command == "table1" else []
    if command == "table1" and "--model" in argv:
        i = argv.index("--model")
        argv = argv[:i] + ["--models", argv[i + 1]] + argv[i + 2 :]
    if command == "table1" and "--method" in argv:
        i = argv.index("--method")
        argv = argv[:i] + argv[i + 2 :]
        extra = ["--methods", "big-sr-adam", "--seeds", "1"]
    rc, err = _run([command, *SMALL, "--out", str(tmp_path / "r"), *extra, *argv], capsys)
    _assert_one_line(rc, err, needle)
    assert not (tmp_path / "r").exists()


def test_memory_estimate_counts_the_real_parameters_and_grows_with_the_run():
    from srchain.cnn.models import build_model
    from srchain.cnn.resources import estimate_run

    for name in ("vgg9", "vgg-bc", "resnet56", "wrn56-2", "resnet18"):
        real = sum(p.numel() for p in build_model(name, 10, 0.125, 16).parameters())
        fp = estimate_run(name, "bc-adam", "digits", 0.125, 16, 64, num_classes=10)
        assert fp.params == real, name
    a = estimate_run("vgg9", "adam", "digits", 0.25, 16, 64)
    assert estimate_run("vgg9", "adam", "digits", 0.5, 16, 64).total > a.total
    assert estimate_run("vgg9", "adam", "digits", 0.25, 32, 64).total > a.total
    assert estimate_run("vgg9", "adam", "digits", 0.25, 16, 128).total > a.total
    assert estimate_run("vgg9", "bc-adam", "digits", 0.25, 16, 64).total > a.total  # latent copy
    assert estimate_run("vgg9", "adam", "cifar10", 0.25, 32, 64).data_bytes > 50000 * 3072


def test_default_run_fits_and_explicit_limit_is_used(small_cfg):
    from srchain.cnn.resources import check_run_memory

    cfg = small_cfg().resolved()
    fp = check_run_memory(cfg, "cpu", None)
    assert fp.total > 0
    with pytest.raises(SrchainError, match="--max-memory is"):
        check_run_memory(cfg, "cpu", fp.total / 2**30 / 2)
    check_run_memory(cfg, "cpu", fp.total / 2**30 * 2)


# ------------------------------------------------------------------------------------------------------------
# numerical extremes: the documented non-finite stop (exit 2, last good checkpoint kept)
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["adam", "sr-adam", "bc-adam", "bc-sgd", "sgd"])
def test_huge_lr_is_the_non_finite_stop(tmp_path, capsys, method):
    rc, err = _run(["train", *SMALL, "--method", method, "--lr", "1e300", "--out", str(tmp_path / "r")], capsys)
    _assert_one_line(rc, err, "lower --lr")
    assert "no epoch had finished" in err[0]
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.parametrize("gamma", ["1e300", "1e35"])
def test_overflow_after_a_good_epoch_keeps_its_checkpoint(tmp_path, capsys, gamma):
    """Epoch 2's lr is 0.01·gamma: 1e298 overflows float32 in the update, 1e33 makes the weights non-finite."""
    from srchain.cnn.train import load_checkpoint

    out = tmp_path / "r"
    rc, err = _run(
        [
            "train",
            *SMALL,
            "--epochs",
            "2",
            "--milestones",
            "1",
            "--gamma",
            gamma,
            "--method",
            "adam",
            "--out",
            str(out),
        ],
        capsys,
    )
    _assert_one_line(rc, err, "at epoch 2")
    assert "the last good checkpoint is" in err[0] and "lower --lr" in err[0]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert len((out / "log.jsonl").read_text().splitlines()) == 1


# ------------------------------------------------------------------------------------------------------------
# resume: --threads is a resume key; table1 --resume needs --out
# ------------------------------------------------------------------------------------------------------------
def test_resume_with_other_threads_is_refused(stopped_run, small_cfg):
    from srchain.cnn.train import train

    with pytest.raises(SrchainError, match=r"--threads was 1 there, 2 now"):
        train(small_cfg(method="bc-adam", epochs=2, threads=2, resume=True, out=str(stopped_run)))
    res = train(small_cfg(method="bc-adam", epochs=2, threads=1, resume=True, out=str(stopped_run)))
    assert res["final"]["epoch"] == 2


def test_resume_with_default_threads_names_the_default(stopped_run, small_cfg, monkeypatch):
    from srchain.cnn.train import train

    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    with pytest.raises(SrchainError, match=r"--threads was 1 there, 3 now \(torch's default"):
        train(small_cfg(method="bc-adam", epochs=2, resume=True, out=str(stopped_run)))


def test_table1_resume_without_out_is_an_error(tmp_path, capsys, no_allocation):
    rc, err = _run(["table1", *SMALL, "--methods", "adam", "--seeds", "1", "--resume"], capsys)
    _assert_one_line(rc, err, "--resume needs --out")
    from srchain.cnn.table1 import run_table1
    from srchain.cnn.train import TrainConfig

    with pytest.raises(SrchainError, match="--resume needs --out"):
        run_table1(["vgg9"], ["adam"], [0], TrainConfig(), out=None, resume=True)


# ------------------------------------------------------------------------------------------------------------
# every other bad input found by trying: one line, exit status 2
# ------------------------------------------------------------------------------------------------------------
TRAIN_PROBES = [
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "does not exist"),
    (["--dataset", "cifar100", "--data-dir", "/nonexistent/cifar"], "does not exist"),
    (["--dataset", "cifar10", "--data-dir", "{tmp}/empty"], "not found"),
    (["--dataset", "cifar10", "--data-dir", "{tmp}/afile"], "is not a directory"),
    (["--dataset", "cifar10"], "--data-dir"),
    (["--dataset", "imagenet"], "--data-dir"),
    (["--dataset", "imagenet", "--data-dir", "/nonexistent/imagenet"], "does not exist"),
    (["--out", "{tmp}/afile"], "not a directory"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "abc"], "--lr"),
    (["--gamma", "0"], "--gamma"),
    (["--gamma", "nan"], "--gamma"),
    (["--momentum", "-0.1"], "--momentum"),
    (["--momentum", "nan"], "--momentum"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--weight-decay", "inf"], "--weight-decay"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-2"], "--epochs"),
    (["--epochs", "1.5"], "--epochs"),
    (["--epochs", "nan"], "--epochs"),
    (["--batch", "0"], "--batch"),
    (["--big-batch", "-1"], "--big-batch"),
    (["--eval-batch", "0"], "--eval-batch"),
    (["--k", "0"], "--k"),
    (["--threads", "0"], "--threads"),
    (["--workers", "-1"], "--workers"),
    (["--stop-after", "0"], "--stop-after"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "nan"], "--seed"),
    (["--milestones", "-1"], "--milestones"),
    (["--milestones", "nan"], "--milestones"),
    (["--delta", "0"], "--delta"),
    (["--delta", "nan"], "--delta"),
    (["--delta", "inf"], "--delta"),
    (["--bits", "0"], "--bits"),
    (["--bits", "100"], "--bits"),
    (["--width", "0"], "--width"),
    (["--width", "-1"], "--width"),
    (["--width", "nan"], "--width"),
    (["--width", "inf"], "--width"),
    (["--image-size", "0"], "--image-size"),
    (["--image-size", "4"], "--image-size >= 8"),
    (["--max-memory", "0"], "--max-memory"),
    (["--max-memory", "-1"], "--max-memory"),
    (["--max-memory", "nan"], "--max-memory"),
    (["--model", "alexnet"], "invalid choice"),
    (["--method", "xnor-adam"], "invalid choice"),
    (["--scale", "filter", "--method", "sr-adam"], "needs a bc method"),
    (["--device", "tpu"], "invalid choice"),
    (["--json", "{tmp}"], "is a directory"),
]


@pytest.fixture
def probe_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    return tmp_path


def _fill(argv, tmp):
    return [a.replace("{tmp}", str(tmp)) for a in argv]


@pytest.mark.parametrize("argv,needle", TRAIN_PROBES)
def test_train_bad_input_is_one_line(probe_dir, capsys, argv, needle):
    rc, err = _run(["train", *SMALL, "--out", str(probe_dir / "r"), *_fill(argv, probe_dir)], capsys)
    _assert_one_line(rc, err, needle)
    assert not (probe_dir / "r" / "log.jsonl").exists()


TABLE1_PROBES = [
    (["--seeds", "0"], "--seeds"),
    (["--seeds", "-2"], "--seeds"),
    (["--seeds", "nan"], "--seeds"),
    (["--models", "alexnet"], "invalid choice"),
    (["--methods", "xnor"], "invalid choice"),
    (["--methods", "adam", "sr-adam", "--scale", "filter"], "needs a bc method"),
    (["--out", "{tmp}/afile"], "not a directory"),
    (["--markdown", "{tmp}"], "is a directory"),
    (["--markdown", "/proc/nope/x.md"], "--markdown"),
    (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "does not exist"),
    (["--lr", "1e300"], "lower --lr"),
    (["--lr", "nan"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--max-memory", "0"], "--max-memory"),
]


@pytest.mark.parametrize("argv,needle", TABLE1_PROBES)
def test_table1_bad_input_is_one_line(probe_dir, capsys, argv, needle):
    argv = _fill(argv, probe_dir)
    base = ["table1", *SMALL]
    if "--methods" not in argv:
        base += ["--methods", "adam"]
    if "--seeds" not in argv:
        base += ["--seeds", "1"]
    if "--out" not in argv:
        base += ["--out", str(probe_dir / "runs")]
    rc, err = _run([*base, *argv], capsys)
    _assert_one_line(rc, err, needle)
    assert not (probe_dir / "runs" / "vgg9" / "sr-adam").exists()


def _rec(epoch=1, **over):
    r = {
        "epoch": epoch,
        "lr": 0.01,
        "train_error": 10.0,
        "test_error": 12.0,
        "layers": {
            "conv_1": {"flipped_since_init": 1.0, "flipped_last_k": 0.5, "mean_abs_wb_minus_wr": None},
            "linear_1": {"flipped_since_init": 2.0, "flipped_last_k": 1.0, "mean_abs_wb_minus_wr": None},
        },
    }
    r.update(over)
    return json.dumps(r)


PLOT_PROBES = {
    "missing-file": (None, "does not exist"),
    "empty-dir": ("DIR", "does not exist"),
    "empty-file": ("", "is empty"),
    "blank-lines": ("\n\n  \n", "is empty"),
    "not-json": ("{bad\n", "line 1"),
    "second-line-broken": (_rec() + "\n{\n", "line 2"),
    "not-utf8": (b"\xff\xfe\x00", "not UTF-8"),
    "a-list": ("[1, 2]\n", "not a record"),
    "a-number": ("3\n", "not a record"),
    "no-layers": (_rec(layers=None) + "\n", "'layers'"),
    "empty-layers": (_rec(layers={}) + "\n", "'layers'"),
    "layers-a-number": (_rec(layers=3) + "\n", "'layers'"),
    "layer-not-object": (_rec(layers={"conv_1": 5}) + "\n", "layer 'conv_1'"),
    "flips-string": (
        _rec(layers={"conv_1": {"flipped_since_init": "a", "flipped_last_k": 1}}) + "\n",
        "'flipped_since_init'",
    ),
    "flips-missing": (_rec(layers={"conv_1": {"flipped_since_init": 1}}) + "\n", "'flipped_last_k'"),
    "wb-string": (
        _rec(layers={"conv_1": {"flipped_since_init": 1, "flipped_last_k": 1, "mean_abs_wb_minus_wr": "x"}}) + "\n",
        "'mean_abs_wb_minus_wr'",
    ),
    "no-epoch": (json.dumps({"train_error": 1}) + "\n", "'epoch'"),
    "epoch-string": (_rec(epoch="x") + "\n", "'epoch'"),
    "epoch-zero": (_rec(epoch=0) + "\n", "'epoch'"),
    "epoch-negative": (_rec(epoch=-3) + "\n", "'epoch'"),
    "epoch-fraction": (_rec(epoch=1.5) + "\n", "'epoch'"),
    "epoch-nan": ('{"epoch": NaN, "layers": {}}\n', "'epoch'"),
    "epoch-infinity": ('{"epoch": Infinity}\n', "'epoch'"),
    "error-null": (_rec(train_error=None) + "\n", "'train_error'"),
    "error-string": (_rec(test_error="12") + "\n", "'test_error'"),
    "error-bool": (_rec(test_error=True) + "\n", "'test_error'"),
    "k-string": (_rec(k="5") + "\n", "'k'"),
    "conv-total-string": (_rec(conv_flipped_since_init="a") + "\n", "'conv_flipped_since_init'"),
    "layers-differ": (
        _rec(1) + "\n" + _rec(2, layers={"conv_9": {"flipped_since_init": 1, "flipped_last_k": 1}}) + "\n",
        "layers",
    ),
    "deep-nesting": ("[" * 100000 + "\n", "cannot read"),
}


@pytest.mark.parametrize("name", list(PLOT_PROBES))
def test_plot_bad_log_is_one_line(tmp_path, capsys, name):
    content, needle = PLOT_PROBES[name]
    log = tmp_path / "log.jsonl"
    if content == "DIR":
        log = tmp_path / "rundir"
        log.mkdir()
    elif isinstance(content, bytes):
        log.write_bytes(content)
    elif content is not None:
        log.write_text(content)
    rc, err = _run(["plot", str(log), "--out", str(tmp_path / "fig")], capsys)
    _assert_one_line(rc, err, needle)
    assert not (tmp_path / "fig").exists() or not list((tmp_path / "fig").iterdir())


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--labels", "a", "b"], "--labels"),
        (["--out", "{tmp}/afile"], "not a directory"),
        (["--out", "/proc/figs"], "--out"),
        (["--labels"], "expected at least one"),
    ],
)
def test_plot_bad_options_are_one_line(probe_dir, capsys, argv, needle):
    log = probe_dir / "log.jsonl"
    log.write_text(_rec() + "\n")
    rc, err = _run(["plot", str(log), *_fill(argv, probe_dir)], capsys)
    _assert_one_line(rc, err, needle)


def test_a_valid_hand_written_log_still_plots(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text(_rec(1) + "\n" + _rec(2) + "\n")
    rc, _ = _run(["plot", str(log), "--out", str(tmp_path / "fig"), "--quiet"], capsys)
    assert rc == 0 and (tmp_path / "fig" / "fig6_errors.png").exists()


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9"),
        MemoryError(),
        torch.OutOfMemoryError("CUDA out of memory"),
    ],
)
def test_an_allocation_that_fails_anyway_is_one_line(tmp_path, capsys, monkeypatch, exc):
    import srchain.cnn.train as tr

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(tr, "build_model", fail)
    rc, err = _run(["train", *SMALL, "--out", str(tmp_path / "r")], capsys)
    _assert_one_line(rc, err, "ran out of memory")


def test_other_runtime_errors_stay_bugs(tmp_path, monkeypatch):
    import srchain.cnn.train as tr

    def fail(*a, **k):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(tr, "build_model", fail)
    with pytest.raises(RuntimeError, match="a real bug"):
        main(["train", *SMALL, "--out", str(tmp_path / "r")])
