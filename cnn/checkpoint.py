"""Checkpoints of a training run (:func:`srchain.cnn.train.train`): writing, reading, validating, RNG states.

``save_checkpoint`` writes ``OUT/checkpoint.pt`` atomically (temporary file + ``os.replace``) with its SHA-256
beside it in ``OUT/checkpoint.pt.sha256``. Checkpoints hold only tensors and plain values (dicts, lists, str, int,
float, bool, None) and are read with ``torch.load(weights_only=True)``, so a crafted file cannot run code; before
that its checksum is verified, and after it the schema (:func:`check_checkpoint`), every tensor's shape (against
the model being resumed) and the finiteness of the weights and optimizer state are checked. Anything wrong is one
:class:`SrchainError`.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import numpy as np
import torch

from srchain.errors import SrchainError

__all__ = ["CHECKPOINT_VERSION", "save_checkpoint", "load_checkpoint", "check_checkpoint"]

#: format of the checkpoints this module writes (2: only weights_only-loadable types, sha256 beside it)
CHECKPOINT_VERSION = 2


def _sha_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


class _HashingWriter:
    """A write-only file object that passes bytes on to ``fh`` and hashes them (SHA-256) on the way."""

    def __init__(self, fh):
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, data):
        self.sha.update(data)
        return self.fh.write(data)

    def flush(self):
        self.fh.flush()


def _read_digests(sha_path: Path) -> list:
    try:
        text = sha_path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return []
    return [
        w[0].lower()
        for w in (line.split() for line in text.splitlines())
        if w and re.fullmatch(r"[0-9a-fA-F]{64}", w[0])
    ]


def save_checkpoint(path, state: dict) -> Path:
    """``torch.save`` through a temporary file and an atomic rename (:func:`srchain.io.atomic_write`), with the
    file's SHA-256 in ``PATH.sha256`` (``sha256sum`` format).

    Crash safety: while the new file is renamed into place, ``PATH.sha256`` lists both the new digest and the
    previous one, so whichever file a crash leaves verifies; afterwards it lists only the new one.
    """
    from srchain.io import atomic_write, write_text_atomic

    path = Path(path)
    sha_path = _sha_path(path)
    previous = _read_digests(sha_path)[:1]

    def write(fh):
        w = _HashingWriter(fh)
        torch.save(state, w)
        digest = w.sha.hexdigest()
        write.digest = digest
        both = [digest] + [d for d in previous if d != digest]
        write_text_atomic(sha_path, "".join(f"{d}  {path.name}\n" for d in both))

    atomic_write(path, write, binary=True)
    write_text_atomic(sha_path, f"{write.digest}  {path.name}\n")
    return path


def load_checkpoint(path, device="cpu", verify: bool = True) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, safely.

    The file's SHA-256 must be one listed in ``PATH.sha256`` (``verify=False`` skips this), it is read with
    ``torch.load(weights_only=True)`` (tensors and plain values only: a crafted file cannot run code), and its
    schema is checked (:func:`check_checkpoint`). Shapes against a model are checked by
    :func:`~srchain.cnn.train.train`.

    Raises
    ------
    SrchainError
        One line for a missing, unreadable, corrupt, foreign or malformed file.
    """
    import io

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SrchainError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if verify:
        sha_path = _sha_path(path)
        if not sha_path.exists():
            raise SrchainError(
                f"cannot verify checkpoint {path}: its checksum file {sha_path.name} is missing; "
                "restore it or start the run again in another --out"
            )
        digests = _read_digests(sha_path)
        if hashlib.sha256(data).hexdigest() not in digests:
            raise SrchainError(
                f"checkpoint {path} is corrupt: its SHA-256 does not match {sha_path.name}; "
                "restore both files or start the run again in another --out"
            )
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch raise many types; all mean "not ours"
        text = " ".join(str(exc).split())
        m = re.search(r"GLOBAL ([\w.]+)", text)
        if m or "Weights only load failed" in text:
            why = (
                f"it holds {m.group(1) if m else 'objects'}, not only tensors and plain values (loading it "
                "could run code)"
            )
        else:
            why = f"{type(exc).__name__}: {text[:160]}"
        raise SrchainError(f"cannot read checkpoint {path}: not a srchain train checkpoint ({why})") from None
    check_checkpoint(state, path)
    return state


def _fail(path, what):
    raise SrchainError(f"checkpoint {path} is malformed: {what}; start the run again in another --out")


def _need(d, key, types, path, where="", none=False):
    if not isinstance(d, dict) or key not in d:
        _fail(path, f"missing {where}{key!r}")
    v = d[key]
    if v is None and none:
        return v
    if not isinstance(v, types):
        _fail(path, f"{where}{key!r} is a {type(v).__name__}")
    return v


def _finite(t: torch.Tensor) -> bool:
    return not t.is_floating_point() or bool(torch.isfinite(t).all())


