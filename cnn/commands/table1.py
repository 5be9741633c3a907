"""``srchain table1``: a grid of models × methods × seeds, printed as a Markdown table in Table 1's shape."""
from __future__ import annotations

OUTPUTS = {"json": "file", "out": "dir", "markdown": "file"}
HELP = "train a models x methods x seeds grid and print Table 1 (top-1 test error, mean ± std over seeds)"


def configure(parser):
    from srchain.cli import add_output_options, positive_int
    from srchain.cnn.commands.train import add_run_options
    from srchain.cnn.registry import METHODS, MODELS, TABLE1_METHODS

    parser.add_argument("--models", nargs="+", default=["vgg9"], choices=tuple(MODELS), metavar="MODEL",
                        help=f"networks: {', '.join(MODELS)}")
    parser.add_argument("--methods", nargs="+", default=list(TABLE1_METHODS), choices=METHODS, metavar="METHOD",
                        help="methods (default: the five of Table 1)")
    parser.add_argument("--seeds", type=positive_int, default=3, metavar="N",
                        help="runs per cell, seeds SEED..SEED+N-1")
    add_run_options(parser)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="keep every run's log here (OUT/MODEL/METHOD/seedN); default: a temporary folder")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs in --out, continue others")
    parser.add_argument("--markdown", default=None, metavar="PATH", help="also write the table here")
    add_output_options(parser, plot=False)


def run(args) -> int:
    from srchain.cnn.commands.train import config_from_args
    from srchain.cnn.table1 import paper_ordering_holds, run_table1, to_markdown
    from srchain.io import write_json, write_text_atomic

    from srchain.errors import SrchainError

    if args.resume and args.out is None:
        raise SrchainError("--resume needs --out DIR, the folder of the runs to continue")
    base = config_from_args(args, model=args.models[0], method=args.methods[0])
    seeds = list(range(args.seed, args.seed + args.seeds))

    def progress(model, method, seed, fin):
        if not args.quiet:
            print(f"  {model} {method} seed {seed}: test error {fin['test_error']:.2f}%", flush=True)

    res = run_table1(args.models, args.methods, seeds, base, out=args.out, resume=args.resume, progress=progress)
    res["ordering"] = {m: paper_ordering_holds(res, m) for m in args.models}
    md = to_markdown(res)
    print(md, end="")
    for m, o in res["ordering"].items():
        if o["holds"] is not None:
            print(f"{m}: paper ordering ADAM < BC < big SR < SR < R {'holds' if o['holds'] else 'does NOT hold'} "
                  f"({', '.join(k + (' yes' if v else ' no') for k, v in o['pairs'].items())})")
    print(f"wall time {res['seconds']:.1f} s")
    if args.json:
        write_json(args.json, res)
    if args.markdown:
        write_text_atomic(args.markdown, md)
    return 0
