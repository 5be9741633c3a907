"""``srchain plot``: Figures 4–7 (weight flips, errors, |w_b − w_r|) from training logs."""

from __future__ import annotations

import argparse

OUTPUTS = {"out": "dir"}
HELP = "turn srchain train logs (LOG.jsonl ...) into Figure 4-7 style PNGs"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG.jsonl", help="logs (or run folders) of srchain train")
    parser.add_argument("--out", default="figures", metavar="DIR", help="folder for the PNGs")
    parser.add_argument("--labels", nargs="+", default=None, metavar="TEXT", help="one legend label per log")
    parser.add_argument("--quiet", action="store_true", help="print nothing")


def run(args: argparse.Namespace) -> int:
    from srchain.cnn.plots import plot_logs

    from srchain.errors import SrchainError

    if args.labels is not None and len(args.labels) != len(args.logs):
        raise SrchainError(f"--labels needs one label per log ({len(args.logs)}), got {len(args.labels)}")
    files = plot_logs(args.logs, args.out, labels=args.labels)
    if not args.quiet:
        for f in files:
            print(f)
    return 0
