"""The quantize-after-step on a number format against the ΔZ one, on one flat buffer of conv weights.

Times, on the same float32 buffer (``--n`` weights, default the 1.2M conv weights of VGG-9 at width 0.5), the
existing ΔZ Qs of ``sr-adam`` (the baseline) and Qd/Qs of each number format (bf16, fp8, fp4 with its per-tensor
scale over ``--blocks`` tensors, and 8-bit SR), best of ``--repeat`` timings of ``--inner`` calls, and prints one
JSON object (seconds per call and the ratio to the baseline).

    python benchmarks/bench_cnn_formats.py [--n 1200000] [--device cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None):
    import torch
    from srchain.cnn.formats import get_format
    from srchain.cnn.quantized import Grid, qs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_200_000)
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--inner", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(args.n, generator=g, device=dev) * 0.05
    ids = torch.arange(args.blocks, device=dev).repeat_interleave(-(-args.n // args.blocks))[: args.n]
    fp4 = get_format("fp4")
    tables = fp4._tables(dev)

    def fp4_scale(w):
        amax = torch.zeros(args.blocks, device=dev).scatter_reduce_(0, ids, w.abs(), reduce="amax")
        return fp4.block_scale(amax)[ids]

    cases = {
        "baseline sr-adam (Qs on ΔZ, binary)": lambda: qs(x, Grid(1.0), generator=g),
        "r-bf16 (Qd)": lambda: get_format("bf16").qd(x),
        "sr-bf16 (Qs)": lambda: get_format("bf16").qs(x, generator=g),
        "sr8-bf16 (8-bit Qs)": lambda: get_format("bf16").qs(x, generator=g, bits=8),
        "sr-fp8 (Qs, e4m3)": lambda: get_format("fp8").qs(x, generator=g),
        "sr-fp4 (Qs, per-tensor scale)": lambda: fp4.qs(x, generator=g, scale=fp4_scale(x), tables=tables),
    }
    out = {}
    for name, fn in cases.items():
        fn()
        best = float("inf")
        for _ in range(args.repeat):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            for _ in range(args.inner):
                fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            best = min(best, (time.perf_counter() - t0) / args.inner)
        out[name] = best
    base = out["baseline sr-adam (Qs on ΔZ, binary)"]
    print(
        json.dumps(
            {
                "n": args.n,
                "device": str(dev),
                "threads": args.threads,
                "seconds_per_call": out,
                "ratio_to_baseline": {k: v / base for k, v in out.items()},
            },
            indent=1,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
