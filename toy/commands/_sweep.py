"""The sweep options of the toy commands (``--out --workers --scheduler --memory-per-worker --resume``).

Not a subcommand. The options themselves are :func:`srchain.commands.common.add_sweep_options` (one definition for
every command); this adds ``--resume`` and, for ``figure2`` (whose ``--out`` is its PNG, a stable flag of the
command line), lets the store option carry another name.
"""

from __future__ import annotations


def add_toy_sweep_options(parser, store_flag: str = "--out") -> None:
    """:func:`srchain.commands.common.add_sweep_options` and ``--resume``; the store option named ``store_flag``
    (its ``dest`` then being ``store_flag`` without dashes)."""
    import argparse

    from srchain.commands.common import add_sweep_options

    if store_flag == "--out":
        add_sweep_options(parser)
        group = [g for g in parser._action_groups if g.title == "sweep"][0]
    else:
        scratch = argparse.ArgumentParser(add_help=False)
        add_sweep_options(scratch)
        group = parser.add_argument_group("sweep")
        for action in scratch._actions:
            if "--out" in action.option_strings:
                action.option_strings = [store_flag]
                action.dest = store_flag.lstrip("-").replace("-", "_")
            group._add_action(action)
    flag = store_flag
    group.add_argument(
        "--resume",
        action="store_true",
        help=f"with {flag}: keep the tasks the store already holds (their completion markers) and run "
        f"only the others; every setting that changes a result must be the same as before",
    )


def store_path(args, store_flag: str = "--out"):
    return getattr(args, store_flag.lstrip("-").replace("-", "_"), None)


def check_resume(args, store_flag: str = "--out") -> None:
    """``--resume`` needs the results store; then :func:`srchain.commands.common.check_sweep_args`."""
    from types import SimpleNamespace

    from srchain.commands.common import check_sweep_args
    from srchain.errors import SrchainError

    path = store_path(args, store_flag)
    if args.resume and not path:
        raise SrchainError(f"--resume needs {store_flag} PATH.zarr|.nc (the results store of the earlier run)")
    ns = SimpleNamespace(**{**vars(args), "out": path, "json": getattr(args, "json", None)})
    try:
        check_sweep_args(ns)
    except SrchainError as exc:
        if store_flag == "--out":
            raise
        raise SrchainError(str(exc).replace("--out", store_flag)) from None


def is_distributed(args) -> bool:
    return args.workers is not None or args.scheduler is not None


def open_store(args, path, coords: dict, variables: dict, attrs: dict, settings: dict, sweep_dims):
    """Create (or reopen with ``--resume``) the results store at ``path``; refusals are one line."""
    from srchain.results import ResultStore, make_template

    template = make_template(coords, variables, attrs)
    return ResultStore.open_or_create(path, template, settings, resume=args.resume, sweep_dims=list(sweep_dims))