def check_checkpoint(state, path="checkpoint") -> None:
    """Check the schema of a loaded checkpoint: keys, types, RNG state sizes, finite weights and optimizer state.

    Raises :class:`SrchainError` naming the first problem.
    """
    if not isinstance(state, dict):
        _fail(path, f"it holds a {type(state).__name__}, not a dict")
    version = state.get("version")
    if version != CHECKPOINT_VERSION:
        _fail(path, f"format version {version!r}, this srchain reads {CHECKPOINT_VERSION}")
    _need(state, "config", dict, path)
    epoch = _need(state, "epoch", int, path)
    history = _need(state, "history", list, path)
    if epoch < 1 or len(history) != epoch or not all(isinstance(r, dict) for r in history):
        _fail(path, f"epoch {epoch} with {len(history)} history records")
    model = _need(state, "model", dict, path)
    for k, v in model.items():
        if not isinstance(v, torch.Tensor):
            _fail(path, f"model entry {k!r} is a {type(v).__name__}")
        if not _finite(v):
            _fail(path, f"model entry {k!r} holds NaN or infinite values")
    opt = _need(state, "optimizer", dict, path)
    inner = _need(opt, "optimizer", dict, path, "optimizer ")
    _need(inner, "state", dict, path, "optimizer ")
    _need(inner, "param_groups", list, path, "optimizer ")
    for i, st in inner["state"].items():
        for k, v in st.items() if isinstance(st, dict) else ():
            if isinstance(v, torch.Tensor) and not _finite(v):
                _fail(path, f"optimizer state {k!r} of parameter {i} holds NaN or infinite values")
    latent = _need(opt, "latent", torch.Tensor, path, "optimizer ", none=True)
    if latent is not None and not _finite(latent):
        _fail(path, "BC's latent weights hold NaN or infinite values")
    _need(opt, "generator", torch.Tensor, path, "optimizer ", none=True)
    flips = _need(state, "flips", dict, path)
    _need(flips, "k", int, path, "flips ")
    _need(flips, "init", dict, path, "flips ")
    _need(flips, "history", list, path, "flips ")
    _need(state, "scaler", dict, path, none=True)
    rng = _need(state, "rng", dict, path)
    t = _need(rng, "torch", torch.Tensor, path, "rng ")
    if t.dtype != torch.uint8 or t.shape != torch.get_rng_state().shape:
        _fail(path, f"rng 'torch' has shape {tuple(t.shape)} and dtype {t.dtype}")
    npst = _need(rng, "numpy", dict, path, "rng ")
    key = _need(npst, "key", torch.Tensor, path, "rng numpy ")
    if tuple(key.shape) != (624,) or key.dtype != torch.int64 or bool(((key < 0) | (key >= 2**32)).any()):
        _fail(path, f"rng numpy key has shape {tuple(key.shape)} (expected 624 values in [0, 2^32))")
    for k, typ in (("pos", int), ("has_gauss", int), ("cached_gaussian", float)):
        _need(npst, k, typ, path, "rng numpy ")
    py = _need(rng, "python", dict, path, "rng ")
    pst = _need(py, "state", torch.Tensor, path, "rng python ")
    if tuple(pst.shape) != (625,) or pst.dtype != torch.int64:
        _fail(path, f"rng python state has shape {tuple(pst.shape)} (expected 625 values)")
    _need(py, "version", int, path, "rng python ")
    _need(py, "gauss_next", float, path, "rng python ", none=True)
    cuda = _need(rng, "cuda", list, path, "rng ", none=True)
    if cuda is not None and not all(isinstance(x, torch.Tensor) for x in cuda):
        _fail(path, "rng 'cuda' must be a list of tensors")


def _check_against(state, path, model, opt, tracker) -> None:
    """Check that a checkpoint's tensors fit the model, optimizer and flip tracker built for this run."""
    want = model.state_dict()
    got = state["model"]
    if set(got) != set(want):
        extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
        _fail(path, f"its model has other layers (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in want.items():
        if got[k].shape != v.shape or got[k].dtype != v.dtype:
            _fail(
                path,
                f"model entry {k!r} has shape {tuple(got[k].shape)} {got[k].dtype}, the model needs "
                f"{tuple(v.shape)} {v.dtype}",
            )
    params = [p for g in opt.param_groups for p in g["params"]]
    inner = state["optimizer"]["optimizer"]
    groups = inner["param_groups"]
    if len(groups) != len(opt.param_groups) or sum(
        len(g.get("params", ())) if isinstance(g, dict) else -1 for g in groups
    ) != len(params):
        _fail(path, "its optimizer has another number of parameters")
    for i, st in inner["state"].items():
        if not (isinstance(i, int) and 0 <= i < len(params) and isinstance(st, dict)):
            _fail(path, f"optimizer state for parameter {i!r}")
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != params[i].shape:
                _fail(
                    path,
                    f"optimizer state {k!r} of parameter {i} has shape {tuple(v.shape)}, the parameter "
                    f"{tuple(params[i].shape)}",
                )
    latent = state["optimizer"]["latent"]
    if (latent is None) != (opt.latent is None) or (latent is not None and latent.shape != opt.latent.shape):
        _fail(path, "BC's latent weights do not fit the model")
    gen = state["optimizer"]["generator"]
    if opt.generator is not None and (gen is None or gen.shape != opt.generator.get_state().shape):
        _fail(path, "the Qs generator state does not fit")
    flips = state["flips"]
    names = {n: w for n, w in tracker.layers}
    for where, d in [("init", flips["init"])] + [(f"history[{j}]", h) for j, h in enumerate(flips["history"])]:
        if not isinstance(d, dict) or set(d) != set(names):
            _fail(path, f"flips {where} names other layers")
        for n, t in d.items():
            if not isinstance(t, torch.Tensor) or t.dtype != tracker.snapshot_dtype or t.shape != names[n].shape:
                _fail(path, f"flips {where} of {n} does not fit the layer's shape {tuple(names[n].shape)}")
    if flips["k"] != tracker.k or len(flips["history"]) > tracker.k:
        _fail(path, f"flips window k = {flips['k']} with {len(flips['history'])} records, the run has k = {tracker.k}")


def _rng_state():
    """The RNG states of torch, numpy and python as tensors and plain values (what ``weights_only`` reads)."""
    _, key, pos, has_gauss, cached = np.random.get_state()
    version, pystate, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(pystate, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(s):
    torch.set_rng_state(s["torch"])
    n = s["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = s["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss_next"]))
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
