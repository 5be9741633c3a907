"""Table 1: top-1 test error of a grid of models × methods, each trained with several seeds.

Each cell is the mean of the final test error over the seeds, with the sample standard deviation (n − 1) as
the spread. Every run is an ordinary :func:`srchain.cnn.train.train` run in ``OUT/MODEL/METHOD/seedN``, so its
log feeds ``srchain plot`` (Figures 4–7) and an interrupted grid continues with ``resume=True``.

Each run is one task of the sweep engine (:mod:`srchain.sweep`): in-process one after the other by default, or on
Dask (``workers=N`` local processes, ``scheduler=ADDRESS``), claiming the resource ``GPU=1/K`` when it trains on
CUDA with ``runs_per_gpu=K`` (default 1), so a node with 8 GPUs trains 8·K runs at once; ``--dry-run`` measures K
(:func:`choose_runs_per_gpu`). The runs write their own logs; the table is read back from
them. :func:`plan_table1` (``srchain table1 --dry-run``) prints the grid and its projected GPU-hours without
training.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from srchain.cnn.gpu_share import (
    _check_runs_per_gpu,
    _gpu_count,
    _pick_gpu,
    _prepare_amp,
    _trains_on_cuda,
    choose_runs_per_gpu,
)
from srchain.cnn.gpu_share import measure_runs_per_gpu as measure_runs_per_gpu
from srchain.cnn.registry import MODELS, TABLE1_LABELS, check_model, parse_method

from srchain.errors import SrchainError

__all__ = ["run_table1", "plan_table1", "plan_markdown", "time_step", "train_one", "to_markdown", "PAPER_TABLE1"]

#: Table 1 of the paper (CIFAR-10 columns), for comparison in reports.
PAPER_TABLE1 = {
    "vgg9": {"adam": 7.97, "bc-adam": 10.36, "big-sr-adam": 16.95, "sr-adam": 23.33, "r-adam": 23.99},
    "vgg-bc": {"adam": 7.12, "bc-adam": 8.21, "big-sr-adam": 16.77, "sr-adam": 20.56, "r-adam": 21.88},
    "resnet56": {"adam": 8.10, "bc-adam": 8.83, "big-sr-adam": 19.84, "sr-adam": 26.49, "r-adam": 33.56},
    "wrn56-2": {"adam": 6.62, "bc-adam": 7.17, "big-sr-adam": 16.04, "sr-adam": 21.58, "r-adam": 27.90},
}


def _finished_log(path: Path, epochs: int, strict: bool = False):
    """The last record of a finished run's log, or ``None`` (for a missing or unfinished log: the run is then
    continued from its checkpoint, or started again). A log that is there but cannot be read (malformed, nested
    past the JSON reader's depth, with more layers than a net has) is refused with ``strict`` (``--resume``
    changes nothing then), and counts as missing without."""
    from srchain.cnn.plots import read_log

    try:
        last = read_log(path)[-1]
    except SrchainError as exc:
        if strict and (path.exists() or path.is_symlink()):
            raise SrchainError(f"cannot resume: {exc}; remove {path} (and its run) to run it again") from None
        return None
    return last if last["epoch"] == epochs else None


def _run_dir(out: Path, dataset: str, model: str, method: str, seed: int, several: bool) -> Path:
    """``OUT/MODEL/METHOD/seedN`` (one dataset, as always) or ``OUT/DATASET/MODEL/METHOD/seedN`` (several)."""
    return (out / dataset if several else out) / model / method / f"seed{seed}"


def train_one(config: dict) -> tuple:
    """The sweep task of one Table 1 run: train (or resume) the run ``config`` (a ``TrainConfig`` as a dict) and
    return ``(summary, {})``; the run's own log and checkpoint are its results.

    In a Dask worker of a machine with several GPUs, the run takes GPU ``worker index mod GPU count`` (so
    ``--workers K·G`` puts K runs on each of G GPUs).
    """
    from srchain.cnn.train import TrainConfig, train

    cfg = TrainConfig(**config)
    _pick_gpu(cfg.device)
    fin = train(cfg)["final"]
    return (
        {
            "model": cfg.model,
            "method": cfg.method,
            "dataset": cfg.dataset,
            "seed": cfg.seed,
            "out": cfg.out,
            "test_error": fin["test_error"],
            "train_error": fin["train_error"],
        },
        {},
    )


def _grid(models, methods, seeds, datasets):
    return [(d, mo, me, s) for d in datasets for mo in models for me in methods for s in seeds]


def _check_grid(models, methods, seeds, datasets, base, out, resume):
    models = [check_model(m) for m in models]
    methods = [parse_method(m).name for m in methods]
    seeds = [int(s) for s in seeds]
    datasets = list(dict.fromkeys(datasets or [base.dataset]))
    if not seeds:
        raise SrchainError("--seeds must be >= 1")
    if resume and out is None:
        raise SrchainError("--resume needs --out DIR, the folder of the runs to continue")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise SrchainError(f"--out {out} exists and is not a directory")
    return models, methods, seeds, datasets


def run_table1(
    models,
    methods,
    seeds,
    base,
    out=None,
    resume=False,
    progress=None,
    workers=None,
    scheduler=None,
    datasets=None,
    runs_per_gpu=None,
) -> dict:
    """Train every (dataset, model, method, seed) and summarise.

    Every run is one task of the sweep engine (:func:`srchain.sweep.run_sweep`): in this process one after the
    other by default, on a local Dask cluster of ``workers`` processes, or on the cluster at ``scheduler``. A task
    trains its run into its own folder; the table is then assembled from the runs' logs.

    Parameters
    ----------
    models, methods : sequences of str
        Names from :data:`~srchain.cnn.registry.MODELS` and ``parse_method``.
    seeds : sequence of int
        One run per seed.
    base : TrainConfig
        Shared settings (dataset, epochs, width, lr, ...); model, method, seed and out are replaced.
    out : path, optional
        Folder for the runs (a temporary one, deleted afterwards, when omitted; needed with ``scheduler``, where
        it must be a folder the workers share).
    resume : bool
        Reuse finished runs (no task is made for them) and continue interrupted ones found in ``out``.
    progress : callable, optional
        Called as ``progress(model, method, seed, final_record)`` for every run, in grid order.
    workers : int, optional
        A ``LocalCluster`` of this many worker processes; on CUDA each task claims the resource ``GPU=1`` and
        worker ``i`` trains on GPU ``i mod count``. Without ``threads`` in ``base`` each run gets
        ``CPUs // workers`` torch threads.
    scheduler : str, optional
        The address of an existing Dask cluster (workers started with ``--resources GPU=1`` for CUDA runs).
    datasets : sequence of str, optional
        Several datasets (default: ``[base.dataset]``); with more than one, runs go to ``OUT/DATASET/...``.
    runs_per_gpu : int or "auto", optional
        CUDA: K runs share each GPU; every task claims the fractional resource ``GPU=1/K``. Without ``workers``
        or ``scheduler`` a local cluster of ``K × GPUs`` single-threaded workers is started (worker ``i`` on GPU
        ``i mod count``); on a cluster of your own, start one worker per GPU with ``--nthreads K --resources
        GPU=1``. ``"auto"``: K measured as ``--dry-run`` does (:func:`choose_runs_per_gpu`). Default 1.

    Returns
    -------
    dict
        ``{"command": "table1", "rows": [{"model", "method", "dataset", "test_error", "test_error_std",
        "test_errors", "train_error", "seeds"}, ...], "epochs", "width", "seconds"}``.
    """
    from srchain.sweep import Task, run_sweep

    models, methods, seeds, datasets = _check_grid(models, methods, seeds, datasets, base, out, resume)
    if scheduler is not None and out is None:
        raise SrchainError(
            "--scheduler needs --out DIR, a folder every worker can write (the runs' logs are read back from it)"
        )
    # every cell's settings and memory are checked before the first run starts
    from srchain.cnn.resources import check_run_memory

    footprint = {}
    for dataset in datasets:
        for model in models:
            for method in methods:
                rc = dataclasses.replace(base, model=model, method=method, dataset=dataset).resolved()
                footprint[dataset, model, method] = check_run_memory(rc, rc.device, rc.max_memory)
    cuda = _trains_on_cuda(base.device, scheduler)
    k_runs, k_choice = _check_runs_per_gpu(runs_per_gpu), None
    if not cuda:
        k_runs = 1
    elif k_runs == "auto":
        k_choice = choose_runs_per_gpu(models, methods, base, datasets)
        k_runs = k_choice["runs_per_gpu"]
    if cuda and k_runs > 1 and workers is None and scheduler is None:
        workers = k_runs * _gpu_count()
    if cuda and workers and scheduler is None and base.amp == "auto":
        _prepare_amp(models, methods, datasets, base)  # measured once here, alone on the GPU; cached for the runs
    if workers and base.threads is None and not cuda:  # N local workers share this machine's CPUs
        base = dataclasses.replace(base, threads=max(1, _cpu_count() // workers))
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="srchain-table1-")
        out = tmp.name
    out = Path(out)
    several = len(datasets) > 1
    cfg0 = base.resolved() if base.model in MODELS else base
    t0 = time.perf_counter()
    try:
        tasks, where = [], {}
        for dataset, model, method, seed in _grid(models, methods, seeds, datasets):
            run_dir = _run_dir(out, dataset, model, method, seed, several)
            cfg = dataclasses.replace(
                base, model=model, method=method, seed=seed, dataset=dataset, out=str(run_dir), resume=resume
            )
            rcfg = cfg.resolved()
            where[dataset, model, method, seed] = (run_dir, rcfg.epochs)
            if resume and _finished_log(run_dir / "log.jsonl", rcfg.epochs, strict=True) is not None:
                continue
            res = {"GPU": 1.0 / k_runs} if cuda else {"memory": footprint[dataset, model, method].total}
            tasks.append(
                Task(
                    {"dataset": dataset, "model": model, "method": method, "seed": seed},
                    train_one,
                    {"config": cfg.to_dict()},
                    res,
                )
            )
        if tasks:
            run_sweep(
                tasks,
                workers=workers,
                scheduler=scheduler,
                progress=not base.quiet and len(tasks) > 1,
                worker_resources={"GPU": 1} if (cuda and workers) else None,
                desc="table1 runs",
            )
        rows = []
        for dataset in datasets:
            for model in models:
                for method in methods:
                    test, trn = [], []
                    for seed in seeds:
                        run_dir, epochs = where[dataset, model, method, seed]
                        fin = _finished_log(run_dir / "log.jsonl", epochs)
                        if fin is None:
                            raise SrchainError(
                                f"the run in {run_dir} finished but its log.jsonl is missing or "
                                "incomplete; is --out shared with the workers?"
                            )
                        test.append(fin["test_error"])
                        trn.append(fin["train_error"])
                        if progress:
                            progress(model, method, seed, fin)
                    rows.append(
                        {
                            "model": model,
                            "method": method,
                            "dataset": dataset,
                            "test_error": statistics.fmean(test),
                            "test_error_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                            "test_errors": test,
                            "train_error": statistics.fmean(trn),
                            "seeds": seeds,
                        }
                    )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "command": "table1",
        "rows": rows,
        "dataset": datasets[0] if not several else datasets,
        "epochs": cfg0.epochs,
        "width": base.width,
        "seconds": time.perf_counter() - t0,
        "runs": None if tmp is not None else str(out),
        "runs_per_gpu": k_runs,
        "workers": workers,
        **({"runs_per_gpu_choice": k_choice} if k_choice else {}),
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -------------------------------------------------------------------------------------------------------------
# --dry-run: the grid and its projected cost
# -------------------------------------------------------------------------------------------------------------
#: training / test images per dataset (digits: the fixed 80/20 split of 1797)
DATASET_SIZES = {
    "digits": (1438, 359),
    "cifar10": (50000, 10000),
    "cifar100": (50000, 10000),
    "imagenet": (1281167, 50000),
}


def _steps_per_epoch(n: int, batch: int) -> int:
    steps = -(-n // batch)
    if n % batch and n % batch < 2:
        steps -= 1
    return max(steps, 1)


def time_step(cfg, device=None, steps: int = 3, warmup: int = 2) -> dict:
    """Seconds per training step and per evaluation batch of the resolved ``cfg`` on ``device``, measured on a
    synthetic batch of the dataset's shape with exactly the step a run takes (no data needed)."""
    import torch
    from srchain.cnn.registry import DATASET_CLASSES
    from srchain.cnn.step import check_amp_supported, deterministic_mode
    from srchain.cnn.train import _device_type, build_run

    device = torch.device(device or _device_type(cfg.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SrchainError(
            "--device cuda was asked for but torch sees no CUDA device; use --device cpu, or "
            "--step-seconds to project from a step time measured elsewhere"
        )
    check_amp_supported(cfg.amp, device.type)
    size = 224 if cfg.dataset == "imagenet" else (cfg.image_size if cfg.dataset == "digits" else 32)
    cfg = dataclasses.replace(cfg, image_size=size)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with deterministic_mode(cfg.deterministic, device.type):
        if cfg.amp == "auto":
            from srchain.cnn.precision import choose_amp

            cfg = dataclasses.replace(cfg, amp=choose_amp(cfg, device)["amp"])
        parts = build_run(cfg, device, DATASET_CLASSES[cfg.dataset])
        if parts["cuda_graph"]:  # the warm-up steps and the capture are not timed
            from srchain.cnn.step import GRAPH_WARMUP_STEPS

            warmup = max(warmup, GRAPH_WARMUP_STEPS + 2)
        fmt = torch.channels_last if parts["channels_last"] else torch.contiguous_format
        g = torch.Generator(device=device.type).manual_seed(0)
        x = torch.randn(cfg.batch, 3, size, size, generator=g, device=device).contiguous(memory_format=fmt)
        y = torch.randint(0, DATASET_CLASSES[cfg.dataset], (cfg.batch,), generator=g, device=device)
        step = parts["step"]
        step.begin_epoch(warmup + steps)
        parts["net"].train()
        for _ in range(warmup):
            step(x, y)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(x, y)
        step.read()
        sync()
        train_s = (time.perf_counter() - t0) / steps
        model = parts["model"]
        model.eval()
        xe = torch.randn(cfg.eval_batch, 3, size, size, generator=g, device=device).contiguous(memory_format=fmt)
        with torch.no_grad(), parts["autocast"]():
            model(xe)
            sync()
            t0 = time.perf_counter()
            model(xe).argmax(1).sum().item()
            eval_s = time.perf_counter() - t0
    return {
        "step_seconds": train_s,
        "eval_batch_seconds": eval_s,
        "device": str(device),
        "amp": cfg.amp,
        "cuda_graph": parts["cuda_graph"],
    }


def _parse_step_seconds(values):
    """``[S]`` or ``["vgg9=0.01", ...]`` (optionally with a default ``S``) -> ``{model or None: seconds}``."""
    out = {}
    for v in values or []:
        name, _, num = str(v).rpartition("=")
        try:
            sec = float(num)
        except ValueError:
            sec = float("nan")
        if not (sec > 0 and sec < float("inf")):
            raise SrchainError(f"--step-seconds takes S or MODEL=S with S > 0 seconds, got {v!r}")
        if name and name not in MODELS:
            raise SrchainError(f"--step-seconds {v!r}: unknown model {name!r}; use one of {', '.join(MODELS)}")
        out[name or None] = sec
    return out


def plan_table1(
    models,
    methods,
    seeds,
    base,
    datasets=None,
    step_seconds=None,
    timing_steps: int = 3,
    progress=None,
    runs_per_gpu=None,
    runs_measured=None,
) -> dict:
    """The grid of a Table 1 and its projected device-hours, without training.

    Each (dataset, model, method) is timed on this machine's device with :func:`time_step` (a few steps of the
    real training step on a synthetic batch), unless ``step_seconds`` gives the seconds of one batch-128 step
    (``{None: s}`` for every model, ``{model: s}`` per model): a step of batch B then costs ``s·B/128``, and the
    test set ``s/3`` per 128 images (a forward is about a third of a training step).

    On a GPU, ``runs_per_gpu`` (``None`` or ``"auto"``: measured, :func:`choose_runs_per_gpu`; or an integer)
    gives K runs sharing each GPU; with measured throughputs the projection divides each model's hours by its
    measured speed-up at K (``gpu_hours_at_k``). ``runs_measured`` ({model: {K: images/s}}) stands in for the
    measurement.

    Returns
    -------
    dict
        ``{"command": "table1", "dry_run": true, "grid": {...}, "runs": n, "epochs", "device", "cells": [...],
        "device_hours", "gpu_hours", "runs_per_gpu", "gpu_hours_at_k"}``; ``gpu_hours`` (one run at a time) is
        ``device_hours`` when the timing device is a GPU (or the step times were given), else ``None``.
    """
    models, methods, seeds, datasets = _check_grid(models, methods, seeds, datasets, base, None, False)
    given = _parse_step_seconds(step_seconds) if step_seconds else {}
    if given and None not in given and not set(models) <= set(given):
        missing = [m for m in models if m not in given]
        raise SrchainError(f"--step-seconds gives no time for {', '.join(missing)}; add MODEL=S or a plain S")
    cells, total, device = [], 0.0, None
    for dataset in datasets:
        for model in models:
            for method in methods:
                cfg = dataclasses.replace(base, model=model, method=method, dataset=dataset).resolved()
                n_train, n_test = DATASET_SIZES[dataset]
                steps = _steps_per_epoch(n_train, cfg.batch)
                evals = -(-n_test // cfg.eval_batch)
                amp_used = cfg.amp
                if given:
                    s128 = given.get(model, given.get(None))
                    step_s, eval_s, how = s128 * cfg.batch / 128, s128 / 3 * cfg.eval_batch / 128, "given"
                    device = device or "given"
                else:
                    from srchain.cnn.resources import check_run_memory

                    check_run_memory(cfg, cfg.device, cfg.max_memory)
                    t = time_step(cfg, steps=timing_steps)
                    step_s, eval_s, how, device = t["step_seconds"], t["eval_batch_seconds"], "measured", t["device"]
                    amp_used = t["amp"]
                epoch_s = steps * step_s + evals * eval_s
                run_s = cfg.epochs * epoch_s
                cell = {
                    "dataset": dataset,
                    "model": model,
                    "method": method,
                    "batch": cfg.batch,
                    "steps_per_epoch": steps,
                    "step_seconds": step_s,
                    "eval_batch_seconds": eval_s,
                    "images_per_second": cfg.batch / step_s,
                    "epoch_seconds": epoch_s,
                    "epochs": cfg.epochs,
                    "run_hours": run_s / 3600,
                    "seeds": len(seeds),
                    "hours": len(seeds) * run_s / 3600,
                    "step_time": how,
                    "amp": amp_used,
                }
                cells.append(cell)
                total += cell["hours"]
                if progress:
                    progress(cell)
    on_gpu = bool(given) or (device or "").startswith("cuda")
    cfg0 = base.resolved()
    k_info = {"runs_per_gpu": 1, "images_per_second": {}, "speedup": {}}
    k_given = _check_runs_per_gpu(runs_per_gpu if runs_per_gpu is not None else "auto")
    if runs_measured is not None:
        k_info = choose_runs_per_gpu(models, methods, base, datasets, measured=runs_measured)
    elif on_gpu and not given:
        k_info = choose_runs_per_gpu(models, methods, base, datasets)
    if k_given != "auto":
        per = k_info.get("images_per_second") or {}
        k_info = {
            **k_info,
            "runs_per_gpu": k_given,
            "speedup": {m: (v.get(k_given) or 0.0) / v[1] if v.get(1) else None for m, v in per.items()},
        }
    k = k_info["runs_per_gpu"]
    hours_k = None
    if on_gpu and (k == 1 or all(k_info["speedup"].get(c["model"]) for c in cells)):
        hours_k = sum(c["hours"] / (k_info["speedup"].get(c["model"]) or 1.0 if k > 1 else 1.0) for c in cells)
    return {
        "command": "table1",
        "dry_run": True,
        "grid": {"datasets": datasets, "models": models, "methods": methods, "seeds": seeds},
        "runs": len(datasets) * len(models) * len(methods) * len(seeds),
        "epochs": cfg0.epochs,
        "amp": cfg0.amp,
        "width": cfg0.width,
        "device": device,
        "cells": cells,
        "device_hours": total,
        "gpu_hours": total if on_gpu else None,
        "runs_per_gpu": k,
        "runs_per_gpu_measured": k_info,
        "gpu_hours_at_k": hours_k,
    }


def plan_markdown(plan: dict) -> str:
    """The dry run as text: the grid, one line per cell, the total."""
    g = plan["grid"]
    lines = [
        f"grid: {len(g['datasets'])} dataset(s) {' '.join(g['datasets'])} x {len(g['models'])} model(s) "
        f"{' '.join(g['models'])} x {len(g['methods'])} method(s) {' '.join(g['methods'])} x "
        f"{len(g['seeds'])} seed(s) = {plan['runs']} runs of {plan['epochs']} epochs "
        f"(amp {plan['amp']}, width {plan['width']:g})",
        "",
        "| dataset | model | method | batch | steps/epoch | s/step | images/s | h/run | h (all seeds) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in plan["cells"]:
        lines.append(
            f"| {c['dataset']} | {c['model']} | {c['method']} | {c['batch']} | {c['steps_per_epoch']} | "
            f"{c['step_seconds']:.4g} | {c['images_per_second']:.0f} | {c['run_hours']:.3g} | "
            f"{c['hours']:.3g} |"
        )
    unit = "GPU-hours" if plan["gpu_hours"] is not None else f"device-hours on {plan['device']} (no GPU timed)"
    how = "from the given --step-seconds" if plan["device"] == "given" else f"step times measured on {plan['device']}"
    lines += ["", f"projected: {plan['device_hours']:.3g} {unit}, one run at a time ({how}); nothing was trained"]
    k = plan.get("runs_per_gpu", 1)
    per = (plan.get("runs_per_gpu_measured") or {}).get("images_per_second") or {}
    if per:
        for model, v in per.items():
            lines.append(
                f"  {model}: total images/s with K runs per GPU: "
                + ", ".join(f"K={kk} {x:.0f}" if x else f"K={kk} failed" for kk, x in v.items())
            )
    if plan.get("gpu_hours_at_k") is not None:
        lines.append(f"runs per GPU: {k} (--runs-per-gpu {k}): projected {plan['gpu_hours_at_k']:.3g} GPU-hours")
    else:
        lines.append(f"runs per GPU: {k}" + ("" if plan["gpu_hours"] is not None else " (no GPU timed)"))
    return "\n".join(lines) + "\n"


def to_markdown(result: dict) -> str:
    """Table 1's shape: one row per method, one column per model (per dataset and model when there are several
    datasets), ``mean ± std`` of the test error (%)."""
    rows = result["rows"]
    cols = list(dict.fromkeys((r["dataset"], r["model"]) for r in rows))
    several = len({d for d, _ in cols}) > 1
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["dataset"], r["model"], r["method"]): r for r in rows}
    n = len(rows[0]["seeds"]) if rows else 0
    names = [f"{m} {d}" if several else m for d, m in cols]
    head = "| method | " + " | ".join(names) + " |\n|---|" + "---|" * len(cols) + "\n"
    body = ""
    for m in methods:
        vals = []
        for d, mod in cols:
            r = cell.get((d, mod, m))
            vals.append("–" if r is None else f"{r['test_error']:.2f} ± {r['test_error_std']:.2f}")
        body += f"| {TABLE1_LABELS.get(m, m)} | " + " | ".join(vals) + " |\n"
    ds = result.get("dataset")
    ds = ", ".join(ds) if isinstance(ds, list) else ds
    note = (
        f"\nTop-1 test error (%) on {ds}, mean ± sample std over {n} seed(s), "
        f"{result.get('epochs')} epochs, width {result.get('width')}.\n"
    )
    return head + body + note


def paper_ordering_holds(result: dict, model: str, dataset: str | None = None) -> dict:
    """Whether the means follow ADAM < BC < big-batch SR < SR < R for ``model`` (on ``dataset``, default: the
    first one), pairs reported one by one."""
    order = ["adam", "bc-adam", "big-sr-adam", "sr-adam", "r-adam"]
    rows = result["rows"]
    if dataset is None and rows:
        dataset = rows[0]["dataset"]
    mean = {r["method"]: r["test_error"] for r in rows if r["model"] == model and r["dataset"] == dataset}
    pairs = {f"{a} < {b}": (mean[a] < mean[b]) for a, b in itertools.pairwise(order) if a in mean and b in mean}
    return {"holds": all(pairs.values()) if pairs else None, "pairs": pairs}
