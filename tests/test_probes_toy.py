"""Probes of the toy commands (simulate, figure2, bigbatch, convex) as a demanding user would try them (issue 9).

Every refused probe must end in one line on stderr, ``srchain: error: …``, exit status 2, before any heavy work:
huge work is refused from an up-front estimate (time and memory), counts the kernels' int64 counters cannot
hold are refused before Numba sees them, and bad numbers, lists, problems and combinations are refused with a
message naming the flag. The accepted probes are edge inputs that are valid and must run (exit 0).

Estimates are deterministic functions of the sizes and the thread count; the probes that rely on the time limit
are chosen so that they are over it for any thread count (the work is shared by at most ``chains`` or ``seeds``
workers), or pass ``--max-hours`` / ``--max-memory`` explicitly.
"""

import os
import stat

import pytest

from srchain.cli import main
from tests.cli_helpers import assert_one_line_error, run

# (probe class, argv, text the message must hold)
REFUSED = [
    # --- huge work: refused from the estimate, naming the limit and the estimate ------------------------------
    ("huge work", ["simulate", "--steps", "1e13"], "--max-hours is 24"),
    ("huge work", ["simulate", "--steps", "1e12", "--max-hours", "1"], "hours at"),
    ("huge work", ["simulate", "--burn-in", "1e15"], "--max-hours"),
    ("huge work", ["simulate", "--delta", "1e-6", "--max-memory", "1"], "--max-memory is 1 GiB"),
    ("huge work", ["simulate", "--method", "bc", "--delta", "1e-6", "--max-memory", "8"], "--max-memory"),
    ("huge work", ["simulate", "--noise", "laplace", "--batch", "1e12"], "--max-hours"),
    ("huge work", ["simulate", "--method", "sr", "--sampler", "jump", "--steps", "1e13"], "--max-hours"),
    ("huge work", ["simulate", "--method", "sr", "--sampler", "jump", "--delta", "1e-6"], "transition matrix"),
    ("huge work", ["simulate", "--method", "sgd", "--problem", "coupled", "--steps", "1e13"], "--max-hours"),
    ("huge work", ["simulate", "--chains", "1e9"], "chains"),
    ("huge work", ["figure2", "--steps", "1e13"], "--max-hours"),
    ("huge work", ["figure2", "--steps", "1e12", "--max-hours", "1"], "hours at"),
    ("huge work", ["figure2", "--bc-tol", "1e-300"], "--bc-tol"),
    ("huge work", ["figure2", "--delta", "1e-6", "--steps", "1000"], "--max-memory"),
    ("huge work", ["figure2", "--sigma", "1e-300", "--steps", "1000"], "--max-memory"),
    ("huge work", ["figure2", "--chains", "1e9"], "chains"),
    ("huge work", ["figure2", "--noise", "laplace", "--batch", "1e9", "--steps", "1000"], "--max-hours"),
    ("huge work", ["figure2", "--sampler", "jump", "--steps", "1e13"], "--max-hours"),
    ("huge work", ["convex", "--steps", "1e12"], "--max-hours"),
    ("huge work", ["convex", "--seeds", "1e9"], "--max-memory"),
    ("huge work", ["convex", "--batch", "1e12"], "--max-hours"),
    ("huge work", ["convex", "--steps", "1e9", "--seeds", "1e6"], "--max-"),  # memory or time, by machine
    ("huge work", ["convex", "--dim", "1e9"], "--max-memory"),
    ("huge work", ["convex", "--dim", "100000", "--steps", "10", "--seeds", "2"], "--max-memory"),
    ("huge work", ["bigbatch", "--delta", "1e-12"], "--max-states"),
    ("huge work", ["bigbatch", "--delta", "1e-6", "--max-memory", "0.5"], "--max-memory"),
    ("huge work", ["bigbatch", "--problem", "quadratic"], "--max-states"),
    ("huge work", ["bigbatch", "--max-states", "10"], "--max-states"),
    # --- counts the int64 kernels cannot hold, lattices that cannot be indexed, enumerations too large --------
    ("overflow", ["simulate", "--steps", "1e30"], "int64"),
    ("overflow", ["figure2", "--steps", "1e30"], "int64"),
    ("overflow", ["convex", "--steps", "1e30"], "int64"),
    ("overflow", ["convex", "--batch", "1e30"], "int64"),
    ("overflow", ["simulate", "--delta", "1e-300"], "states"),
    ("overflow", ["bigbatch", "--delta", "1e-300"], "states"),
    ("overflow", ["simulate", "--problem", "coupled", "--dim", "1e9"], "--dim"),
    ("overflow", ["bigbatch", "--problem", "coupled", "--dim", "1e9"], "--dim"),
    ("overflow", ["simulate", "--problem", "separable", "--dim", "30"], "states"),
    ("overflow", ["bigbatch", "--problem", "separable", "--dim", "40"], "states"),
    ("overflow", ["simulate", "--noise", "minibatch", "--samples", "1e9"], "--samples"),
    ("overflow", ["bigbatch", "--noise", "minibatch", "--samples", "1e9"], "--samples"),
    ("overflow", ["bigbatch", "--noise", "minibatch", "--samples", "60", "--batch", "30"], "C(60, 30)"),
    ("overflow", ["simulate", "--alpha", "1e300"], "learning rate"),
    ("overflow", ["figure2", "--alpha", "1e300", "--steps", "1000"], "--max-memory"),
    ("overflow", ["figure2", "--alpha", "1e-320", "--steps", "1000"], "underflows"),
    ("overflow", ["convex", "--delta", "1e-310", "--steps", "100", "--seeds", "2"], "--delta"),
    # --- zero, negative, nan, inf, empty ------------------------------------------------------------------------
    *[
        ("bad number", [cmd, opt, val], opt)
        for cmd in ("simulate", "figure2", "convex")
        for opt, val in (("--steps", "0"), ("--steps", "-1"), ("--steps", "nan"), ("--steps", "inf"))
    ],
    *[
        ("bad number", [cmd, opt, val], opt)
        for cmd in ("simulate", "figure2", "bigbatch", "convex")
        for opt, val in (("--delta", "0"), ("--delta", "-1"), ("--delta", "nan"), ("--delta", "inf"))
    ],
    *[
        ("bad number", [cmd, "--alpha", val], "--alpha")
        for cmd in ("simulate", "figure2")
        for val in ("0", "-1", "nan", "inf")
    ],
    *[
        ("bad number", [cmd, "--sigma", val], "--sigma")
        for cmd in ("simulate", "figure2", "bigbatch")
        for val in ("0", "nan")
    ],
    *[("bad number", [cmd, "--nu", "0"], "--nu") for cmd in ("simulate", "figure2", "bigbatch")],
    *[("bad number", [cmd, "--batch", "0"], "--batch") for cmd in ("simulate", "figure2", "bigbatch", "convex")],
    *[("bad number", [cmd, "--seed", "-1"], "--seed") for cmd in ("simulate", "figure2", "bigbatch", "convex")],
    *[("bad number", [cmd, "--chains", "0"], "--chains") for cmd in ("simulate", "figure2")],
    *[
        ("bad number", [cmd, "--start", val], "--start")
        for cmd in ("simulate", "figure2", "bigbatch")
        for val in ("nan", "inf")
    ],
    ("bad number", ["simulate", "--burn-in", "-1"], "--burn-in"),
    ("bad number", ["simulate", "--threads", "0"], "--threads"),
    ("bad number", ["simulate", "--dim", "0"], "--dim"),
    ("bad number", ["simulate", "--domain", "nan", "1"], "--domain"),
    ("bad number", ["simulate", "--coupling", "nan"], "--coupling"),
    ("bad number", ["simulate", "--noise", "minibatch", "--samples", "0"], "--samples"),
    ("bad number", ["simulate", "--max-hours", "0"], "--max-hours"),
    ("bad number", ["simulate", "--max-memory", "-1"], "--max-memory"),
    ("bad number", ["figure2", "--bc-tol", "0"], "--bc-tol"),
    ("bad number", ["figure2", "--bc-tol", "2"], "--bc-tol"),
    ("bad number", ["bigbatch", "--problem", "coupled", "--dim", "0"], "--dim"),
    ("bad number", ["bigbatch", "--max-states", "0"], "--max-states"),
    ("bad number", ["bigbatch", "--start", "-inf"], "--start"),
    ("bad number", ["convex", "--seeds", "0"], "--seeds"),
    ("bad number", ["convex", "--dim", "0"], "--dim"),
    ("bad number", ["convex", "--c", "0"], "--c"),
    ("bad number", ["convex", "--c", "nan"], "--c"),
    ("bad number", ["convex", "--data-seed", "-1"], "--data-seed"),
    ("bad number", ["convex", "--max-memory", "0"], "--max-memory"),
    ("bad number", ["figure2", "--noise", "student-t", "--nu", "0.5", "--steps", "1000"], "nu > 2"),
    ("bad number", ["bigbatch", "--noise", "student-t", "--nu", "1"], "nu > 2"),
    ("empty list", ["simulate", "--alpha"], "--alpha"),
    ("empty list", ["simulate", "--method"], "--method"),
    ("empty list", ["figure2", "--alpha"], "--alpha"),
    ("empty list", ["bigbatch", "--batch"], "--batch"),
    ("empty list", ["convex", "--delta"], "--delta"),
    ("empty list", ["convex", "--method"], "--method"),
    # --- unknown names ------------------------------------------------------------------------------------------
    ("unknown name", ["simulate", "--problem", "nope"], "unknown problem"),
    ("unknown name", ["figure2", "--problem", "nope"], "unknown problem"),
    ("unknown name", ["bigbatch", "--problem", "nope"], "unknown problem"),
    ("unknown name", ["convex", "--problem", "nope"], "unknown convex problem"),
    ("unknown name", ["convex", "--problem", "toy"], "unknown convex problem"),
    ("unknown name", ["simulate", "--method", "foo"], "--method"),
    ("unknown name", ["convex", "--method", "adam"], "--method"),
    ("unknown name", ["simulate", "--noise", "foo"], "--noise"),
    ("unknown name", ["convex", "--theorem", "5"], "--theorem"),
    # --- start outside the domain, domains that hold no lattice --------------------------------------------------
    ("outside domain", ["simulate", "--start", "100"], "outside the domain"),
    ("outside domain", ["simulate", "--start", "1", "2", "3"], "--start"),
    ("outside domain", ["figure2", "--start", "100"], "outside the domain"),
    ("outside domain", ["bigbatch", "--start", "100"], "outside the domain"),
    ("outside domain", ["bigbatch", "--start", "-100"], "outside the domain"),
    ("outside domain", ["bigbatch", "--start", "1e300"], "outside the domain"),
    ("outside domain", ["simulate", "--domain", "5", "0"], "domain"),
    ("outside domain", ["simulate", "--domain", "0", "0"], "domain"),
    ("outside domain", ["simulate", "--delta", "100"], "fewer than 2 grid points"),
    ("outside domain", ["figure2", "--delta", "100"], "fewer than 2 grid points"),
    ("outside domain", ["bigbatch", "--delta", "100"], "fewer than 2 grid points"),
    ("outside domain", ["convex", "--domain", "5", "0"], "domain"),
    ("outside domain", ["convex", "--domain", "1", "2", "--steps", "100", "--seeds", "2"], "minimiser"),
    ("outside domain", ["convex", "--delta", "1e300", "--steps", "100", "--seeds", "2"], "grid box"),
    # --- bad combinations ---------------------------------------------------------------------------------------
    ("combination", ["simulate", "--method", "bc", "--sampler", "jump", "--steps", "10"], "--sampler jump"),
    ("combination", ["simulate", "--method", "sgd", "bc", "--sampler", "jump", "--steps", "10"], "--sampler jump"),
    ("combination", ["simulate", "--coupling", "1"], "--coupling"),
    ("combination", ["simulate", "--dim", "1e9"], "--dim"),
    ("combination", ["simulate", "--dim", "3"], "1-dimensional"),
    ("combination", ["simulate", "--noise", "minibatch", "--batch", "100"], "batch"),
    ("combination", ["figure2", "--noise", "minibatch", "--batch", "100"], "batch"),
    ("combination", ["bigbatch", "--noise", "minibatch", "--batch", "20"], "batch"),
    ("combination", ["figure2", "--problem", "coupled"], "1-D problem"),
    ("combination", ["figure2", "--problem", "quadratic"], "1-D problem"),
    ("combination", ["convex", "--theorem", "1", "--problem", "weakly-convex"], "strongly convex"),
    ("combination", ["convex", "--schedule", "strong", "--problem", "weakly-convex"], "strongly convex"),
    ("combination", ["convex", "--schedule", "strong", "--c", "1"], "--c"),
    ("combination", ["convex", "--theorem", "2", "--schedule", "strong"], "Theorem 2"),
    ("combination", ["convex", "--theorem", "corollary1", "--problem", "logistic"], "Corollary 1"),
    ("combination", ["convex", "--coupling", "1"], "--coupling"),
    ("combination", ["convex", "--problem", "weakly-convex", "--dim", "1"], "--dim"),
]

