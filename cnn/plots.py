"""Figures 4–7 of the paper from ``log.jsonl`` files written by :func:`srchain.cnn.train.train`.

* ``fig4_flips_per_layer.png``: percentage of weights whose sign changed since initialisation, per layer, one
  panel per log (Figure 4: R-, BC-, SR-ADAM side by side).
* ``fig5_flips.png``: (b) percentage of conv weights changed since initialisation and (c) changed over the last
  ``k`` epochs, one line per log (Figure 5(b, c)).
* ``fig6_errors.png``: train (solid) and test (dashed) error per epoch, one colour per log (Figure 6).
* ``fig7_wb_minus_wr.png``: the average ``|w_b − w_r|`` per conv layer for BC logs (Figure 7(b, c)); skipped when
  no log carries it.
"""

from __future__ import annotations

import json
from pathlib import Path

from srchain.errors import SrchainError

__all__ = ["read_log", "plot_logs", "FIGURES", "MAX_LAYERS"]

#: The files :func:`plot_logs` writes (Figure 7 only for BC logs).
FIGURES = ("fig4_flips_per_layer.png", "fig5_flips.png", "fig6_errors.png", "fig7_wb_minus_wr.png")
#: The most layers a log record may list (the paper's nets have tens; each layer is a line of Figure 4).
MAX_LAYERS = 1000


