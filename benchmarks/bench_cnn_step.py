"""CPU-side cost of one training step, before (the loop as it was) and after (srchain.cnn.step), in one run.

What bounds a small CNN's step on a GPU is the host: Python, operator dispatch and kernel launches, and every
point where the host waits for the device. This benchmark measures those on any machine, per (model, method):

* ``ops_per_step``: ATen operators dispatched per step (data batch, forward, loss, backward, optimizer, quantize,
  bookkeeping), and ``kernels_per_step``, those that launch a kernel on a GPU (not views, metadata, allocations
  or host scalar reads);
* ``syncs_per_step``: host synchronisations per step (``.item()``, ``bool(t)``, data-dependent shapes, device to
  host copies; :class:`srchain.cnn.profiling.StepCounter`; reads of torch's CPU-side Adam step counters are not
  syncs);
* ``host_ms_per_step``: wall time per step at a tiny width and batch, where the kernels do almost nothing, so
  the time is Python + dispatch (what a GPU step costs the host); median over interleaved rounds.

``before`` is the training loop of the previous version, reproduced here: the batch cut on the host and copied,
crop and flip as separate ops, ``loss.item()`` and ``math.isfinite`` every step, the per-parameter Adam/SGD loop.
``after`` is :func:`srchain.cnn.train.build_run`'s step fed by :meth:`InMemoryData.batches` (one gather on the
device, foreach optimizer, losses and error counts accumulated on the device). Both see the same batches and must
end with bit-identical weights (``identical_weights``). ``--full`` adds the width-1, batch-128 step time on the CPU
(compute-bound there: the quantized methods' overhead against ADAM). Prints one JSON object.

    python benchmarks/bench_cnn_step.py [--models vgg9 resnet56] [--steps 10] [--rounds 5] [--full]
    python benchmarks/bench_cnn_step.py --legacy-optimizer foreach     # the baseline as it ran on CUDA
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import time


def legacy_steps(parts, data, cfg, device, steps, epoch=0):
    """The previous version's epoch loop (cnn/train.py before this change), over ``steps`` steps."""
    import torch
    import torch.nn.functional as F
    from srchain.cnn.data import epoch_generator, random_crop_flip

    net, opt, autocast = parts["net"], parts["opt"], parts["autocast"]
    order = torch.randperm(len(data.train_y), generator=epoch_generator(cfg.seed, epoch, 0))
    aug = epoch_generator(cfg.seed, epoch, 1, 0, device=device.type)
    wrong = torch.zeros((), dtype=torch.long, device=device)
    seen = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = 0.0
    for s in range(steps):
        idx = order[s * cfg.batch : (s + 1) * cfg.batch]
        x = data._float(data.train_x[idx].to(device, non_blocking=True))
        x = random_crop_flip(x, data.pad, data.flip, aug)
        x = (x - data.mean.to(device)) / data.std.to(device)
        y = data.train_y[idx].to(device, non_blocking=True)
        with autocast():
            logits = net(x)
            loss = F.cross_entropy(logits.float(), y)
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError("non-finite loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        wrong += (logits.argmax(1) != y).sum()
        seen += len(y)
        loss_sum += lv
    return loss_sum


def new_steps(parts, data, cfg, device, steps, epoch=0):
    """The new loop's steps (the epoch-end read of the losses is not part of them)."""
    step = parts["step"]
    step.begin_epoch(steps)
    it = data.batches(cfg.batch, epoch, cfg.seed, device, channels_last=parts["channels_last"])
    for _ in range(steps):
        x, y = next(it)
        step(x, y)


def build(cfg, device, legacy: str | None):
    """A run's parts; ``legacy`` swaps in the previous version's optimizer (``default``: torch's choice, the
    per-parameter loop on the CPU and foreach on CUDA; ``foreach``: what it was on CUDA, on any device)."""
    from srchain.cnn import train as tr

    if not legacy:
        return tr.build_run(cfg, device, 10)
    real = tr.make_base_optimizer
    tr.make_base_optimizer = lambda *a, **k: real(*a, **{**k, "impl": legacy})
    try:
        return tr.build_run(cfg, device, 10)
    finally:
        tr.make_base_optimizer = real


def measure(model, method, args, device):
    import torch
    from srchain.cnn.data import load_dataset
    from srchain.cnn.profiling import StepCounter
    from srchain.cnn.train import TrainConfig

    cfg = TrainConfig(
        model=model,
        method=method,
        width=args.width,
        image_size=args.image_size,
        batch=args.batch,
        big_batch=args.big_batch,
        device=device.type,
        seed=0,
    ).resolved()
    data = load_dataset("digits", image_size=args.image_size)
    legacy_cfg = dataclasses.replace(cfg, channels_last=False)
    runners = {
        "before": (build(legacy_cfg, device, args.legacy_optimizer), legacy_steps),
        "after": (build(cfg, device, None), new_steps),
    }
    out = {}
    for name, (parts, fn) in runners.items():  # operators and syncs of the first `steps` steps
        fn(parts, data, cfg, device, 1, epoch=99)  # creates the optimizer state (not counted)
        with StepCounter() as c:
            fn(parts, data, cfg, device, args.steps, epoch=0)
        out[name] = {
            "ops_per_step": c.ops / args.steps,
            "kernels_per_step": c.kernels / args.steps,
            "syncs_per_step": c.syncs / args.steps,
            "sync_ops": dict(c.sync_ops),
        }
        if name == "after":  # the one read per epoch (or per --sync-every steps)
            with StepCounter() as c:
                parts["step"].read()
            out[name]["syncs_per_epoch_read"] = c.syncs
    # both have now taken the same 1 + steps steps: the weights must agree bit for bit
    a = runners["before"][0]["model"].state_dict()
    b = runners["after"][0]["model"].state_dict()
    identical = all(torch.equal(a[k], b[k]) for k in a)
    times = {name: [] for name in runners}
    for r in range(args.warmup + args.rounds):  # interleaved, so machine load hits both alike
        for name, (parts, fn) in runners.items():
            t0 = time.perf_counter()
            fn(parts, data, cfg, device, args.steps, epoch=1 + r)
            if name == "after":
                parts["step"].read()  # the once-per-epoch read, timed with the steps
            if device.type == "cuda":
                torch.cuda.synchronize()
            if r >= args.warmup:
                times[name].append((time.perf_counter() - t0) / args.steps)
    for name in runners:
        out[name]["host_ms_per_step"] = 1e3 * statistics.median(times[name])
    out["identical_weights"] = identical
    out["batch"] = cfg.batch
    out["ops_ratio"] = out["before"]["ops_per_step"] / out["after"]["ops_per_step"]
    out["kernels_ratio"] = out["before"]["kernels_per_step"] / out["after"]["kernels_per_step"]
    out["host_time_ratio"] = out["before"]["host_ms_per_step"] / out["after"]["host_ms_per_step"]
    return out


def full_size(args):
    """The width-1, batch-128 CPU step of the three VGG-9 methods (compute-bound: the quantizers' overhead)."""
    import torch
    from srchain.cnn.train import TrainConfig, build_run

    med = {}
    setups = {}
    for m in ("adam", "bc-adam", "sr-adam"):
        cfg = TrainConfig(model="vgg9", method=m, width=1.0, batch=128, device="cpu").resolved()
        setups[m] = build_run(cfg, torch.device("cpu"), 10)["step"]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    times = {m: [] for m in setups}
    for r in range(2 + args.full_rounds):
        for m, step in setups.items():
            step.begin_epoch(1)
            t0 = time.perf_counter()
            step(x, y)
            if r >= 2:
                times[m].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    return {
        "step_seconds_median": med,
        "overhead_vs_adam_percent": {m: 100.0 * (med[m] / med["adam"] - 1.0) for m in ("bc-adam", "sr-adam")},
        "target_percent": 10.0,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["vgg9", "resnet56", "wrn56-2"])
    ap.add_argument("--methods", nargs="+", default=["adam", "sr-adam", "bc-adam", "r-adam", "big-sr-adam"])
    ap.add_argument("--steps", type=int, default=10, help="steps per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--width", type=float, default=0.0625, help="tiny, so the kernels cost next to nothing")
    ap.add_argument("--image-size", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--big-batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--legacy-optimizer",
        default="default",
        choices=("default", "foreach"),
        help="the 'before' optimizer: torch's default (the loop on the CPU, as the previous version "
        "ran there) or foreach (what the previous version ran on CUDA)",
    )
    ap.add_argument("--full", action="store_true", help="also the width-1, batch-128 CPU step times")
    ap.add_argument("--full-rounds", type=int, default=4)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    res = {
        "benchmark": "cnn_step",
        "device": str(device),
        "torch": torch.__version__,
        "threads": args.threads,
        "legacy_optimizer": args.legacy_optimizer,
        "width": args.width,
        "image_size": args.image_size,
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "cells": {},
    }
    for model in args.models:
        for method in args.methods:
            res["cells"][f"{model} {method}"] = measure(model, method, args, device)
    cells = res["cells"].values()
    res["summary"] = {
        "ops_per_step_before": {k: round(v["before"]["ops_per_step"], 1) for k, v in res["cells"].items()},
        "ops_per_step_after": {k: round(v["after"]["ops_per_step"], 1) for k, v in res["cells"].items()},
        "kernels_per_step_before": {k: round(v["before"]["kernels_per_step"], 1) for k, v in res["cells"].items()},
        "kernels_per_step_after": {k: round(v["after"]["kernels_per_step"], 1) for k, v in res["cells"].items()},
        "syncs_per_step_before": max(v["before"]["syncs_per_step"] for v in cells),
        "syncs_per_step_after": max(v["after"]["syncs_per_step"] for v in cells),
        "host_ms_per_step_before": {k: round(v["before"]["host_ms_per_step"], 2) for k, v in res["cells"].items()},
        "host_ms_per_step_after": {k: round(v["after"]["host_ms_per_step"], 2) for k, v in res["cells"].items()},
        "all_identical_weights": all(v["identical_weights"] for v in cells),
    }
    if args.full:
        res["full_size_cpu"] = full_size(args)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
