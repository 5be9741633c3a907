"""One vocabulary of format names (srchain.grids.FORMAT_ALIASES): the API, `--format` and the CNN's method names
accept the canonical names and their aliases, mean the same grid by both, and record the canonical name."""

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run

from srchain import SrchainError
from srchain.grids import FORMAT_ALIASES, FORMATS, Grid, canonical_format, format_values

ALIASES = [
    ("fp8", "fp8-e4m3"),
    ("e4m3", "fp8-e4m3"),
    ("fp8e5m2", "fp8-e5m2"),
    ("e5m2", "fp8-e5m2"),
    ("fp4", "fp4-e2m1"),
    ("FP4-E2M1", "fp4-e2m1"),
    ("bfloat16", "bf16"),
    ("float16", "fp16"),
]


def test_every_alias_names_a_canonical_format():
    assert set(FORMAT_ALIASES.values()) <= set(FORMATS) - {"fixed"}
    assert not set(FORMAT_ALIASES) & set(FORMATS)  # an alias never shadows a canonical name
    for name in FORMATS:
        assert canonical_format(name) == name


@pytest.mark.parametrize("alias, canon", ALIASES)
def test_api_alias_gives_the_canonical_grid(alias, canon):
    assert canonical_format(alias) == canon
    domain = (-4.0, 10.0) if not canon.startswith("fp4") else (-8.0, 8.0)
    scale = 2.0 if canon.startswith("fp4") else 1.0
    if canon in ("bf16", "fp16"):
        domain = (1.0, 2.0)
    a, b = Grid.of(alias, domain, scale=scale), Grid.of(canon, domain, scale=scale)
    assert a.format == canon  # the grid records the canonical name, which its to_dict (the stores) writes
    assert a.to_dict()["format"] == canon
    assert np.array_equal(a.axis(0), b.axis(0)) and np.array_equal(a.even[0], b.even[0])
    assert np.array_equal(format_values(alias), format_values(canon))


@pytest.mark.parametrize("bad", ["fp9", "e4m4", "fp8-e4m2", "", "int8"])
def test_api_unknown_name_lists_the_valid_ones(bad):
    with pytest.raises(SrchainError) as err:
        Grid.of(bad, (1.0, 2.0))
    msg = str(err.value)
    assert "\n" not in msg and f"unknown format {bad!r}" in msg
    for name in FORMATS:
        assert name in msg
    assert "fp8/" in msg or "(fp8" in msg  # the aliases are listed beside their canonical name


def test_cli_alias_records_the_canonical_name(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["stationary", "--alpha", "0.1", "--quiet"]
    assert run([*common, "--format", "fp8", "--json", str(a)], capsys)[0] == 0
    assert run([*common, "--format", "fp8-e4m3", "--json", str(b)], capsys)[0] == 0
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ja["settings"]["format"] == jb["settings"]["format"] == "fp8-e4m3"
    assert ja["states"] == jb["states"]
    assert [r["pi"] for r in ja["results"]] == [r["pi"] for r in jb["results"]]


@pytest.mark.parametrize("command", [["stationary", "--alpha", "0.1"], ["formats", "--alpha", "0.1"]])
def test_cli_unknown_format_is_one_line_with_status_2(command, capsys):
    flag = "--format" if command[0] != "formats" else "--formats"
    code, _, err = run([*command, flag, "fp9", "--quiet"], capsys)
    assert_one_line_error(code, err, "unknown format 'fp9'", "bf16", "fp8-e4m3", "fp8-e5m2", "fp4-e2m1")


def test_formats_command_takes_aliases(tmp_path, capsys):
    out = tmp_path / "f.json"
    argv = ["formats", "--formats", "fp8", "--domain", "1", "8", "--alpha", "0.1", "--sr-bits", "2", "--quiet"]
    code, _, err = run([*argv, "--json", str(out)], capsys)
    assert code == 0, err
    assert [f["format"] for f in json.loads(out.read_text())["formats"]] == ["fp8-e4m3"]


@pytest.mark.parametrize(
    "short, long",
    [
        ("sr-fp8-adam", "sr-fp8-e4m3-adam"),
        ("r-fp8e5m2-sgd", "r-fp8-e5m2-sgd"),
        ("big-bc-fp4-adam", "big-bc-fp4-e2m1-adam"),
        ("sr8-e5m2-adam", "sr8-fp8-e5m2-adam"),
        ("sr-bfloat16-adam", "sr-bf16-adam"),
    ],
)
def test_cnn_method_aliases_mean_the_same_method(short, long):
    from srchain.cnn.registry import parse_method

    a, b = parse_method(short), parse_method(long)
    assert a == b and a.name == long  # the recorded name is the canonical one
    assert a.fmt in FORMATS


@pytest.mark.parametrize("bad", ["sr-fp9-adam", "sr-fixed-adam", "sr-fp8-e4m4-adam", "sr33-fp8-adam"])
def test_cnn_unknown_format_in_a_method_is_refused(bad):
    from srchain.cnn.registry import parse_method

    with pytest.raises(SrchainError) as err:
        parse_method(bad)
    assert "\n" not in str(err.value)


def test_cnn_format_objects_take_aliases():
    pytest.importorskip("torch")
    from srchain.cnn.formats import Format, get_format
    from srchain.cnn.formats import format_values as cnn_values

    assert get_format("fp8") == get_format("fp8-e4m3") == Format("fp8")
    assert get_format("fp4").name == "fp4-e2m1" and get_format("fp4").scaled
    assert np.array_equal(cnn_values("fp8e5m2")[0], format_values("fp8-e5m2"))
    with pytest.raises(SrchainError, match="fp8-e4m3"):
        get_format("fp9")


def test_cnn_cli_records_the_canonical_method(capsys):
    from srchain.cnn.registry import method_arg

    assert method_arg("sr-fp8-adam") == "sr-fp8-e4m3-adam"
