"""Issue 9, class 4 (CNN side): hostile files never run code.

A crafted CIFAR batch or checkpoint carries a payload whose unpickling would create a marker file. Each test first
proves the payload is live (plain ``pickle.load`` / ``torch.load(weights_only=False)`` does create the marker),
then asserts that srchain refuses the file with one line (exit status 2) and that the marker never appears.
"""

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from srchain.cnn import data as cnn_data  # noqa: E402

from srchain.cli import main  # noqa: E402

SMALL = ["--width", "0.125", "--image-size", "16", "--batch", "64", "--quiet", "--device", "cpu", "--threads", "1"]


class Payload:
    """Unpickling this object runs ``how`` to create ``marker`` (what an attacker's file would do)."""

    def __init__(self, marker, how="exec"):
        self.marker, self.how = str(marker), how

    def __reduce__(self):
        code = f"open({self.marker!r}, 'w').close()"
        if self.how == "exec":
            return (exec, (code,))
        if self.how == "eval":
            return (eval, (code,))
        if self.how == "system":
            return (os.system, (f"touch '{self.marker}'",))
        raise AssertionError(self.how)


def _one_line_error(capsys, rc):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("srchain: error: "), err
    return err[0]


def _batch(n=4, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"x",
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in rng.integers(0, classes, n)],
        b"filenames": [b"a.png"] * n,
    }


def _cifar10(folder, replace=None, protocol=pickle.DEFAULT_PROTOCOL):
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        obj = (replace or {}).get(name, _batch(seed=len(name)))
        with open(folder / name, "wb") as fh:
            pickle.dump(obj, fh, protocol=protocol)


# ------------------------------------------------------------------------------------------------------------
# CIFAR batches
# ------------------------------------------------------------------------------------------------------------
def _payload_batches(marker):
    """name -> (file, payload object) of the planted batches."""
    return {
        "exec-top-level": ("data_batch_1", Payload(marker, "exec")),
        "eval-top-level": ("data_batch_1", Payload(marker, "eval")),
        "system-top-level": ("data_batch_1", Payload(marker, "system")),
        "inside-data": ("data_batch_3", {b"data": Payload(marker), b"labels": [0]}),
        "inside-labels": ("data_batch_5", {b"data": np.zeros((1, 3072), np.uint8), b"labels": [Payload(marker)]}),
        "in-test-batch": ("test_batch", {b"data": np.zeros((1, 3072), np.uint8), b"labels": Payload(marker)}),
    }


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("case", list(_payload_batches("x")))
def test_crafted_cifar_batch_never_runs_code(tmp_path, capsys, case, protocol):
    marker = tmp_path / "PWNED"
    name, obj = _payload_batches(marker)[case]
    raw = pickle.dumps(obj, protocol=protocol)
    pickle.loads(raw)  # the payload is live: plain pickle runs it
    assert marker.exists()
    marker.unlink()
    _cifar10(tmp_path / "d" / "cifar-10-batches-py", {name: obj}, protocol=protocol)
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "d"),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    line = _one_line_error(capsys, rc)
    assert "refusing to read" in line and name in line
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, pickle.HIGHEST_PROTOCOL])
def test_genuine_batches_load_with_every_pickle_protocol(tmp_path, protocol):
    _cifar10(tmp_path / "cifar-10-batches-py", protocol=protocol)
    d = cnn_data.load_dataset("cifar10", tmp_path)
    assert d.train_x.shape == (20, 3, 32, 32) and d.train_x.dtype == torch.uint8


def _write(path, raw):
    path.write_bytes(raw)


@pytest.mark.parametrize(
    "case,content,needle",
    [
        ("random-bytes", os.urandom(3000), "not a CIFAR python batch"),
        ("empty", b"", "not a CIFAR python batch"),
        ("truncated", pickle.dumps(_batch())[:500], "not a CIFAR python batch"),
        ("a-list", pickle.dumps([1, 2, 3]), "expected a dict"),
        ("no-labels", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "expected a dict"),
        ("wrong-shape", pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "(n, 3072)"),
        ("float-data", pickle.dumps({b"data": np.zeros((2, 3072)), b"labels": [0, 1]}), "uint8"),
        ("label-count", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "labels of shape"),
        ("label-range", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "0..9"),
        ("label-type", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [b"a", b"b"]}), "integer"),
        ("str-global", b"cos\nsystem\n(S'true'\ntR.", "refusing to read"),
    ],
)
def test_broken_cifar_batch_is_one_line(tmp_path, capsys, case, content, needle):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    _write(folder / "data_batch_2", content)
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    assert needle in _one_line_error(capsys, rc)


def test_missing_batch_file_is_one_line(tmp_path, capsys):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    (folder / "data_batch_4").unlink()
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    assert "data_batch_4 is missing" in _one_line_error(capsys, rc)


