"""Writing results: atomic JSON (a crash never leaves half a file) and reading earlier results for ``--resume``."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from srchain.errors import SrchainError

__all__ = ["to_jsonable", "write_json", "read_json", "write_text_atomic", "atomic_write"]


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


def atomic_write(path, write, binary: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, fsync it, then rename it onto ``path``.

    Readers see either the old file or the complete new one, never half a file (``os.replace`` is atomic).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SrchainError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
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
    except (OSError, json.JSONDecodeError) as exc:
        raise SrchainError(f"cannot read {path} as JSON: {exc}") from None
