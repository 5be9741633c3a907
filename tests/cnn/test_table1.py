"""`srchain table1`: runs as sweep tasks (in-process or on Dask), --dry-run's grid and projected GPU-hours."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from srchain.cli import main  # noqa: E402

TINY = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu", "--threads", "1"]


def test_dry_run_from_given_step_seconds(tmp_path, capsys):
    rc = main(
        [
            "table1",
            "--dry-run",
            "--dataset",
            "cifar10",
            "cifar100",
            "--models",
            "vgg9",
            "resnet56",
            "--methods",
            "adam",
            "big-sr-adam",
            "--seeds",
            "2",
            "--step-seconds",
            "0.01",
            "resnet56=0.02",
            "--json",
            str(tmp_path / "plan.json"),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert (
        "2 dataset(s) cifar10 cifar100 x 2 model(s) vgg9 resnet56 x 2 method(s) adam big-sr-adam x 2 seed(s) = "
        "16 runs of 164 epochs" in text
    )
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["runs"] == 16 and len(plan["cells"]) == 8 and plan["epochs"] == 164
    cell = {(c["dataset"], c["model"], c["method"]): c for c in plan["cells"]}
    c = cell["cifar10", "vgg9", "adam"]
    assert c["steps_per_epoch"] == 391 and c["step_seconds"] == 0.01
    # 164 epochs x (391 steps x 0.01 s + 20 test batches of 500 x 0.01/3 x 500/128 s), 2 seeds
    per_run = 164 * (391 * 0.01 + 20 * 0.01 / 3 * 500 / 128)
    assert c["hours"] == pytest.approx(2 * per_run / 3600)
    big = cell["cifar100", "resnet56", "big-sr-adam"]
    assert big["batch"] == 1024 and big["steps_per_epoch"] == 49 and big["step_seconds"] == pytest.approx(0.16)
    assert plan["gpu_hours"] == pytest.approx(sum(c["hours"] for c in plan["cells"]))
    assert "GPU-hours" in text and "nothing was trained" in text
    assert not (tmp_path / "runs").exists()


def test_dry_run_times_the_real_step_on_this_device_without_training(tmp_path, capsys):
    rc = main(
        [
            "table1",
            "--dry-run",
            "--models",
            "vgg9",
            "resnet56",
            "--methods",
            "adam",
            "sr-adam",
            "--seeds",
            "3",
            "--epochs",
            "2",
            *TINY,
            "--out",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "plan.json"),
        ]
    )
    assert rc == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["device"] == "cpu" and plan["gpu_hours"] is None and plan["runs"] == 12
    for c in plan["cells"]:
        assert c["step_time"] == "measured" and c["step_seconds"] > 0 and c["steps_per_epoch"] == 23
        assert c["hours"] == pytest.approx(3 * 2 * c["epoch_seconds"] / 3600)
    assert "device-hours on cpu" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--step-seconds", "0.1"], "only goes with --dry-run"),
        (["--dry-run", "--step-seconds", "-1"], "--step-seconds"),
        (["--dry-run", "--step-seconds", "alexnet=1"], "unknown model"),
        (["--dry-run", "--models", "vgg9", "resnet56", "--step-seconds", "vgg9=1"], "no time for resnet56"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --out"),
    ],
)
def test_table1_sweep_options_bad_input_is_one_line(capsys, argv, needle):
    rc = main(["table1", *TINY, "--methods", "adam", "--seeds", "1", "--epochs", "1", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err


def _strip(log):
    return [{k: v for k, v in json.loads(s).items() if k != "seconds"} for s in log.read_text().splitlines()]


@pytest.mark.slow
def test_workers_2_on_dask_gives_the_serial_results(tmp_path):
    """Four runs (2 methods x 2 seeds) as tasks on a LocalCluster of 2 processes: the same logs as in-process."""
    common = [
        sys.executable,
        "-m",
        "srchain.cli",
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
        "--dataset",
        "digits",
        *TINY,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    for name, extra in (("serial", []), ("dask", ["--workers", "2"])):
        p = subprocess.run(
            [*common, *extra, "--out", str(tmp_path / name), "--json", str(tmp_path / f"{name}.json")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=tmp_path,
        )
        assert p.returncode == 0, p.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("serial", "dask"))
    assert a["rows"] == b["rows"]
    for method in ("adam", "sr-adam"):
        for seed in (0, 1):
            rel = f"vgg9/{method}/seed{seed}/log.jsonl"
            assert _strip(tmp_path / "serial" / rel) == _strip(tmp_path / "dask" / rel)
    # resume: every run finished, so nothing is trained again and the table is read back from the logs
    p = subprocess.run(
        [
            *common,
            "--workers",
            "2",
            "--resume",
            "--out",
            str(tmp_path / "dask"),
            "--json",
            str(tmp_path / "again.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((tmp_path / "again.json").read_text())["rows"] == a["rows"]


def test_in_process_tasks_and_the_table_read_back_from_the_logs(tmp_path, monkeypatch):
    """The default runs its tasks in this process (no Dask); each run's log is where the table reads it."""
    import srchain.sweep as sweep

    seen = {}
    real = sweep.run_sweep

    def spy(tasks, **kw):
        seen["tasks"] = [dict(t.key) for t in tasks]
        seen["kw"] = kw
        return real(tasks, **kw)

    monkeypatch.setattr(sweep, "run_sweep", spy)
    from srchain.cnn.table1 import run_table1
    from srchain.cnn.train import TrainConfig

    base = TrainConfig(
        dataset="digits", epochs=1, width=0.125, image_size=16, batch=64, quiet=True, device="cpu", threads=1
    )
    res = run_table1(["vgg9"], ["adam"], [0], base, out=tmp_path / "runs")
    assert seen["tasks"] == [{"dataset": "digits", "model": "vgg9", "method": "adam", "seed": 0}]
    assert seen["kw"]["workers"] is None and seen["kw"]["scheduler"] is None
    assert (tmp_path / "runs" / "vgg9" / "adam" / "seed0" / "log.jsonl").exists()
    log = _strip(tmp_path / "runs" / "vgg9" / "adam" / "seed0" / "log.jsonl")
    assert res["rows"][0]["test_error"] == log[-1]["test_error"]
    seen.clear()
    again = run_table1(["vgg9"], ["adam"], [0], base, out=tmp_path / "runs", resume=True)
    assert "tasks" not in seen and again["rows"] == res["rows"]  # finished logs are skipped