#: Valid edge inputs: they must run and exit 0 (small sizes so that they take well under a second or two).
ACCEPTED = [
    ("edge value", ["simulate", "--alpha", "1e-320", "--steps", "100"]),
    ("edge value", ["simulate", "--sigma", "1e308", "--steps", "100"]),
    ("edge value", ["simulate", "--threads", "1e9", "--steps", "10"]),
    ("edge value", ["simulate", "--seed", "1e30", "--steps", "10"]),
    ("edge value", ["simulate", "--method", "sr", "bc", "--sampler", "jump", "--steps", "100"]),
    ("edge value", ["simulate", "--alpha", "0.1", "0.1", "--steps", "100"]),
    ("edge value", ["figure2", "--sampler", "jump", "--steps", "100", "--no-exact"]),
    ("edge value", ["bigbatch", "--batch", "1e12"]),
    ("edge value", ["bigbatch", "--noise", "laplace", "--batch", "1e9"]),
    ("edge value", ["bigbatch", "--sigma", "1e-300", "--batch", "1"]),
    ("edge value", ["convex", "--c", "1e300", "--schedule", "sqrt", "--steps", "100", "--seeds", "2"]),
    ("edge value", ["convex", "--data-seed", "1e30", "--steps", "100", "--seeds", "2"]),
    ("edge value", ["convex", "--seed", "1e30", "--steps", "100", "--seeds", "2"]),
]


