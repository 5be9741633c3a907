"""Outputs, inputs and numbers that cannot be turned against the user (issue 22, section 4).

* Outputs never write through a symbolic link (``--plot``, ``srchain plot --out``, a store's ``.srchain/done``):
  a link is refused in one line and the file it points to is untouched.
* Deeply nested JSON in a resume file or a training log is refused in one line, fast, and changes nothing.
* Extreme but legal noise numbers that float64 cannot compute with are refused in one line naming the parameter
  and the limit.
* ``srchain explore`` answers only to the address it was started on (DNS rebinding), warns when it listens on
  every network, and refuses an empty ``--address`` in one line.
"""

import json
import shutil
import socket
import subprocess
import sys
import time

import pytest

import srchain as sc
from tests.cli_helpers import assert_one_line_error, run

TOY = ["--problem", "toy", "--delta", "0.5", "--alpha", "1", "0.1", "--quiet"]
DEEP = 100_000  # levels of nesting (the probe)


def _deep(n: int = DEEP) -> str:
    return "[" * n + "]" * n


def _victim(tmp_path):
    """A file a link points to, with contents that must survive."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    return target


# ------------------------------------------------------------------------------------------------------------------
# symbolic links
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["stationary", "mixing"])
def test_plot_through_a_link_is_refused(tmp_path, capsys, command):
    target = _victim(tmp_path)
    link = tmp_path / "out.png"
    link.symlink_to(target)
    code, _, err = run([command, *TOY, "--plot", str(link)], capsys)
    assert_one_line_error(code, err, "--plot", "symbolic link")
    assert target.read_text() == "keep me\n" and link.is_symlink()


def test_json_through_a_link_is_refused(tmp_path, capsys):
    target = _victim(tmp_path)
    link = tmp_path / "out.json"
    link.symlink_to(target)
    code, _, err = run(["stationary", *TOY, "--json", str(link)], capsys)
    assert_one_line_error(code, err, "--json", "symbolic link")
    assert target.read_text() == "keep me\n"


def test_plot_is_written_atomically(tmp_path, capsys):
    png = tmp_path / "out.png"
    png.write_bytes(b"old")
    code, _, err = run(["stationary", *TOY, "--plot", str(png)], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left behind


def _log_record(epoch=1, layers=1):
    names = {
        f"conv_{i}": {"flipped_since_init": 1.0, "flipped_last_k": 0.5, "mean_abs_wb_minus_wr": None}
        for i in range(layers)
    }
    return {"epoch": epoch, "train_error": 10.0, "test_error": 12.0, "layers": names}


def test_srchain_plot_refuses_a_link_among_its_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(_log_record()) + "\n")
    out = tmp_path / "figs"
    out.mkdir()
    target = _victim(tmp_path)
    (out / "fig6_errors.png").symlink_to(target)
    code, _, err = run(["plot", str(log), "--out", str(out), "--quiet"], capsys)
    assert_one_line_error(code, err, "symbolic link", "fig6_errors.png")
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in out.iterdir()) == ["fig6_errors.png"]  # nothing drawn before the refusal
    (out / "fig6_errors.png").unlink()
    code, _, err = run(["plot", str(log), "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert (out / "fig6_errors.png").read_bytes()[:4] == b"\x89PNG"


def test_a_store_whose_markers_folder_is_a_link_is_refused(tmp_path, capsys):
    store = tmp_path / "s.zarr"
    argv = ["stationary", *TOY, "--out", str(store)]
    assert run(argv, capsys)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = store / ".srchain" / "done"
    (store / ".srchain" / "done" / "alpha-1.json").unlink()  # a task left to run on resume
    shutil.rmtree(done)
    done.symlink_to(elsewhere, target_is_directory=True)
    code, _, err = run([*argv, "--resume"], capsys)
    assert_one_line_error(code, err, "symbolic link")
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------------------------------------------------------
# deeply nested JSON, huge logs
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["stationary", "mixing"])
@pytest.mark.parametrize("shape", ["list", "settings"])
def test_resume_from_deeply_nested_json_is_one_line(tmp_path, capsys, command, shape):
    js = tmp_path / "r.json"
    text = _deep() if shape == "list" else f'{{"command": "{command}", "settings": {_deep()}}}'
    js.write_text(text)
    t0 = time.perf_counter()
    code, _, err = run([command, *TOY, "--json", str(js), "--resume"], capsys)
    assert time.perf_counter() - t0 < 30
    assert_one_line_error(code, err, str(js))
    assert js.read_text() == text


def test_srchain_plot_on_a_log_with_1e5_layers_is_refused_fast(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(_log_record(layers=100_000)) + "\n")
    t0 = time.perf_counter()
    code, _, err = run(["plot", str(log), "--out", str(tmp_path / "figs"), "--quiet"], capsys)
    assert time.perf_counter() - t0 < 20  # the probe ran past 2 minutes
    assert_one_line_error(code, err, "layers", "1000")
    assert not (tmp_path / "figs").exists()


def test_srchain_plot_on_a_deeply_nested_log_is_refused(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text(_deep() + "\n")
    code, _, err = run(["plot", str(log), "--out", str(tmp_path / "figs"), "--quiet"], capsys)
    assert_one_line_error(code, err, str(log))


def test_table1_resume_over_a_damaged_log_changes_nothing(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "runs"
    run_dir = out / "vgg9" / "adam" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "log.jsonl").write_text(_deep() + "\n")
    (run_dir / "config.json").write_text('{"command": "train", "sentinel": true}\n')
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    tiny = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu"]
    argv = ["table1", "--models", "vgg9", "--methods", "adam", "--seeds", "1", "--epochs", "1", "--dataset"]
    code, _, err = run([*argv, "digits", *tiny, "--threads", "1", "--out", str(out), "--resume"], capsys)
    assert_one_line_error(code, err, "cannot resume", "log.jsonl")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


# ------------------------------------------------------------------------------------------------------------------
# extreme but legal numbers
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,needles",
    [
        (["stationary", "--noise", "student-t", "--sigma", "1e-300"], ["--sigma", "1e+150"]),
        (["mixing", "--noise", "student-t", "--sigma", "1e-300"], ["--sigma", "1e+150"]),
        (["stationary", "--noise", "minibatch", "--sigma", "1e300"], ["--sigma", "1e+150"]),
        (["simulate", "--noise", "minibatch", "--sigma", "1e300", "--steps", "100"], ["--sigma", "1e+150"]),
        (["bigbatch", "--noise", "minibatch", "--sigma", "1e300"], ["--sigma", "1e+150"]),
        (["stationary", "--noise", "student-t", "--alpha", "1e-300"], ["--alpha", "1e+150", "--alpha >= 7e-150"]),
        (
            ["figure2", "--noise", "student-t", "--sigma", "1e-300", "--steps", "100", "--out", "{tmp}/f.png"],
            ["--sigma", "1e+150"],
        ),
        (["stationary", "--problem", "coupled", "--dim", "2", "--alpha", "1e-300"], ["alpha", "smallest alpha"]),
    ],
)
def test_extreme_numbers_fail_in_one_line_naming_parameter_and_limit(tmp_path, capsys, argv, needles):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with _no_warnings():
        code, _, err = run([*argv, "--quiet"], capsys)
    assert_one_line_error(code, err, *needles)


class _no_warnings:
    """Fail if a warning (e.g. NumPy's overflow RuntimeWarning) is raised: stderr must hold the one line only."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.seen = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        assert not [w for w in self.seen if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in self.seen]


def test_noise_range_library():
    from srchain.resolvable import ARGUMENT_MAX, check_noise_range

    check_noise_range("student-t", 2.0, [1e-3], span=9.0, grad_max=5.0)
    check_noise_range("gaussian", 1e-300, [1e-3], span=9.0, grad_max=5.0)  # the Gaussian tail underflows cleanly
    sigma = (9.0 / 1e-3 + 5.0) / ARGUMENT_MAX
    check_noise_range("student-t", sigma * 1.01, [1e-3], span=9.0, grad_max=5.0)  # just inside
    with pytest.raises(sc.SrchainError, match="--sigma >= "):
        check_noise_range("student-t", sigma * 0.99, [1e-3], span=9.0, grad_max=5.0)


# ------------------------------------------------------------------------------------------------------------------
# srchain explore
# ------------------------------------------------------------------------------------------------------------------
def test_explore_empty_address_is_one_line(capsys):
    pytest.importorskip("panel")
    code, _, err = run(["explore", "--address", "", "--no-browser"], capsys)
    assert_one_line_error(code, err, "--address")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(address, port):
    cmd = [sys.executable, "-m", "srchain.cli", "explore", "--address", address, "--port", str(port), "--no-browser"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _get(port, host, path="/", headers=None):
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path, headers={"Host": host, **(headers or {})})
    r = c.getresponse()
    r.read()
    return r.status


def _wait(proc, port):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            if _get(port, f"127.0.0.1:{port}") == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the server did not answer within 90 s")


@pytest.mark.slow
def test_explore_answers_only_to_its_own_address():
    pytest.importorskip("panel")
    port = _free_port()
    proc = _start("127.0.0.1", port)
    try:
        _wait(proc, port)
        assert _get(port, f"localhost:{port}") == 200
        assert _get(port, f"evil.example:{port}") == 403  # DNS rebinding: no session
        ws = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol": "bokeh",
        }
        evil = {"Origin": f"http://evil.example:{port}"}
        assert _get(port, f"evil.example:{port}", "/ws", {**ws, **evil}) == 403  # no websocket either
        assert _get(port, f"127.0.0.1:{port}", "/ws", {**ws, **evil}) == 403  # a foreign Origin
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_explore_on_every_network_warns():
    pytest.importorskip("panel")
    port = _free_port()
    proc = _start("0.0.0.0", port)
    try:
        _wait(proc, port)
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "srchain: warning: --address 0.0.0.0 serves the app to every network" in err
