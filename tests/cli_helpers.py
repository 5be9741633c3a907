"""Shared by the command-line tests: run `srchain` in-process and check its one-line refusals."""

from srchain.cli import main


def run(argv, capsys):
    """``(exit status, stdout, stderr)`` of ``srchain argv`` (argparse's own refusals exit 2 through SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    """Exit status 2, one line ``srchain…: error: …`` on stderr holding every needle, no traceback."""
    assert code == 2, err
    assert err.startswith("srchain") and ": error: " in err and err.count("\n") == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
