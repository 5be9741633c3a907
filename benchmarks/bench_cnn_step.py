"""Per-step time of BC-ADAM and SR-ADAM against full-precision ADAM on VGG-9 (width 1, batch 128, CPU).

One training step = forward + backward + optimizer step (+ the quantize-after-step, one fused pass over the flat
buffer of all conv weights). The three methods are measured in the same process, interleaved round by round, so
machine load hits them alike; the median over rounds is reported. Prints one JSON object.

    python benchmarks/bench_cnn_step.py [--rounds 8] [--batch 128] [--width 1] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from srchain.cnn.models import build_model, conv_weights
    from srchain.cnn.optim import QuantizedOptimizer
    from srchain.cnn.quantized import Grid

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = {"adam": "fp", "bc-adam": "bc", "sr-adam": "sr"}
    setups = {}
    for name, rule in methods.items():
        torch.manual_seed(0)
        model = build_model("vgg9", width=args.width)
        opt = QuantizedOptimizer(torch.optim.Adam(model.parameters(), lr=0.01), conv_weights(model), rule=rule,
                                 grid=Grid(1.0), generator=torch.Generator().manual_seed(0))
        setups[name] = (model, opt)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)

    def step(model, opt):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        return t2 - t0, t2 - t1

    times = {m: [] for m in methods}
    opt_times = {m: [] for m in methods}
    for r in range(args.warmup + args.rounds):
        for m, (model, opt) in setups.items():
            total, o = step(model, opt)
            if r >= args.warmup:
                times[m].append(total)
                opt_times[m].append(o)
    med = {m: statistics.median(v) for m, v in times.items()}
    res = {
        "benchmark": "cnn_step", "model": "vgg9", "width": args.width, "batch": args.batch, "device": "cpu",
        "threads": torch.get_num_threads(), "rounds": args.rounds, "torch": torch.__version__,
        "conv_params": sum(w.numel() for w in conv_weights(setups["adam"][0])),
        "step_seconds_median": med,
        "step_seconds_all": times,
        "optimizer_step_seconds_median": {m: statistics.median(v) for m, v in opt_times.items()},
        "overhead_vs_adam_percent": {m: 100.0 * (med[m] / med["adam"] - 1.0) for m in ("bc-adam", "sr-adam")},
        "target_percent": 10.0,
    }
    res["within_target"] = all(v <= 10.0 for v in res["overhead_vs_adam_percent"].values())
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
