"""The step captured as one CUDA graph, ``--amp auto`` and ``table1 --runs-per-gpu``.

On the CPU the graphed step runs its body eagerly on the same static input buffers (everything but the capture
and the replay), so these tests pin that path to the ordinary step bit for bit; the capture itself is tested on
CUDA only (skipped elsewhere).
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.profiling import StepCounter, host_step_counters  # noqa: E402
from srchain.cnn.step import resolve_amp  # noqa: E402
from srchain.cnn.train import TrainConfig, build_run, train, use_cuda_graph  # noqa: E402

from srchain.errors import SrchainError  # noqa: E402

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graph capture needs a CUDA device")
METHODS = ["sr-adam", "bc-adam", "r-adam", "adam", "sr-sgd"]


def _steps(method, graph, device="cpu", batches=((8, 5),), **kw):
    """Weights, losses and error count after the given ``(batch size, steps)`` runs of steps."""
    cfg = TrainConfig(model="vgg9", method=method, dataset="cifar10", width=0.0625, device=device, batch=8, **kw)
    parts = build_run(cfg.resolved(), torch.device(device), 10)
    step = parts["step"]
    total = sum(n for _, n in batches)
    step.begin_epoch(total)
    g = torch.Generator().manual_seed(1)
    for bs, n in batches:
        for _ in range(n):
            x = torch.randn(bs, 3, 32, 32, generator=g).to(device)
            y = torch.randint(0, 10, (bs,), generator=g).to(device)
            step(x, y)
    r = step.read()
    state = {k: v.detach().cpu().clone() for k, v in parts["model"].state_dict().items()}
    return state, r.losses, int(step.wrong), parts


@pytest.mark.parametrize("method", METHODS)
def test_static_buffer_step_is_bit_identical_on_cpu(method):
    a, la, wa, pa = _steps(method, graph=False, cuda_graph=False)
    b, lb, wb, pb = _steps(method, graph=True, cuda_graph=True, batches=((8, 4), (5, 1), (8, 2)))
    c, lc, wc, _ = _steps(method, graph=False, cuda_graph=False, batches=((8, 4), (5, 1), (8, 2)))
    assert pb["cuda_graph"] and pb["step"].graph and not pa["step"].graph
    assert lb == lc and wb == wc  # a short batch in between runs eagerly, the rest on the static buffers
    assert all(torch.equal(b[k], c[k]) for k in b)
    a2, la2, wa2, _ = _steps(method, graph=True, cuda_graph=True)
    assert la2 == la and wa2 == wa and all(torch.equal(a[k], a2[k]) for k in a)


def test_graph_step_syncs_nothing_and_launches_no_more_kernels_on_cpu():
    cfg = TrainConfig(
        model="vgg9", method="sr-adam", dataset="cifar10", width=0.0625, device="cpu", batch=8, cuda_graph=True
    )
    parts = build_run(cfg.resolved(), torch.device("cpu"), 10)
    step = parts["step"]
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    step.begin_epoch(4)
    step(x, y)  # the optimizer state is made here
    with StepCounter(host_step_counters(parts["opt"])) as c:
        step(x, y)
    eager = build_run(TrainConfig(**{**cfg.__dict__, "cuda_graph": False}).resolved(), torch.device("cpu"), 10)
    eager["step"].begin_epoch(4)
    eager["step"](x, y)
    with StepCounter(host_step_counters(eager["opt"])) as e:
        eager["step"](x, y)
    assert c.syncs == 0 and e.syncs == 0, (dict(c.sync_ops), dict(e.sync_ops))
    # the static buffers cost the copies of x, y and of the loss into its slot: 3 kernels, no more
    assert c.kernels <= e.kernels + 3, (c.kernels, e.kernels)


def test_use_cuda_graph_rules():
    base = TrainConfig(model="vgg9", method="sr-adam", dataset="cifar10")
    assert use_cuda_graph(base, "cuda") and not use_cuda_graph(base, "cpu")
    assert not use_cuda_graph(TrainConfig(cuda_graph=False), "cuda")
    assert use_cuda_graph(TrainConfig(cuda_graph=True), "cpu")
    assert not use_cuda_graph(TrainConfig(compile=True), "cuda")
    assert not use_cuda_graph(TrainConfig(amp="fp16"), "cuda")  # the GradScaler stays eager
    assert not use_cuda_graph(base, "cuda", world=2)


def test_amp_auto_is_fp32_on_cpu_and_recorded(tmp_path):
    assert resolve_amp("auto", "cpu") == "off"
    assert resolve_amp("auto", "cuda") == "auto"
    assert resolve_amp(True, "cuda") == "fp16"
    with pytest.raises(SrchainError):
        resolve_amp("fp8", "cpu")
    kw = dict(model="vgg9", method="sr-adam", dataset="digits", width=0.0625, epochs=1, device="cpu", quiet=True)
    res = train(TrainConfig(amp="auto", out=str(tmp_path / "a"), **kw))
    ref = train(TrainConfig(amp="off", out=str(tmp_path / "b"), **kw))
    assert res["history"][0]["amp"] == "off"
    assert json.loads((tmp_path / "a" / "config.json").read_text())["amp"] == "off"
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in res["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in ref["history"]]


def test_cpu_graph_run_matches_eager_run_and_resumes(tmp_path):
    kw = dict(model="vgg9", method="sr-adam", dataset="digits", width=0.0625, epochs=2, device="cpu", quiet=True)
    eager = train(TrainConfig(cuda_graph=False, out=str(tmp_path / "e"), **kw))
    graph = train(TrainConfig(cuda_graph=True, out=str(tmp_path / "g"), **kw))
    train(TrainConfig(cuda_graph=True, out=str(tmp_path / "r"), stop_after=1, **kw))
    resumed = train(TrainConfig(cuda_graph=True, out=str(tmp_path / "r"), resume=True, **kw))

    def strip(h):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in h]

    assert strip(graph["history"]) == strip(eager["history"]) == strip(resumed["history"])
    a, b = eager["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- table1 --runs-per-gpu ------------------------------------------------------------------------------------
def test_choose_runs_per_gpu_from_measured_throughput():
    from srchain.cnn.table1 import choose_runs_per_gpu

    base = TrainConfig(model="vgg9", method="adam", dataset="cifar10")
    # both models gain >= 10% up to K=2; resnet56 gains only 5% more at K=3: K = 2
    measured = {"vgg9": {1: 30000, 2: 50000, 3: 60000}, "resnet56": {1: 20000, 2: 30000, 3: 31500}}
    k = choose_runs_per_gpu(["vgg9", "resnet56"], ["adam"], base, measured=measured)
    assert k["runs_per_gpu"] == 2
    assert k["speedup"]["vgg9"] == pytest.approx(50000 / 30000)
    flat = {"vgg9": {1: 30000, 2: 31000}}
    assert choose_runs_per_gpu(["vgg9"], ["adam"], base, measured=flat)["runs_per_gpu"] == 1
    failed = {"vgg9": {1: 30000, 2: None}}  # K=2 ran out of memory
    assert choose_runs_per_gpu(["vgg9"], ["adam"], base, measured=failed)["runs_per_gpu"] == 1
    cpu = choose_runs_per_gpu(["vgg9"], ["adam"], TrainConfig(device="cpu"))
    assert cpu["runs_per_gpu"] == 1


def test_plan_divides_hours_by_measured_speedup():
    from srchain.cnn.table1 import plan_table1

    base = TrainConfig(model="vgg9", method="adam", dataset="cifar10", device="cpu")
    measured = {"vgg9": {1: 1000.0, 2: 1600.0, 3: 1700.0}}
    plan = plan_table1(["vgg9"], ["adam", "sr-adam"], [0], base, step_seconds=["0.01"], runs_measured=measured)
    assert plan["runs_per_gpu"] == 2
    assert plan["gpu_hours_at_k"] == pytest.approx(plan["gpu_hours"] / 1.6)
    fixed = plan_table1(["vgg9"], ["adam"], [0], base, step_seconds=["0.01"], runs_measured=measured, runs_per_gpu=3)
    assert fixed["runs_per_gpu"] == 3 and fixed["gpu_hours_at_k"] == pytest.approx(fixed["gpu_hours"] / 1.7)


def test_runs_per_gpu_bad_values():
    from srchain.cnn.table1 import _check_runs_per_gpu

    assert _check_runs_per_gpu(None) == 1 and _check_runs_per_gpu("auto") == "auto" and _check_runs_per_gpu(3) == 3
    for bad in (0, -1, 1.5, True, "two"):
        with pytest.raises(SrchainError):
            _check_runs_per_gpu(bad)


def test_table1_cli_rejects_bad_runs_per_gpu(capsys):
    from srchain.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["table1", "--runs-per-gpu", "0", "--dry-run"])
    assert exc.value.code == 2
    assert "runs-per-gpu" in capsys.readouterr().err


# -- CUDA only: the capture itself ----------------------------------------------------------------------------
@cuda
@pytest.mark.parametrize("method", ["sr-adam", "bc-adam", "adam"])
def test_cuda_graph_step_equals_eager_step(method):
    from srchain.cnn.step import deterministic_mode

    with deterministic_mode(True, "cuda"):
        a, la, wa, pa = _steps(method, graph=True, device="cuda", cuda_graph=True, batches=((8, 8),))
        b, lb, wb, _ = _steps(method, graph=False, device="cuda", cuda_graph=False, batches=((8, 8),))
    assert pa["step"].captures == 1
    assert la == lb and wa == wb
    assert all(torch.equal(a[k], b[k]) for k in a)


@cuda
def test_cuda_graph_captured_once_per_run_and_again_only_when_lr_changes(tmp_path):
    kw = dict(model="vgg9", method="sr-adam", dataset="digits", width=0.0625, device="cuda", quiet=True)
    res = train(TrainConfig(epochs=3, milestones=(10,), out=str(tmp_path / "a"), **kw))
    assert res["history"][-1]["epoch"] == 3
    cfg = TrainConfig(epochs=1, batch=64, **kw).resolved()
    parts = build_run(cfg, torch.device("cuda"), 10)
    step = parts["step"]
    x = torch.randn(64, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,), device="cuda")
    for _ in range(3):
        step.begin_epoch(6)
        for _ in range(6):
            step(x, y)
        step.read()
    assert step.captures == 1
    for g in parts["opt"].param_groups:
        g["lr"] = 0.001
    step(x, y)
    assert step.captures == 2


@cuda
def test_cuda_graph_resume_bit_exact_deterministic(tmp_path):
    kw = dict(model="vgg9", method="sr-adam", dataset="digits", width=0.125, epochs=2, device="cuda", quiet=True)
    kw.update(deterministic=True, amp="bf16")
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    train(TrainConfig(out=str(tmp_path / "part"), stop_after=1, **kw))
    rest = train(TrainConfig(out=str(tmp_path / "part"), resume=True, **kw))
    a, b = full["model"].state_dict(), rest["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_measure_runs_per_gpu_runs_k_processes_on_cpu():
    """The measurement's own code path (K child processes behind a barrier), on the CPU with a tiny cell."""
    from srchain.cnn.table1 import measure_runs_per_gpu

    cfg = TrainConfig(
        model="vgg9", method="sr-adam", dataset="cifar10", width=0.0625, batch=4, device="cpu", threads=1
    ).resolved()
    got = measure_runs_per_gpu({"vgg9": cfg}, ks=(1, 2), seconds=0.05)
    assert set(got["vgg9"]) == {1, 2}
    assert all(v is not None and v > 0 for v in got["vgg9"].values()), got