def read_log(path) -> list:
    """The records of a JSON-lines log of :func:`srchain.cnn.train.train`, checked.

    Raises :class:`SrchainError` (one line, naming the file and the line) for a missing, empty, unreadable or
    malformed log: every record must be an object with a whole ``epoch`` >= 1, numeric ``train_error`` and
    ``test_error``, and the same non-empty ``layers`` as the others, each with numeric ``flipped_since_init`` and
    ``flipped_last_k`` and a numeric or null ``mean_abs_wb_minus_wr``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SrchainError(f"log {path} does not exist; pass OUT/log.jsonl of a `srchain train` run") from None
    except UnicodeDecodeError as exc:
        raise SrchainError(f"cannot read {path} as JSON lines: it is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SrchainError(f"cannot read {path}: {exc.strerror or exc}") from None
    recs = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            recs.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SrchainError(f"cannot read {path} as JSON lines: line {no}: {getattr(exc, 'msg', exc)}") from None
        _check_record(recs[-1], path, no)
    if not recs:
        raise SrchainError(f"log {path} is empty")
    names = set(recs[-1]["layers"])
    for i, r in enumerate(recs):
        if set(r["layers"]) != names:
            raise SrchainError(
                f"log {path}: record {i + 1} has layers {sorted(r['layers'])}, the last record "
                f"{sorted(names)}; is it one run's log?"
            )
    return recs


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_record(r, path, no) -> None:
    def bad(what):
        raise SrchainError(f"log {path}, line {no}: {what}; pass OUT/log.jsonl of a `srchain train` run")

    if not isinstance(r, dict):
        bad(f"a {type(r).__name__}, not a record (a JSON object)")
    e = r.get("epoch")
    if not (_is_number(e) and e == e and abs(e) != float("inf") and float(e).is_integer() and e >= 1):
        bad(f"'epoch' must be a whole number >= 1, got {e!r}")
    for key in ("train_error", "test_error"):
        if not _is_number(r.get(key)):
            bad(f"{key!r} must be a number, got {r.get(key)!r}")
    layers = r.get("layers")
    if not isinstance(layers, dict) or not layers:
        bad(f"'layers' must be a non-empty object of per-layer metrics, got {layers!r}"[:200])
    if len(layers) > MAX_LAYERS:
        bad(f"'layers' lists {len(layers)} layers, more than the {MAX_LAYERS} a net of srchain train has")
    for name, v in layers.items():
        if not isinstance(v, dict):
            bad(f"layer {name!r} must be an object, got {v!r}"[:200])
        for key in ("flipped_since_init", "flipped_last_k"):
            if not _is_number(v.get(key)):
                bad(f"layer {name!r}: {key!r} must be a number, got {v.get(key)!r}")
        w = v.get("mean_abs_wb_minus_wr")
        if w is not None and not _is_number(w):
            bad(f"layer {name!r}: 'mean_abs_wb_minus_wr' must be a number or null, got {w!r}")
    for key in ("conv_flipped_since_init", "conv_flipped_last_k"):
        if r.get(key) is not None and not _is_number(r[key]):
            bad(f"{key!r} must be a number, got {r[key]!r}")
    if "k" in r and not (_is_number(r["k"])):
        bad(f"'k' must be a number, got {r['k']!r}")


def _label(path, recs):
    r = recs[-1]
    if "method" in r:
        extra = f" s{r['seed']}" if "seed" in r else ""
        return f"{r.get('model', '')} {r['method']}{extra}".strip()
    return Path(path).parent.name or str(path)


def plot_logs(paths, out, labels=None, dpi=120) -> list:
    """Write Figures 4–7 (as PNGs) for the logs ``paths`` into folder ``out``; return the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srchain.io import refuse_link, write_figure

    logs = [read_log(p) for p in paths]
    labels = list(labels) if labels else [_label(p, r) for p, r in zip(paths, logs, strict=True)]
    out = Path(out)
    for name in FIGURES:  # before anything is drawn: no figure is written through a symbolic link
        refuse_link(out / name, "--out file")
    out.mkdir(parents=True, exist_ok=True)
    written = []

    # Figure 4: flips since init per layer, one panel per log
    n = len(logs)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False, sharey=True)
    for ax, recs, lab in zip(axes[0], logs, labels, strict=True):
        ep = [r["epoch"] for r in recs]
        for name in recs[-1]["layers"]:
            ax.plot(
                ep,
                [r["layers"][name]["flipped_since_init"] for r in recs],
                label=name,
                ls="-" if name.startswith("conv") else "--",
            )
        ax.set_title(lab)
        ax.set_xlabel("epochs")
    axes[0][0].set_ylabel("weights changed since init (%)")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    written.append(out / "fig4_flips_per_layer.png")
    write_figure(fig, written[-1], dpi=dpi, name="--out file")
    plt.close(fig)

    # Figure 5 (b, c): all conv layers together
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for recs, lab in zip(logs, labels, strict=True):
        ep = [r["epoch"] for r in recs]
        a1.plot(ep, [_conv_total(r, "flipped_since_init") for r in recs], label=lab)
        a2.plot(ep, [_conv_total(r, "flipped_last_k") for r in recs], label=lab)
    k = logs[0][-1].get("k", 5)
    a1.set(xlabel="epochs", ylabel="conv weights changed (%)", title="since initialisation")
    a2.set(xlabel="epochs", ylabel="conv weights changed (%)", title=f"over the last {k} epochs")
    a2.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "fig5_flips.png")
    write_figure(fig, written[-1], dpi=dpi, name="--out file")
    plt.close(fig)

    # Figure 6: errors
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (recs, lab) in enumerate(zip(logs, labels, strict=True)):
        ep = [r["epoch"] for r in recs]
        c = f"C{i % 10}"
        ax.plot(ep, [r["train_error"] for r in recs], c=c, label=lab)
        ax.plot(ep, [r["test_error"] for r in recs], c=c, ls="--")
    ax.set(xlabel="epochs", ylabel="error (%) (solid: train, dashed: test)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "fig6_errors.png")
    write_figure(fig, written[-1], dpi=dpi, name="--out file")
    plt.close(fig)

    # Figure 7: |w_b - w_r| (BC logs only)
    bc = [
        (recs, lab)
        for recs, lab in zip(logs, labels, strict=True)
        if any(v.get("mean_abs_wb_minus_wr") is not None for v in recs[-1]["layers"].values())
    ]
    if bc:
        fig, axes = plt.subplots(1, len(bc), figsize=(4.2 * len(bc), 3.4), squeeze=False)
        for ax, (recs, lab) in zip(axes[0], bc, strict=True):
            ep = [r["epoch"] for r in recs]
            for name, v in recs[-1]["layers"].items():
                if v.get("mean_abs_wb_minus_wr") is not None:
                    ax.plot(ep, [r["layers"][name]["mean_abs_wb_minus_wr"] for r in recs], label=name)
            ax.set(title=lab, xlabel="epochs", ylabel="average |w_b − w_r|")
        axes[0][-1].legend(fontsize=6, ncol=2)
        fig.tight_layout()
        written.append(out / "fig7_wb_minus_wr.png")
        write_figure(fig, written[-1], dpi=dpi, name="--out file")
        plt.close(fig)
    return [str(p) for p in written]


def _conv_total(rec, key):
    total = rec.get(f"conv_{key}")
    if total is not None:
        return total
    vals = [v[key] for n, v in rec["layers"].items() if n.startswith("conv")]
    return sum(vals) / max(len(vals), 1)  # unweighted fallback for logs without the totals
