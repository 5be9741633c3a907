"""A small CPU Table 1: VGG-9 (width 1/4) on the offline digits, the five methods, 3 seeds each.

Runs the command below as a subprocess, times it, and prints one JSON object with the table (mean ± sample std
over seeds), the wall time and whether the paper's ordering ADAM < BC < big-batch SR < SR < R holds.
Settings are the CLI's defaults for digits except width and seeds: 10 epochs, batch 128 (big-batch SR: 1024, as
Appendix H.1), lr 0.01 divided by 10 at epochs 5 and 7, Δ = 1.

    python benchmarks/bench_cnn_table1.py [--seeds 3] [--width 0.25] [--epochs 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="keep the runs' logs here")
    args = ap.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="bench_cnn_table1_"))
    cmd = [
        "srchain",
        "table1",
        "--models",
        "vgg9",
        "--methods",
        "adam",
        "bc-adam",
        "big-sr-adam",
        "sr-adam",
        "r-adam",
        "--dataset",
        "digits",
        "--seeds",
        str(args.seeds),
        "--width",
        str(args.width),
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(work / "runs"),
        "--json",
        str(work / "table1.json"),
        "--markdown",
        str(work / "table1.md"),
    ]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "srchain.cli", *cmd[1:]], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return p.returncode
    res = json.loads((work / "table1.json").read_text())
    print(
        json.dumps(
            {
                "benchmark": "cnn_table1",
                "command": " ".join(cmd),
                "wall_seconds": wall,
                "markdown": (work / "table1.md").read_text(),
                "ordering": res["ordering"],
                "rows": res["rows"],
                "runs": str(work / "runs"),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
