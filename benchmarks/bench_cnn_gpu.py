"""Throughput on a GPU: one epoch of VGG-9 (width 1) per method on the offline digits, CUDA + mixed precision.

Prints one JSON object with images/s per method (training images of the timed epoch / its wall time; a first
untimed epoch warms up cuDNN and the allocator). Without CUDA it prints {"skipped": ...} and exits 0: CI never
depends on it.

    python benchmarks/bench_cnn_gpu.py [--epochs-timed 1] [--width 1]
"""
from __future__ import annotations

import argparse
import json
import tempfile


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--no-amp", dest="amp", action="store_false")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "cnn_gpu", "skipped": "no CUDA device"}))
        return 0
    from srchain.cnn.train import TrainConfig, train

    torch.backends.cudnn.benchmark = True
    res = {"benchmark": "cnn_gpu", "device": torch.cuda.get_device_name(0), "amp": args.amp, "width": args.width,
           "torch": torch.__version__, "images_per_second": {}}
    for method in ("adam", "bc-adam", "sr-adam", "big-sr-adam", "r-adam"):
        with tempfile.TemporaryDirectory() as tmp:
            out = train(TrainConfig(model="vgg9", method=method, dataset="digits", epochs=2, width=args.width,
                                    device="cuda", amp=args.amp, quiet=True, out=tmp))
        rec = out["history"][-1]                  # the second epoch: warm
        n_train = 1438
        res["images_per_second"][method] = n_train / rec["seconds"]
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
