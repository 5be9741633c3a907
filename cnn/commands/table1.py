"""``srchain table1``: a grid of models × methods × seeds, printed as a Markdown table in Table 1's shape.

Every run is a task of the sweep engine: in this process by default, on a local Dask cluster (``--workers N``) or
an existing one (``--scheduler ADDRESS``), claiming ``GPU=1`` when it trains on CUDA. ``--dry-run`` prints the grid
and its projected GPU-hours (step times measured on this machine's device, or ``--step-seconds``) without training.
"""

from __future__ import annotations

import argparse

OUTPUTS = {"json": "file", "out": "dir", "markdown": "file"}
HELP = "train a models x methods x seeds grid and print Table 1 (top-1 test error, mean ± std over seeds)"


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cnn.commands.train import add_run_options
    from srchain.cnn.registry import DATASETS, MODELS, TABLE1_METHODS, method_arg

    from srchain.cli import add_output_options, positive_int

    parser.add_argument(
        "--models",
        nargs="+",
        default=["vgg9"],
        choices=tuple(MODELS),
        metavar="MODEL",
        help=f"networks: {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(TABLE1_METHODS),
        type=method_arg,
        metavar="METHOD",
        help="methods (default: the five of Table 1); also weights in a number format, e.g. sr-bf16-adam, "
        "r-bf16-adam, sr8-bf16-adam, bc-bf16-adam, sr-fp8-adam, sr-fp4-adam (see train --help)",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=3, metavar="N", help="runs per cell, seeds SEED..SEED+N-1"
    )
    add_run_options(parser, multi=True)
    for action in parser._actions:  # table1 takes several datasets (the paper: CIFAR-10 and -100)
        if action.dest == "dataset":
            action.nargs, action.default, action.metavar = "+", ["digits"], "DATASET"
            action.help = f"datasets ({', '.join(DATASETS)}); with several, runs go to OUT/DATASET/MODEL/..."
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="keep every run's log here (OUT/MODEL/METHOD/seedN); default: a temporary folder",
    )
    parser.add_argument("--resume", action="store_true", help="reuse finished runs in --out, continue others")
    parser.add_argument("--markdown", default=None, metavar="PATH", help="also write the table here")
    g = parser.add_argument_group("sweep")
    g.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="train the runs on a local Dask cluster of N processes (on CUDA: worker i uses GPU i mod "
        "the GPU count, so N = K x GPUs trains K runs per GPU); default: in this process",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="train the runs on the Dask cluster at ADDRESS (workers started with --resources GPU=1 "
        "for CUDA runs; --out must be a folder they share)",
    )
    g.add_argument(
        "--runs-per-gpu",
        type=_runs_per_gpu,
        default=None,
        metavar="K|auto",
        help="CUDA: K runs share each GPU (each task claims GPU=1/K; without --workers a local cluster of "
        "K x GPUs workers is started); auto: K measured as --dry-run does (default 1; --dry-run: auto)",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="print the grid and its projected GPU-hours (timing a few steps of each cell on this "
        "machine, or from --step-seconds) without training",
    )
    g.add_argument(
        "--step-seconds",
        nargs="+",
        default=None,
        metavar="S|MODEL=S",
        help="--dry-run: seconds of one batch-128 training step (for every model, or per model), "
        "instead of timing them here",
    )
    add_output_options(parser, plot=False)


def _runs_per_gpu(text):
    import argparse

    if text == "auto":
        return text
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 or auto, got {text!r}")
    return k


def run(args: argparse.Namespace) -> int:
    from srchain.cnn.commands.train import config_from_args
    from srchain.cnn.table1 import paper_ordering_holds, plan_markdown, plan_table1, run_table1, to_markdown

    from srchain.errors import SrchainError
    from srchain.io import write_json, write_text_atomic

    if args.resume and args.out is None:
        raise SrchainError("--resume needs --out DIR, the folder of the runs to continue")
    if args.workers is not None and args.scheduler is not None:
        raise SrchainError("give --workers or --scheduler, not both")
    if args.step_seconds and not args.dry_run:
        raise SrchainError("--step-seconds only goes with --dry-run")
    datasets = list(dict.fromkeys(args.dataset))
    base = config_from_args(args, model=args.models[0], method=args.methods[0], dataset=datasets[0])
    seeds = list(range(args.seed, args.seed + args.seeds))

    if args.dry_run:

        def timed(cell):
            if not args.quiet and cell["step_time"] == "measured":
                print(
                    f"  timed {cell['dataset']} {cell['model']} {cell['method']}: {cell['step_seconds']:.4g} s "
                    f"per step of {cell['batch']}",
                    flush=True,
                )

        plan = plan_table1(
            args.models,
            args.methods,
            seeds,
            base,
            datasets=datasets,
            step_seconds=args.step_seconds,
            progress=timed,
            runs_per_gpu=args.runs_per_gpu,
        )
        text = plan_markdown(plan)
        print(text, end="")
        if args.json:
            write_json(args.json, plan)
        if args.markdown:
            write_text_atomic(args.markdown, text)
        return 0

    def progress(model, method, seed, fin):
        if not args.quiet:
            print(f"  {model} {method} seed {seed}: test error {fin['test_error']:.2f}%", flush=True)

    res = run_table1(
        args.models,
        args.methods,
        seeds,
        base,
        out=args.out,
        resume=args.resume,
        progress=progress,
        workers=args.workers,
        scheduler=args.scheduler,
        datasets=datasets,
        runs_per_gpu=args.runs_per_gpu,
    )
    res["ordering"] = {m: paper_ordering_holds(res, m) for m in args.models}
    if len(datasets) > 1:
        res["ordering_by_dataset"] = {d: {m: paper_ordering_holds(res, m, d) for m in args.models} for d in datasets}
    md = to_markdown(res)
    print(md, end="")
    for m, o in res["ordering"].items():
        if o["holds"] is not None:
            print(
                f"{m}: paper ordering ADAM < BC < big SR < SR < R {'holds' if o['holds'] else 'does NOT hold'} "
                f"({', '.join(k + (' yes' if v else ' no') for k, v in o['pairs'].items())})"
            )
    print(f"wall time {res['seconds']:.1f} s ({res['runs_per_gpu']} run(s) per GPU)")
    if args.json:
        write_json(args.json, res)
    if args.markdown:
        write_text_atomic(args.markdown, md)
    return 0
