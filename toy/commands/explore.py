"""``srchain explore``: the interactive explorer (a Panel app served on localhost; see :mod:`srchain.toy.explore`)."""

from __future__ import annotations

import argparse

OUTPUTS: dict = {}
HELP = "interactive app: watch π_α, π̃, BC's law, TV, mass and M_ε change as α, Δ, the noise and the batch move"


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cli import nonneg_int

    g = parser.add_argument_group("server")
    g.add_argument("--port", type=nonneg_int, default=5006, metavar="N", help="port to serve on (0: any free port)")
    g.add_argument(
        "--address",
        default="127.0.0.1",
        metavar="HOST",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    g.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.epilog = (
        "The page keeps its state in the URL (share it). Requires the `explore` extra: "
        "pip install 'srchain[explore]'. Every JavaScript and CSS file is served by the app itself."
    )


def run(args: argparse.Namespace) -> int:
    import socket

    from srchain.errors import SrchainError

    try:
        import panel as pn
    except ImportError:
        raise SrchainError("srchain explore needs Panel: pip install panel (or the `explore` extra)") from None
    from srchain.toy.explore import build_app

    if args.port > 65535:
        raise SrchainError(f"--port must be at most 65535, got {args.port}")
    with socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET) as s:
        try:
            s.bind((args.address, args.port))
        except OSError as exc:
            raise SrchainError(
                f"cannot listen on {args.address}:{args.port} ({exc.strerror}); choose another --port or --address"
            ) from None
        port = s.getsockname()[1]
    pn.config.inline = True  # Bokeh's and Panel's JavaScript and CSS inside the page: no CDN, works offline
    host = f"[{args.address}]" if ":" in args.address else args.address
    origins = [f"{host}:{port}"] + ([f"localhost:{port}"] if args.address in ("127.0.0.1", "::1") else [])
    print(f"srchain explore: serving on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        pn.serve(
            build_app,
            port=port,
            address=args.address,
            websocket_origin=origins,
            show=not args.no_browser,
            title="srchain explore",
            verbose=False,
        )
    except KeyboardInterrupt:
        pass
    return 0
