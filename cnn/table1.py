"""Table 1: top-1 test error of a grid of models × methods, each trained with several seeds.

Each cell is the mean of the final test error over the seeds, with the sample standard deviation (n − 1) as
the spread. Every run is an ordinary :func:`srchain.cnn.train.train` run in ``OUT/MODEL/METHOD/seedN``, so its
log feeds ``srchain plot`` (Figures 4–7) and an interrupted grid continues with ``resume=True``.
"""
from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from srchain.cnn.registry import MODELS, TABLE1_LABELS, check_model, parse_method
from srchain.errors import SrchainError

__all__ = ["run_table1", "to_markdown", "PAPER_TABLE1"]

#: Table 1 of the paper (CIFAR-10 columns), for comparison in reports.
PAPER_TABLE1 = {"vgg9": {"adam": 7.97, "bc-adam": 10.36, "big-sr-adam": 16.95, "sr-adam": 23.33, "r-adam": 23.99},
                "vgg-bc": {"adam": 7.12, "bc-adam": 8.21, "big-sr-adam": 16.77, "sr-adam": 20.56, "r-adam": 21.88},
                "resnet56": {"adam": 8.10, "bc-adam": 8.83, "big-sr-adam": 19.84, "sr-adam": 26.49,
                             "r-adam": 33.56},
                "wrn56-2": {"adam": 6.62, "bc-adam": 7.17, "big-sr-adam": 16.04, "sr-adam": 21.58, "r-adam": 27.90}}


def _finished_log(path: Path, epochs: int):
    """The last record of a finished run's log, or ``None`` (also for a missing or malformed log: the run is then
    continued from its checkpoint, or started again)."""
    from srchain.cnn.plots import read_log

    try:
        last = read_log(path)[-1]
    except SrchainError:
        return None
    return last if last["epoch"] == epochs else None


def run_table1(models, methods, seeds, base, out=None, resume=False, progress=None) -> dict:
    """Train every (model, method, seed) and summarise.

    Parameters
    ----------
    models, methods : sequences of str
        Names from :data:`~srchain.cnn.registry.MODELS` and ``parse_method``.
    seeds : sequence of int
        One run per seed.
    base : TrainConfig
        Shared settings (dataset, epochs, width, lr, ...); model, method, seed and out are replaced.
    out : path, optional
        Folder for the runs (a temporary one, deleted afterwards, when omitted).
    resume : bool
        Reuse finished runs and continue interrupted ones found in ``out``.

    Returns
    -------
    dict
        ``{"command": "table1", "rows": [{"model", "method", "dataset", "test_error", "test_error_std",
        "test_errors", "train_error", "seeds"}, ...], "epochs", "width", "seconds"}``.
    """
    from srchain.cnn.train import train

    models = [check_model(m) for m in models]
    methods = [parse_method(m).name for m in methods]
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise SrchainError("--seeds must be >= 1")
    if resume and out is None:
        raise SrchainError("--resume needs --out DIR, the folder of the runs to continue")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise SrchainError(f"--out {out} exists and is not a directory")
    # every cell's settings and memory are checked before the first run starts
    from srchain.cnn.resources import check_run_memory

    for model in models:
        for method in methods:
            rc = dataclasses.replace(base, model=model, method=method).resolved()
            check_run_memory(rc, rc.device, rc.max_memory)
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="srchain-table1-")
        out = tmp.name
    out = Path(out)
    rows, t0 = [], time.perf_counter()
    cfg0 = base.resolved() if base.model in MODELS else base
    try:
        for model in models:
            for method in methods:
                test, trn = [], []
                for seed in seeds:
                    cfg = dataclasses.replace(base, model=model, method=method, seed=seed,
                                              out=str(out / model / method / f"seed{seed}"), resume=resume)
                    rcfg = cfg.resolved()
                    fin = _finished_log(Path(rcfg.out) / "log.jsonl", rcfg.epochs) if resume else None
                    if fin is None:
                        fin = train(cfg)["final"]
                    test.append(fin["test_error"])
                    trn.append(fin["train_error"])
                    if progress:
                        progress(model, method, seed, fin)
                rows.append({"model": model, "method": method, "dataset": base.dataset,
                             "test_error": statistics.fmean(test),
                             "test_error_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                             "test_errors": test, "train_error": statistics.fmean(trn), "seeds": seeds})
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"command": "table1", "rows": rows, "dataset": base.dataset, "epochs": cfg0.epochs,
            "width": base.width, "seconds": time.perf_counter() - t0,
            "runs": None if tmp is not None else str(out)}


def to_markdown(result: dict) -> str:
    """Table 1's shape: one row per method, one column per model, ``mean ± std`` of the test error (%)."""
    rows = result["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["model"], r["method"]): r for r in rows}
    n = len(rows[0]["seeds"]) if rows else 0
    head = "| method | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n"
    body = ""
    for m in methods:
        vals = []
        for mod in models:
            r = cell.get((mod, m))
            vals.append("–" if r is None else f"{r['test_error']:.2f} ± {r['test_error_std']:.2f}")
        body += f"| {TABLE1_LABELS.get(m, m)} | " + " | ".join(vals) + " |\n"
    note = (f"\nTop-1 test error (%) on {result.get('dataset')}, mean ± sample std over {n} seed(s), "
            f"{result.get('epochs')} epochs, width {result.get('width')}.\n")
    return head + body + note


def paper_ordering_holds(result: dict, model: str) -> dict:
    """Whether the means follow ADAM < BC < big-batch SR < SR < R for ``model`` (pairs reported one by one)."""
    order = ["adam", "bc-adam", "big-sr-adam", "sr-adam", "r-adam"]
    mean = {r["method"]: r["test_error"] for r in result["rows"] if r["model"] == model}
    pairs = {f"{a} < {b}": (mean[a] < mean[b]) for a, b in zip(order, order[1:]) if a in mean and b in mean}
    return {"holds": all(pairs.values()) if pairs else None, "pairs": pairs}
