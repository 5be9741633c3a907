"""`srchain train`, `srchain table1` and `srchain plot` end to end, and the one-line errors (exit status 2)."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from srchain.cli import main  # noqa: E402

SMALL = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu"]


def test_train_one_epoch_end_to_end(tmp_path, capsys):
    out = tmp_path / "vgg9-bc"
    rc = main(
        [
            "train",
            "--model",
            "vgg9",
            "--method",
            "bc-adam",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--json",
            str(tmp_path / "t.json"),
            *SMALL,
        ]
    )
    assert rc == 0
    lines = (out / "log.jsonl").read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["epoch"] == 1 and rec["lr"] == 0.01
    assert rec["layers"]["conv_1"]["mean_abs_wb_minus_wr"] is not None
    assert rec["layers"]["linear_1"]["mean_abs_wb_minus_wr"] is None
    assert (out / "checkpoint.pt").exists() and (out / "config.json").exists()
    assert json.loads((tmp_path / "t.json").read_text())["final"]["epoch"] == 1
    assert "test error" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--model", "alexnet"], "invalid choice: 'alexnet'"),
        (["--method", "xnor-adam"], "invalid choice: 'xnor-adam'"),
        (["--batch", "0"], "--batch"),
        (["--batch", "-3"], "--batch"),
        (["--delta", "0"], "--delta"),
        (["--delta", "-0.5"], "--delta"),
        (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "does not exist"),
        (["--dataset", "cifar10"], "--data-dir"),
        (["--scale", "filter", "--method", "sr-adam"], "needs a bc method"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, argv, needle):
    try:
        rc = main(["train", "--epochs", "1", "--out", str(tmp_path / "r"), *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srchain") and "error:" in err[0]
    assert needle in err[0]
    assert not (tmp_path / "r" / "log.jsonl").exists()


def test_exit_status_from_a_real_process(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run(
        [sys.executable, "-m", "srchain.cli", "train", "--delta", "-1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "--delta" in p.stderr


def test_help_and_core_commands_do_not_import_torch():
    code = (
        "import sys; from srchain.cli import build_parser; build_parser(); "
        "import srchain.cnn, srchain.cnn.commands.train, srchain.cnn.commands.table1, "
        "srchain.cnn.commands.plot; print('torch' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_table1_and_plot(tmp_path, capsys):
    rc = main(
        [
            "table1",
            "--models",
            "vgg9",
            "--methods",
            "adam",
            "sr-adam",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "t1.json"),
            "--markdown",
            str(tmp_path / "t1.md"),
            *SMALL,
        ]
    )
    assert rc == 0
    res = json.loads((tmp_path / "t1.json").read_text())
    assert res["command"] == "table1"
    assert [(r["model"], r["method"], r["dataset"]) for r in res["rows"]] == [
        ("vgg9", "adam", "digits"),
        ("vgg9", "sr-adam", "digits"),
    ]
    for r in res["rows"]:
        assert len(r["test_errors"]) == 2 and 0 <= r["test_error"] <= 100
    md = (tmp_path / "t1.md").read_text()
    assert "| ADAM |" in md and "| SR-ADAM |" in md and " ± " in md
    # --resume reuses the finished runs (same numbers, no retraining needed)
    rc = main(
        [
            "table1",
            "--models",
            "vgg9",
            "--methods",
            "adam",
            "sr-adam",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "t2.json"),
            "--resume",
            *SMALL,
        ]
    )
    assert json.loads((tmp_path / "t2.json").read_text())["rows"] == res["rows"]
    logs = [str(tmp_path / "runs" / "vgg9" / m / "seed0" / "log.jsonl") for m in ("adam", "sr-adam")]
    assert main(["plot", *logs, "--out", str(tmp_path / "fig")]) == 0
    for name in ("fig4_flips_per_layer.png", "fig5_flips.png", "fig6_errors.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 1000
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "fig")]) == 2
    assert "does not exist" in capsys.readouterr().err
