"""Writing results: atomic JSON (a crash never leaves half a file) and reading earlier results for ``--resume``."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from srchain.errors import SrchainError

__all__ = ["to_jsonable", "write_json", "read_json", "write_text_atomic", "atomic_write", "check_output_path",
           "IMAGE_SUFFIXES"]

#: Image formats matplotlib writes without extra packages (``--plot`` and figure outputs must name one).
IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")


def to_jsonable(obj):
    """Convert dataclasses' ``to_dict`` output, NumPy scalars/arrays and non-finite floats into JSON values.

    NaN and ±inf become ``null`` (JSON has no such numbers).
    """
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def _new_file_mode(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: the existing file's mode, else 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, write, binary: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, fsync it, then rename it onto ``path``.

    Readers see either the old file or the complete new one, never half a file (``os.replace`` is atomic). The
    file ends with the permissions a plain ``open(path, "w")`` would give it (the umask for a new file, the old
    mode for an overwritten one), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SrchainError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, _new_file_mode(path))
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder`` (``None`` if it can): tries, and removes, a temporary file."""
    if not folder.is_dir():
        return f"{folder} is not a directory"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".srchain-probe.", dir=folder)
    except OSError as exc:
        return f"cannot create files in {folder} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(tmp)
    return None


def check_output_path(path, kind: str = "file", name: str = "path") -> Path:
    """Check, before any work, that ``path`` can be written as ``kind``; raise :class:`SrchainError` if not.

    ``kind`` is ``"file"`` (any file), ``"image"`` (a file with one of :data:`IMAGE_SUFFIXES`), ``"dir"`` (a
    folder, created later if missing) or ``"store"`` (a results store: ``.zarr`` folder, ``.nc`` or ``.json``
    file). Nothing is created: missing parent folders are checked through their nearest existing ancestor.
    """
    text = "" if path is None else str(path)
    if not text.strip():
        raise SrchainError(f"{name} is empty; give a file name")
    p = Path(text).expanduser()
    if p.is_dir() and not (kind == "dir" or (kind == "store" and p.suffix.lower() == ".zarr")):
        raise SrchainError(f"{name} {text!r} is a directory; give a file name")
    if kind == "image" and p.suffix.lower() not in IMAGE_SUFFIXES:
        raise SrchainError(f"{name} {text!r} needs an image suffix ({', '.join(IMAGE_SUFFIXES[:3])}, …)")
    if kind == "store" and p.suffix.lower() not in (".zarr", ".nc", ".json"):
        raise SrchainError(f"{name} {text!r} needs the suffix .zarr (Zarr store), .nc (netCDF) or .json")
    want_dir = kind == "dir" or (kind == "store" and p.suffix.lower() == ".zarr")
    if p.exists():
        if want_dir and not p.is_dir():
            raise SrchainError(f"{name} {text!r} exists and is not a directory")
        if not want_dir and p.is_dir():
            raise SrchainError(f"{name} {text!r} is a directory; give a file name")
        if not want_dir and not os.access(p, os.W_OK):
            raise SrchainError(f"{name} {text!r} is not writable")
    base = _nearest_existing(p if want_dir else p.parent if str(p.parent) else Path("."))
    why = _probe_writable(base)
    if why:
        raise SrchainError(f"{name} {text!r}: {why}")
    return p


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text))


def write_json(path, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file + rename)."""
    return write_text_atomic(path, json.dumps(to_jsonable(obj), indent=1) + "\n")


def read_json(path):
    """Read a JSON file written by :func:`write_json`; a missing or broken file raises :class:`SrchainError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise SrchainError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise SrchainError(f"{path} is a directory, not a JSON file") from None
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise SrchainError(f"cannot read {path} as JSON: {' '.join(str(exc).split())}") from None
