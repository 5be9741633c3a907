"""The README's GPU figures (Markdown) from the files ``benchmarks/device_cnn.py`` wrote into OUT.

python benchmarks/device_cnn_report.py OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _k(v) -> str:
    return "–" if v is None else f"{v / 1000:.1f}k"


def report(out: Path) -> str:
    bench, amp, plan, grid, summ = (
        _read(out / n) for n in ("bench.json", "amp_auto.json", "dryrun.json", "grid.json", "summary.json")
    )
    lines = []
    if bench:
        lines += [
            f"Device: {bench.get('device')}, torch {bench.get('torch')}, CUDA {bench.get('cuda')}; images/s of one "
            "run, 1 s timed after the warm-up (and the capture), real data path, sync check on.",
            "",
            "| model | method | batch | mode | precision | images/s | step ms | syncs in step | captures |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in bench.get("cells", []):
            if c.get("error"):
                lines.append(f"| {c.get('label')} | | | | | error: {c['error'][:80]} | | | |")
                continue
            lines.append(
                f"| {c['model']} | {c['method']} | {c['batch']} | {c.get('mode')}"
                + (" det." if c.get("deterministic") else "")
                + f" | {c['amp']} | {_k(c.get('images_per_second'))} | {c.get('step_ms', 0):.2f} | "
                f"{'yes: ' + str(c.get('sync_where')) if c.get('sync_inside_step') else 'none'} | "
                f"{c.get('captures')} |"
            )
        s = bench.get("summary") or {}
        lines += ["", f"Goals (batch 128, every method measured): {json.dumps(s.get('goals'))}"]
        lines.append(f"Mixed precision slower than fp32: {s.get('mixed_precision_slower_than_fp32')}")
        for p in bench.get("profiles") or []:
            if "top_kernels" not in p:
                continue
            lines.append(
                f"\n{p['what']}: {p['wall_ms_per_step']:.1f} ms wall, {p['device_ms_per_step']:.1f} ms of kernels, "
                f"{p['kernels_per_step']:.0f} kernels per step; top: "
                + "; ".join(f"{k['name'][:50]} {k['ms_per_step']:.2f} ms" for k in p["top_kernels"][:5])
            )
        ch = bench.get("checks") or {}
        for name in ("graph_vs_eager", "resume", "train_epoch"):
            if ch.get(name):
                lines.append(f"- {name}: {json.dumps(ch[name])}")
    if amp:
        lines += [
            "",
            "`--amp auto`: "
            + "; ".join(
                f"{r['model']} batch {r['batch']} {'graph' if r.get('graph') else 'eager'} → {r['amp']} "
                f"({', '.join(f'{a} {_k(v)}' for a, v in (r.get('images_per_second') or {}).items())})"
                for r in amp
            ),
        ]
    if plan:
        lines += [
            "",
            f"`srchain table1 --dry-run` (CIFAR-10 and -100, 4 models, 5 methods, {plan.get('epochs')} epochs, "
            f"1 seed): {plan.get('gpu_hours') or 0:.2f} GPU-hours one run at a time; K = {plan.get('runs_per_gpu')} "
            f"runs per GPU → {plan.get('gpu_hours_at_k') or 0:.2f} GPU-hours. Measured totals: "
            + json.dumps((plan.get("runs_per_gpu_measured") or {}).get("images_per_second")),
        ]
    if summ and summ.get("grid"):
        g = summ["grid"]
        lines.append(
            f"Short grid ({g['runs_in_grid']} runs, 2 epochs, {g['train_images_per_epoch']} synthetic training "
            f"images per epoch, {g['test_images']} test images, --runs-per-gpu {g['runs_per_gpu']}): "
            f"{g['runs_finished']}/{g['runs_in_grid']} runs finished, wall {g['wall_seconds_of_the_command']:.0f} s "
            f"(table1's own {g.get('table1_seconds') or 0:.0f} s); precision by run {g.get('amp_by_run')}"
        )
    if grid:
        lines.append(f"grid.json: {len(grid.get('rows', []))} rows")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(report(Path(sys.argv[1])), end="")
