"""Completion markers and the checks that make a store's word good.

A task's marker, ``.srchain/done/<task-id>.json``, is written after its region and holds the task's key, its
summary and a checksum (BLAKE2b) of every variable it wrote, as the store holds it. A marker certifies its data
only if it is a JSON object naming this task and the region still has the checksums it recorded: a marker that is
empty, not JSON, without a key, or whose region lost a chunk (read back as fill values), holds junk or a folder
where a chunk should be, fails its check. The data the store was created with (coordinates, variables without a
sweep dimension such as ``pi_limit``) is certified the same way by checksums in ``store.json``.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import orjson

from srchain.errors import SrchainError
from srchain.io import atomic_write, dumps_json
from srchain.results.layout import positions, region_slices, task_id

__all__ = ["checksum", "read_marker", "write_marker", "scan_markers", "verify_tasks", "fixed_checksums", "describe"]

_TEXT = "OUSTM"  # strings (fixed, variable-length, objects) and datetimes: hashed as text

#: The most bytes a marker may have (a summary is a few numbers; anything larger is not a marker).
MARKER_MAX_BYTES = 64 << 20


def checksum(values, dtype) -> str:
    """BLAKE2b (128 bits) of an array as a store of ``dtype`` holds it: its shape, then its values (every NaN the
    same NaN; strings as text)."""
    a = np.asarray(values)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(int(n) for n in a.shape)).encode())
    want = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype) if str(dtype)[1:2] not in _TEXT else a.dtype
    if want.kind in _TEXT or a.dtype.kind in _TEXT:
        h.update("\x1f".join(map(str, a.ravel().tolist())).encode())
        return h.hexdigest()
    a = np.array(a, dtype=want, order="C", copy=True)
    if a.dtype.kind in "fc":
        a[np.isnan(a)] = np.nan
    h.update(a.tobytes())
    return h.hexdigest()


def seal(rec: dict) -> str:
    """BLAKE2b of a marker's key, summary and checksums (canonical JSON): an edited marker no longer matches."""
    body = {k: rec.get(k) for k in ("key", "summary", "checksums")}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def write_marker(path: Path, rec: dict) -> None:
    """Write a marker atomically (temporary file + rename: a reader sees none or all of it)."""
    payload = dumps_json(rec)
    atomic_write(path, lambda fh: fh.write(payload), binary=True)


def read_marker(path: Path):
    """``(record, None)`` of a readable marker, or ``(None, why)``."""
    try:
        if path.is_symlink():
            return None, "marker is a symbolic link"
        if path.stat().st_size > MARKER_MAX_BYTES:
            return None, "marker is too large"
        rec = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None, "marker vanished"
    except IsADirectoryError:
        return None, "marker is a folder"
    except orjson.JSONDecodeError:
        return None, "marker is empty" if _empty(path) else "marker is not JSON"
    except OSError as exc:
        return None, f"marker unreadable ({exc.strerror or exc})"
    return rec, None


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def record_problem(rec, tid: str, sweep_dims, index, variables) -> str | None:
    """Why a marker's record cannot certify task ``tid`` (``None`` if it can, pending the data check)."""
    if not isinstance(rec, dict):
        return "marker is not a JSON object"
    key = rec.get("key")
    if not isinstance(key, dict):
        return "marker has no key"
    try:
        if task_id(key, sweep_dims, index) != tid:
            return "marker names another task"
    except SrchainError:
        return "marker's key is not one of this store's"
    sums = rec.get("checksums")
    if not isinstance(sums, dict):
        return "marker has no checksums (written by an older srchain?)"
    for name, value in sums.items():
        if name not in variables or not isinstance(value, str):
            return f"marker's checksum of {name!r} is not one of this store's"
    try:
        if rec.get("seal") != seal(rec):
            return "marker was changed after it was written (its seal differs)"
    except TypeError:
        return "marker holds values JSON cannot hold"
    return None


def scan_markers(done: Path, sweep_dims, index, variables, records=None) -> tuple[dict, dict]:
    """``(records, damaged)``: task id → record of the markers that pass :func:`record_problem`, and task id →
    why for those that do not. ``records`` (a finished ``.nc``'s task records) replaces the folder ``done``."""
    good: dict[str, dict] = {}
    bad: dict[str, str] = {}
    if records is None:
        if not done.is_dir():
            return good, bad
        found = {}
        for p in sorted(done.glob("*.json")):
            rec, why = read_marker(p)
            found[p.stem] = rec if why is None else why
    else:
        found = dict(records)
    for tid, rec in found.items():
        why = rec if isinstance(rec, str) else record_problem(rec, tid, sweep_dims, index, variables)
        if why is None:
            good[tid] = rec
        else:
            bad[tid] = why
    return good, bad