# ------------------------------------------------------------------------------------------------------------
# the download: published MD5 first, then a safe extraction
# ------------------------------------------------------------------------------------------------------------
def _tarball(path, members):
    """``members``: list of (name, kind, payload) with kind file, dir, symlink, hardlink or fifo."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return path


def _good_members():
    out = [("cifar-10-batches-py", "dir", None)]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        out.append((f"cifar-10-batches-py/{name}", "file", pickle.dumps(_batch(seed=len(name)), protocol=2)))
    return out


def _serve(monkeypatch, tarpath, md5=None):
    """Make urlretrieve 'download' ``tarpath``; with ``md5``, publish that as the official MD5."""
    import shutil
    import urllib.request

    calls = []

    def fake(url, dest):
        calls.append(url)
        shutil.copyfile(tarpath, dest)
        return dest, None

    monkeypatch.setattr(urllib.request, "urlretrieve", fake)
    if md5 is not None:
        monkeypatch.setitem(cnn_data.CIFAR_MD5, "cifar10", md5)
    return calls


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_published_md5s_are_the_official_ones():
    assert cnn_data.CIFAR_MD5 == {
        "cifar10": "c58f30108f718f92721af3b95e74349a",
        "cifar100": "eb9058c3a382ffc7106e4002c42a8d85",
    }


def test_download_with_wrong_md5_is_refused_before_extracting(tmp_path, monkeypatch, capsys):
    tarpath = _tarball(tmp_path / "c.tar.gz", _good_members())
    calls = _serve(monkeypatch, tarpath)  # the official MD5 stays: this file does not match it
    root = tmp_path / "data"
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(root),
            "--download",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    line = _one_line_error(capsys, rc)
    assert calls and "MD5" in line and "nothing was extracted" in line
    assert sorted(p.name for p in root.iterdir()) == []  # no batches, no leftover .part file


@pytest.mark.parametrize(
    "case,member",
    [
        ("dotdot", ("cifar-10-batches-py/../../evil.txt", "file", b"x")),
        ("absolute", ("/tmp/srchain-evil-absolute.txt", "file", b"x")),
        ("outside-folder", ("evil.txt", "file", b"x")),
        ("symlink", ("cifar-10-batches-py/link", "symlink", "/etc/passwd")),
        ("hardlink", ("cifar-10-batches-py/hard", "hardlink", "/etc/passwd")),
        ("fifo", ("cifar-10-batches-py/fifo", "fifo", None)),
    ],
)
def test_download_with_unsafe_member_is_refused(tmp_path, monkeypatch, capsys, case, member):
    tarpath = _tarball(tmp_path / "c.tar.gz", [member] + _good_members())
    _serve(monkeypatch, tarpath, md5=_md5(tarpath))
    root = tmp_path / "a" / "b" / "data"
    rc = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(root),
            "--download",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    line = _one_line_error(capsys, rc)
    assert "refusing to extract" in line
    assert not (tmp_path / "a" / "evil.txt").exists() and not os.path.exists("/tmp/srchain-evil-absolute.txt")
    assert not (root / "cifar-10-batches-py").exists()  # nothing at all was extracted


def test_download_with_matching_md5_extracts_and_loads(tmp_path, monkeypatch):
    tarpath = _tarball(tmp_path / "c.tar.gz", _good_members())
    _serve(monkeypatch, tarpath, md5=_md5(tarpath))
    d = cnn_data.load_dataset("cifar10", tmp_path / "data", download=True)
    assert d.train_x.shape == (20, 3, 32, 32)
    assert not list((tmp_path / "data").glob("*.part"))


# ------------------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------------------
def _resume_argv(run):
    return ["train", "--method", "bc-adam", "--epochs", "2", "--out", str(run), "--resume", *SMALL]


def _save_with_checksum(obj, path):
    torch.save(obj, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


@pytest.mark.parametrize("where", ["top-level", "config", "model-entry", "rng", "history"])
@pytest.mark.parametrize("how", ["exec", "system"])
def test_crafted_checkpoint_never_runs_code(stopped_run, tmp_path, capsys, where, how):
    marker = tmp_path / "PWNED"
    ck = stopped_run / "checkpoint.pt"
    state = torch.load(ck, weights_only=True)
    p = Payload(marker, how)
    if where == "top-level":
        state = p
    elif where == "config":
        state["config"]["model"] = p
    elif where == "model-entry":
        state["model"][next(iter(state["model"]))] = p
    elif where == "rng":
        state["rng"]["python"] = p
    else:
        state["history"].append(p)
    buf = io.BytesIO()
    torch.save(state, buf)
    torch.load(io.BytesIO(buf.getvalue()), weights_only=False)  # the payload is live without weights_only
    assert marker.exists()
    marker.unlink()
    _save_with_checksum(state, ck)  # even a matching checksum does not make it loadable
    rc = main(_resume_argv(stopped_run))
    line = _one_line_error(capsys, rc)
    assert "not a srchain train checkpoint" in line and "could run code" in line
    assert not marker.exists()
