"""The `srchain stationary` and `srchain mixing` commands: outputs, JSON contract, errors."""

import json
import subprocess
import sys

import pytest

from srchain.cli import main


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_stationary_json_contract(tmp_path, capsys):
    path = tmp_path / "st.json"
    code, out, _ = run_cli(
        [
            "stationary",
            "--problem",
            "toy",
            "--method",
            "sr",
            "--delta",
            "0.5",
            "--noise",
            "gaussian",
            "--sigma",
            "2",
            "--alpha",
            "1",
            "0.1",
            "0.01",
            "0.001",
            "--json",
            str(path),
            "--plot",
            str(tmp_path / "st.png"),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0
    assert "TV(pi_a, pi~)" in out
    data = json.loads(path.read_text())
    assert data["command"] == "stationary" and data["method"] == "sr" and data["delta"] == 0.5
    assert data["noise"] == {"name": "gaussian", "sigma": 2.0, "batch": 1}
    n = len(data["states"])
    assert n == 29 and all(len(s) == 1 for s in data["states"])
    assert len(data["limit"]["pi"]) == n and data["limit"]["alpha0"] > 0
    assert [r["alpha"] for r in data["results"]] == [1.0, 0.1, 0.01, 0.001]
    for r in data["results"]:
        assert len(r["pi"]) == n and abs(sum(r["pi"]) - 1) < 1e-12
        assert r["residual"] <= 1e-12
        assert set(r) >= {"alpha", "pi", "tv_to_limit", "residual", "mass_at_minimizer", "entropy"}
    # π_α → π̃: the small-α laws are at the limit (Gaussian noise, see test_theorem5)
    assert data["results"][-1]["tv_to_limit"] < 1e-10 < data["results"][0]["tv_to_limit"]
    assert (tmp_path / "st.png").stat().st_size > 1000


def test_stationary_resume_skips_done_alphas(tmp_path, capsys):
    path = tmp_path / "st.json"
    base = ["stationary", "--alpha", "0.1", "--json", str(path), "--quiet"]
    assert run_cli(base, capsys)[0] == 0
    first = json.loads(path.read_text())["results"][0]
    assert run_cli(["stationary", "--alpha", "0.1", "0.05", "--json", str(path), "--quiet", "--resume"], capsys)[0] == 0
    data = json.loads(path.read_text())
    assert [r["alpha"] for r in data["results"]] == [0.1, 0.05]
    assert data["results"][0] == first
    # resuming into a file of another computation is refused
    code, _, err = run_cli(
        ["stationary", "--alpha", "0.1", "--delta", "0.25", "--json", str(path), "--resume", "--quiet"], capsys
    )
    assert code == 2 and "was computed with --delta 0.5, not 0.25" in err


def test_r_method_has_no_limit(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert run_cli(["stationary", "--method", "r", "--alpha", "0.5", "--json", str(path), "--quiet"], capsys)[0] == 0
    data = json.loads(path.read_text())
    assert data["limit"] is None and data["results"][0]["tv_to_limit"] is None


def test_mixing_json_and_growth(tmp_path, capsys):
    path = tmp_path / "mx.json"
    code, out, _ = run_cli(
        ["mixing", "--alpha", "0.01", "0.001", "--eps", "0.25", "--json", str(path), "--quiet"], capsys
    )
    assert code == 0
    data = json.loads(path.read_text())
    r = {x["alpha"]: x for x in data["results"]}
    assert r[0.01]["exact"] and r[0.001]["exact"]
    # Gaussian noise, α ≤ 0.01: T_α = (1 − α/α0) I + (α/α0) T̃_α0 exactly, so M_ε grows like 1/α (Theorem 6)
    ratio = r[0.001]["mixing_time"] / r[0.01]["mixing_time"]
    assert 9.0 < ratio < 11.0
    assert "slope" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["stationary", "--alpha", "0"], "alpha"),
        (["stationary", "--alpha", "-1"], "alpha"),
        (["stationary", "--alpha", "nan"], "alpha"),
        (["stationary", "--delta", "0"], "delta"),
        (["stationary", "--sigma", "-2"], "sigma"),
        (["stationary", "--method", "bc"], "method"),
        (["stationary", "--noise", "cauchy"], "noise"),
        (["stationary", "--domain", "3", "1"], "domain"),
        (["stationary", "--problem", "nope"], "problem"),
        (
            ["stationary", "--problem", "separable", "--dim", "2", "--delta", "0.001", "--max-states", "1000000"],
            "states",
        ),
        (["mixing", "--eps", "2"], "eps"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        code = main(args + ["--quiet"])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("srchain") and needle in err.lower()


def test_console_script_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "srchain.cli", "stationary", "--alpha", "-1"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("lo", ["-6.1e-05", "-6.1E-5", "-4e0", "-.5e1"])
def test_negative_numbers_in_exponent_form_are_values(lo, tmp_path, capsys):
    """``--domain -6.1e-05 3e-05`` is two numbers (argparse alone took ``-6.1e-05`` for an option and refused with
    "expected 2 arguments"); the values then meet the command's own checks."""
    out = tmp_path / "a.json"
    code = main(["stationary", "--problem", "toy", "--domain", lo, "10", "--alpha", "0.1", "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert json.loads(out.read_text())["domain"][0][0] == float(lo)