def _one(x):
    return ({"x": x}, {})


def test_sweep_accepts_fractional_gpu_claims():
    """What ``--runs-per-gpu 2`` asks of the sweep engine: tasks claiming GPU=0.5 on workers that declare GPU=1
    (run here with a trivial task on 2 local workers; no GPU is touched)."""
    from srchain.sweep import Task, run_sweep

    tasks = [Task({"i": i}, _one, {"x": i}, {"GPU": 0.5}) for i in range(4)]
    out = run_sweep(tasks, workers=2, progress=False, worker_resources={"GPU": 1})
    assert [o["x"] for o in out] == [0, 1, 2, 3]


def test_cpu_resumes_a_checkpoint_written_with_capturable_groups(tmp_path):
    """A CUDA-graphed run saves its Adam groups with ``capturable=True``; the CPU's foreach Adam refuses that flag,
    so a resume on the CPU clears it (and continues exactly as the straight run)."""
    from srchain.cnn.checkpoint import load_checkpoint, save_checkpoint

    kw = dict(model="vgg9", method="sr-adam", dataset="digits", width=0.0625, epochs=2, device="cpu", quiet=True)
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    train(TrainConfig(out=str(tmp_path / "part"), stop_after=1, **kw))
    path = tmp_path / "part" / "checkpoint.pt"
    ck = load_checkpoint(path)
    for g in ck["optimizer"]["optimizer"]["param_groups"]:
        g["capturable"] = True
    save_checkpoint(path, ck)
    rest = train(TrainConfig(out=str(tmp_path / "part"), resume=True, **kw))
    a, b = full["model"].state_dict(), rest["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
