"""Probes of bad input, corrupt state and hostile paths, as a demanding new user would try them (issue 9).

Every probe must end in one line on stderr, ``srchain: error: …``, exit status 2, and no file left behind: never a
traceback, never a silently accepted mistake. Classes: output paths (every command), numbers and sizes (the exact
chain commands), corrupt or mismatched ``--resume`` files, and file permissions.
"""

import json
import os
import stat

import numpy as np
import pytest

from tests.cli_helpers import assert_one_line_error, run

#: Every subcommand with the smallest arguments it needs besides the output option under test.
COMMANDS = {
    "stationary": (["stationary", "--alpha", "0.1", "--quiet"], ["json", "plot"]),
    "mixing": (["mixing", "--alpha", "0.1", "--quiet"], ["json", "plot"]),
    "simulate": (["simulate", "--steps", "1000", "--quiet"], ["json", "plot"]),
    "figure2": (["figure2", "--steps", "1000", "--quiet"], ["json", "out"]),
    "bigbatch": (["bigbatch", "--batch", "1", "--quiet"], ["json"]),
    "convex": (["convex", "--steps", "100", "--seeds", "1", "--quiet"], ["json", "plot"]),
    "train": (["train", "--epochs", "1", "--quiet"], ["json"]),
    "table1": (["table1", "--epochs", "1", "--quiet"], ["json"]),
}
IMAGE_OPTIONS = {"plot", "out"}


def _bad_paths(tmp_path, option):
    afile = tmp_path / "afile"
    afile.write_text("x")
    adir = tmp_path / "adir"
    adir.mkdir()
    bad = {
        "directory": (str(adir), "is a directory"),
        "under a file": (str(afile / ("x.png" if option in IMAGE_OPTIONS else "x.json")), "not a directory"),
        "unwritable system folder": ("/proc/x.png" if option in IMAGE_OPTIONS else "/proc/x.json", "cannot create"),
        "empty": ("", "empty"),
    }
    if option in IMAGE_OPTIONS:
        bad["unknown suffix"] = (str(tmp_path / "out.x"), "image suffix")
        bad["no suffix"] = (str(tmp_path / "plotfile"), "image suffix")
    return bad


CASES = [
    (cmd, opt, kind)
    for cmd, (_, opts) in COMMANDS.items()
    for opt in opts
    for kind in ["directory", "under a file", "unwritable system folder", "empty"]
    + (["unknown suffix", "no suffix"] if opt in IMAGE_OPTIONS else [])
]


@pytest.mark.parametrize("command, option, kind", CASES)
def test_output_paths_are_checked_before_any_work(command, option, kind, tmp_path, capsys, monkeypatch):
    argv, _ = COMMANDS[command]
    path, needle = _bad_paths(tmp_path, option)[kind]
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv + [f"--{option}", path], capsys)
    assert_one_line_error(code, err, f"--{option}", needle)
    assert out == ""  # refused before any work: nothing computed, nothing printed
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # and nothing created (no temporary files)


BAD_NUMBERS = [
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "-1"], "--alpha"),
    (["--alpha", "nan"], "--alpha"),
    (["--alpha", "inf"], "--alpha"),
    (["--tol", "2"], "--tol"),
    (["--tol", "0"], "--tol"),
    (["--tol", "1"], "--tol"),
    (["--delta", "0"], "--delta"),
    (["--delta", "nan"], "--delta"),
    (["--sigma", "-2"], "--sigma"),
    (["--max-memory", "1e-9"], "--max-memory is 1.07 bytes"),
    (["--dim", "1e9", "--problem", "separable"], "dim = 1000000000 is too large"),
    (["--dim", "40", "--problem", "separable"], "--max-states"),
    (["--delta", "1e-9"], "--max-states"),
    (["--problem", "nosuch"], "nosuch"),
    (["--domain", "3", "1"], "domain"),
    (["--alpha", "1e-320"], "underflows"),
    (
        ["--problem", "coupled", "--dim", "2", "--delta", "0.1", "--alpha", "1", "--max-memory", "8"],
        "--max-memory is 8 GiB",
    ),
]


@pytest.mark.parametrize("command", ["stationary", "mixing"])
@pytest.mark.parametrize("extra, needle", BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers_and_sizes_are_refused(command, extra, needle, capsys):
    argv = [command, "--quiet"] + (["--alpha", "0.1"] if "--alpha" not in extra else []) + extra
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, needle)


def test_mixing_steps_limit_names_the_flag(capsys):
    """An α that has not mixed within --max-steps is a row of bounds, not an error: its note names the flag."""
    code, out, err = run(["mixing", "--alpha", "0.001", "--max-steps", "100", "--quiet"], capsys)
    assert code == 0, err
    assert "# alpha=0.001: not mixed within --max-steps 100: d(64) > eps" in out


# --- --resume --------------------------------------------------------------------------------------------------------
def _first_run(tmp_path, capsys, command, extra=()):
    path = tmp_path / f"{command}.json"
    code, _, err = run([command, "--alpha", "0.1", "--json", str(path), "--quiet", *extra], capsys)
    assert code == 0, err
    return path