def _read(ds, name: str, region: dict):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
        return np.asarray(ds[name].isel(region).values)


def verify_tasks(ds, records: dict, sweep_dims, index, variables) -> dict:
    """Task id → why, for each record whose region in ``ds`` no longer has the checksums it recorded."""
    bad = {}
    for tid, rec in records.items():
        pos = positions(rec["key"], sweep_dims, index)
        for name, want in rec["checksums"].items():
            dims, shape, dtype = variables[name]
            try:
                got = checksum(_read(ds, name, region_slices(dims, shape, pos)), dtype)
            except Exception as exc:  # noqa: BLE001 - a junk chunk fails in the codec, whatever it raises
                bad[tid] = f"{name} unreadable ({type(exc).__name__})"
                break
            if got != want:
                bad[tid] = f"{name} is not what the task wrote (a chunk lost or changed)"
                break
    return bad


def _placeholder(v) -> bool:
    """A variable :func:`make_template` made from a dtype: a broadcast fill value, for the tasks to fill."""
    data = v.variable._data
    return isinstance(data, np.ndarray) and data.ndim > 0 and 0 in data.strides


def fixed_names(template, sweep_dims) -> list[str]:
    """The variables a store is created with and tasks do not write: coordinates, and data given as an array (not
    a placeholder) without a sweep dimension, such as ``pi_limit``."""
    data = [
        n
        for n, v in template.data_vars.items()
        if v.ndim > 0 and not _placeholder(v) and not any(d in sweep_dims for d in v.dims)
    ]
    return sorted(template.coords) + sorted(data)


def fixed_checksums(template, sweep_dims) -> dict:
    """Name → checksum of each of :func:`fixed_names` of a template."""
    out = {}
    ds = template
    for name in fixed_names(template, sweep_dims):
        v = ds[name]
        out[name] = checksum(np.asarray(v.values), v.dtype)
    return out


def verify_fixed(ds, fixed: dict) -> dict:
    """Name → why, for each variable of ``fixed`` (name → checksum) that ``ds`` no longer holds as recorded."""
    bad = {}
    for name, want in fixed.items():
        if name not in ds.variables:
            bad[name] = "missing"
            continue
        try:
            v = ds[name]
            got = checksum(np.asarray(v.values), v.dtype)
        except Exception as exc:  # noqa: BLE001 - a junk chunk fails in the codec, whatever it raises
            bad[name] = f"unreadable ({type(exc).__name__})"
            continue
        if got != want:
            bad[name] = "not what the store was created with (a chunk lost or changed)"
    return bad


def layout_problem(ds, variables) -> str | None:
    """Why the data ``ds`` does not have the signature's variables (name, dims, shape, dtype); ``None`` if it does."""
    for name, (dims, shape, dtype) in variables.items():
        if name not in ds.data_vars:
            return f"variable {name!r} is missing"
        v = ds[name]
        if tuple(v.dims) != tuple(dims) or tuple(int(n) for n in v.shape) != tuple(shape):
            return f"variable {name!r} has dims {tuple(v.dims)} × {tuple(v.shape)}, not {tuple(dims)} × {tuple(shape)}"
        if str(dtype)[1:2] in _TEXT and v.dtype.kind in _TEXT:
            continue
        want = np.dtype(dtype)
        if v.dtype != want:
            return f"variable {name!r} is stored as {v.dtype}, not {want}"
    return None


def describe(damaged: dict, n: int = 4) -> str:
    """``alpha-1 (marker is empty), alpha-3 (pi …) and 2 more``: damaged things on one line."""
    items = [f"{k} ({v})" for k, v in sorted(damaged.items())]
    more = len(items) - n
    return ", ".join(items[:n]) + (f" and {more} more" if more > 0 else "")


def records_from_attr(text) -> dict:
    """A finished ``.nc``'s task records (its ``srchain_tasks`` attr) as task id → record or why."""
    if isinstance(text, str):
        try:
            text = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise SrchainError("its task records (attr srchain_tasks) are not JSON") from None
    if not isinstance(text, dict):
        raise SrchainError("its task records (attr srchain_tasks) are not a JSON object")
    return text
