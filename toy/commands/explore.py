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
    import sys

    from srchain.errors import SrchainError

    address = str(args.address).strip()
    if not address:
        raise SrchainError("--address is empty; give 127.0.0.1 (this machine only) or the address to listen on")
    try:
        import panel as pn
    except ImportError:
        raise SrchainError("srchain explore needs Panel: pip install panel (or the `explore` extra)") from None
    from srchain.toy.explore import build_app

    if args.port > 65535:
        raise SrchainError(f"--port must be at most 65535, got {args.port}")
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        try:
            s.bind((address, args.port))
        except (OSError, OverflowError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise SrchainError(
                f"cannot listen on {address}:{args.port} ({why}); choose another --port or --address"
            ) from None
        port = s.getsockname()[1]
    pn.config.inline = True  # Bokeh's and Panel's JavaScript and CSS inside the page: no CDN, works offline
    host = f"[{address}]" if ":" in address else address
    allowed = allowed_hosts(address, port)
    if address in WILDCARDS:
        sys.stderr.write(
            f"srchain: warning: --address {address} serves the app to every network this machine is on: anyone "
            f"who can reach port {port} can use it (use 127.0.0.1 for this machine only)\n"
        )
    print(f"srchain explore: serving on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    server = pn.serve(
        build_app,
        port=port,
        address=address,
        websocket_origin=sorted(h for h in allowed if not h.startswith("[")) or None,  # Bokeh reads no [v6]
        show=False,
        start=False,
        title="srchain explore",
        verbose=False,
    )
    guard_hosts(server, allowed)
    try:
        server.start()
        if not args.no_browser:
            server.io_loop.add_callback(server.show, "/")
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    return 0


#: Addresses that listen on every interface.
WILDCARDS = ("0.0.0.0", "::", "[::]")


def allowed_hosts(address: str, port: int) -> set:
    """The ``host:port`` names a browser may use for the app (its ``Host`` and ``Origin``): the address it was
    started on (and ``localhost`` for a loopback address; this machine's names and addresses for a wildcard).
    Any other name is refused, so that a page of another site whose name resolves here (DNS rebinding) gets no
    session and no websocket."""
    import socket

    names = {address}
    if address in ("127.0.0.1", "::1", "localhost"):
        names |= {"localhost", "127.0.0.1", "::1"}
    if address in WILDCARDS:
        names |= {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
        try:
            names |= {str(ai[4][0]) for ai in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return {(f"[{n}]" if ":" in n else n).lower() + f":{port}" for n in names if n and n not in WILDCARDS}


def guard_hosts(server, allowed: set) -> None:
    """Put a gate in front of the app's server: a request whose ``Host`` (or ``Origin``, when there is one) is not
    one of ``allowed`` is answered 403 before Bokeh creates a session or opens a websocket."""
    from urllib.parse import urlparse

    import tornado.web
    from tornado.routing import Router

    class Deny(tornado.web.RequestHandler):
        def prepare(self):
            self.set_status(403)
            self.finish("forbidden: this app answers only to the address it was started on\n")

    deny = tornado.web.Application([(r".*", Deny)])
    app = server._tornado  # Bokeh's tornado Application (bokeh.server.server.Server keeps it there)

    class Gate(Router):
        def find_handler(self, request, **kwargs):
            host = request.headers.get("Host", "").lower()
            origin = request.headers.get("Origin")
            ok = host in allowed and (origin is None or urlparse(origin).netloc.lower() in allowed)
            return (app if ok else deny).find_handler(request, **kwargs)

    server._http.request_callback = Gate()