@pytest.mark.parametrize("kind, argv, needle", REFUSED, ids=[f"{k}: {' '.join(a)}" for k, a, _ in REFUSED])
def test_refused_with_one_line(kind, argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # figure2 writes figure2.png by default: nothing may appear
    code, out, err = run(argv + ["--quiet"], capsys)
    assert_one_line_error(code, err, needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind, argv", ACCEPTED, ids=[f"{k}: {' '.join(a)}" for k, a in ACCEPTED])
def test_valid_edges_run(kind, argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv + ["--quiet"], capsys)
    assert code == 0, err
    assert "Traceback" not in err


def test_probe_counts():
    """The probes recorded for issue 9's reliability section (every one tried is handled): no probe twice."""
    assert len({tuple(a) for _, a, _ in REFUSED} | {tuple(a) for _, a in ACCEPTED}) == len(REFUSED) + len(ACCEPTED)
    assert {k for k, _, _ in REFUSED} == {
        "huge work",
        "overflow",
        "bad number",
        "empty list",
        "unknown name",
        "outside domain",
        "combination",
    }


# ------------------------------------------------------------------------------------------- the estimate line
class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    "argv, patch",
    [
        # 1e10 steps of one chain: 250 s at 2.5e-8 s per step whatever the thread count (one chain, one worker)
        (["simulate", "--steps", "1e10", "--chains", "1"], "srchain.simulate._parallel"),
        (["figure2", "--steps", "1e10", "--alpha", "0.1", "--no-exact"], "srchain.simulate._parallel"),
        # 10 jobs × 1 seed × 1e9 steps × ≥ 170 ns: about 30 minutes on any number of threads (one seed)
        (["convex", "--steps", "1e9", "--seeds", "1"], "srchain.toy.convex._simulate"),
    ],
)
def test_long_runs_print_one_estimate_line_first(argv, patch, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr(patch, stop)
    with pytest.raises(_Stop):  # the kernels were about to start: the estimate came before them
        main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "estimated" in ln]
    assert len(lines) == 1, err
    assert "about" in lines[0] and "/s" in lines[0] and "--max-hours 24" in lines[0]


def test_quiet_silences_the_estimate_line(capsys, monkeypatch):
    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr("srchain.simulate._parallel", stop)
    with pytest.raises(_Stop):
        main(["simulate", "--steps", "1e10", "--chains", "1", "--quiet"])
    assert "estimated" not in capsys.readouterr().err


def test_short_runs_print_no_estimate(capsys):
    assert main(["simulate", "--steps", "1000"]) == 0
    assert "estimated" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- file permissions
WRITERS = [
    (["convex", "--steps", "50", "--seeds", "2", "--delta", "0.5", "--method", "sr", "--quiet", "--plot"], "c.png"),
    (["simulate", "--steps", "100", "--quiet", "--plot"], "s.png"),
    (["figure2", "--steps", "100", "--alpha", "0.1", "--no-exact", "--quiet", "--out"], "f.png"),
    (["simulate", "--steps", "100", "--quiet", "--json"], "s.json"),
]


@pytest.mark.parametrize("argv, name", WRITERS, ids=[w[1] for w in WRITERS])
def test_outputs_get_the_permissions_of_a_plain_open(argv, name, tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / name
        assert main(argv + [str(new)]) == 0
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # 0666 minus the umask, not mkstemp's 0600
        kept = tmp_path / ("kept-" + name)
        kept.write_bytes(b"")
        os.chmod(kept, 0o664)
        assert main(argv + [str(kept)]) == 0
        assert stat.S_IMODE(kept.stat().st_mode) == 0o664  # an overwritten file keeps its mode
        assert kept.stat().st_size > 0
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    finally:
        os.umask(old)