SETTING_CHANGES = {
    "stationary": [
        (["--delta", "0.25"], "--delta"),
        (["--sigma", "3"], "noise"),
        (["--tol", "1e-13"], "--tol"),
        (["--solver", "gth"], "--solver"),
        (["--method", "r"], "--method"),
        (["--domain", "-3", "10"], "--domain"),
        (["--batch", "2"], "noise"),
    ],
    "mixing": [
        (["--eps", "0.01"], "--eps"),
        (["--tol", "1e-13"], "--tol"),
        (["--max-exact-states", "20"], "--max-exact-states"),
        (["--nu", "4", "--noise", "student-t"], "noise"),
        (["--max-steps", "1000000"], "--max-steps"),
    ],
}
RESUME_CASES = [(c, a, n) for c, changes in SETTING_CHANGES.items() for a, n in changes]


@pytest.mark.parametrize(
    "command, change, needle", RESUME_CASES, ids=[f"{c} {' '.join(a)}" for c, a, _ in RESUME_CASES]
)
def test_resume_with_other_settings_is_refused(command, change, needle, tmp_path, capsys):
    path = _first_run(tmp_path, capsys, command)
    before = path.read_bytes()
    code, _, err = run([command, "--alpha", "0.1", "0.05", "--json", str(path), "--resume", "--quiet", *change], capsys)
    assert_one_line_error(code, err, "was computed with", needle)
    assert path.read_bytes() == before  # the old results are untouched


def test_resume_recomputes_nothing_and_keeps_the_right_value(tmp_path, capsys):
    # the case: eps 0.25 then eps 0.01 kept 182 instead of 416; now the mismatch is refused, and a resume
    # with the same settings gives exactly the values of a fresh run
    path = _first_run(tmp_path, capsys, "mixing")
    code, _, _ = run(["mixing", "--alpha", "0.1", "0.05", "--json", str(path), "--resume", "--quiet"], capsys)
    assert code == 0
    fresh = tmp_path / "fresh.json"
    assert run(["mixing", "--alpha", "0.1", "0.05", "--json", str(fresh), "--quiet"], capsys)[0] == 0

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(json.loads(path.read_text())["results"]) == strip(json.loads(fresh.read_text())["results"])


def _corrupt(data, how):
    r = data["results"][0]
    if how == "not utf-8":
        return b"\xff\xfe\x00{"
    if how == "a list":
        return json.dumps([1, 2, 3]).encode()
    if how == "truncated":
        return json.dumps(data).encode()[:50]
    if how == "missing alpha":
        del r["alpha"]
    elif how == "alpha as string":
        r["alpha"] = "0.1"
    elif how == "alpha negative":
        r["alpha"] = -0.1
    elif how == "alpha twice":
        data["results"].append(dict(r))
    elif how == "pi too short":
        r["pi"] = r["pi"][:5]
    elif how == "pi negative":
        r["pi"][3] = -7.0
    elif how == "pi not normalised":
        r["pi"] = [x * 2 for x in r["pi"]]
    elif how == "pi with a string":
        r["pi"][0] = "x"
    elif how == "residual a string":
        r["residual"] = "small"
    elif how == "results not a list":
        data["results"] = {"a": 1}
    elif how == "states of another lattice":
        data["states"] = data["states"][:-1]
    elif how == "no settings":
        del data["settings"]
    elif how == "another command":
        data["command"] = "mixing"
    elif how == "unknown setting":
        data["settings"]["frobnicate"] = 1
    return json.dumps(data).encode()


CORRUPTIONS = [
    "not utf-8",
    "a list",
    "truncated",
    "missing alpha",
    "alpha as string",
    "alpha negative",
    "alpha twice",
    "pi too short",
    "pi negative",
    "pi not normalised",
    "pi with a string",
    "residual a string",
    "results not a list",
    "states of another lattice",
    "no settings",
    "another command",
    "unknown setting",
]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_resume_file_is_refused(how, tmp_path, capsys):
    path = _first_run(tmp_path, capsys, "stationary")
    path.write_bytes(_corrupt(json.loads(path.read_text()), how))
    before = path.read_bytes()
    code, _, err = run(["stationary", "--alpha", "0.1", "0.05", "--json", str(path), "--resume", "--quiet"], capsys)
    assert_one_line_error(code, err, str(path))
    assert path.read_bytes() == before  # never re-saved


def test_resume_without_json_is_refused(capsys):
    code, _, err = run(["stationary", "--alpha", "0.1", "--resume", "--quiet"], capsys)
    assert_one_line_error(code, err, "--resume needs --out PATH")


# --- permissions -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask_and_keep_an_existing_mode(umask, tmp_path, capsys):
    old = os.umask(umask)
    try:
        js, png = tmp_path / "s.json", tmp_path / "s.png"
        assert run(["stationary", "--alpha", "0.1", "--json", str(js), "--plot", str(png), "--quiet"], capsys)[0] == 0
        for p in (js, png):
            assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
        js.chmod(0o664)
        assert run(["stationary", "--alpha", "0.1", "--json", str(js), "--quiet"], capsys)[0] == 0
        assert stat.S_IMODE(js.stat().st_mode) == 0o664  # as a plain open(…, "w") would leave it
    finally:
        os.umask(old)


def test_repeated_alpha_is_computed_once(tmp_path, capsys):
    js = tmp_path / "s.json"
    assert run(["stationary", "--alpha", "0.1", "0.1", "0.01", "--json", str(js), "--quiet"], capsys)[0] == 0
    assert [r["alpha"] for r in json.loads(js.read_text())["results"]] == [0.1, 0.01]
    assert np.isfinite(json.loads(js.read_text())["results"][0]["residual"])
