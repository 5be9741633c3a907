"""Reading a results store back: :func:`open_results` (checked) and :func:`region_reader`."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srchain.errors import SrchainError
from srchain.results import checks
from srchain.results.layout import decode_attrs, positions, signature
from srchain.results.regions import open_data
from srchain.results.store import control_for

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["open_results", "region_reader"]


def _done_array(sweep_dims, index, keys) -> np.ndarray:
    done = np.zeros(tuple(len(index[d]) for d in sweep_dims), dtype=bool)
    for key in keys:
        if not key:
            continue
        try:
            pos = positions(key, sweep_dims, index)
        except SrchainError:
            continue
        done[tuple(slice(pos[d], pos[d] + 1) if d in pos else slice(None) for d in sweep_dims)] = True
    return done


def _open(where: Path, kind: str, path: Path, kwargs):
    import xarray as xr

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            if kind == "zarr":
                return xr.open_zarr(str(where), **kwargs)
            return xr.open_dataset(str(where), engine="h5netcdf", **kwargs)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise SrchainError(f"open_results: {exc}") from None
        raise SrchainError(f"cannot read {path} as a results store ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - garbled metadata fails anywhere in xarray, zarr or h5py
        text = " ".join(str(exc).split())[:120]
        raise SrchainError(f"cannot read {path} as a results store ({type(exc).__name__}: {text})") from None


def _signature_of(ds, sweep_dims, control: Path, staged: bool):
    """The store's recorded signature (``store.json``; a finished ``.nc``: its own variables) and creation checksums."""
    meta = None
    if staged and (control / "store.json").exists():
        meta, why = checks.read_marker(control / "store.json")
        if why is not None or not isinstance(meta, dict):
            raise SrchainError(f"its bookkeeping {control / 'store.json'} is damaged")
    if isinstance(meta, dict) and isinstance(meta.get("variables"), dict):
        try:
            variables = {k: (tuple(v[0]), tuple(int(n) for n in v[1]), str(v[2])) for k, v in meta["variables"].items()}
        except (TypeError, ValueError, IndexError):
            raise SrchainError(f"its bookkeeping {control / 'store.json'} is damaged") from None
        fixed = meta.get("fixed")
    else:
        variables = signature(ds, sweep_dims)[1]
        fixed = ds.attrs.get("srchain_fixed")
    return variables, fixed if isinstance(fixed, dict) else None


def _check_root(path: Path, control: Path, sweep_dims, attrs) -> None:
    """The root metadata still holds what ``store.json`` recorded (sweep dimensions, settings)."""
    meta, why = checks.read_marker(control / "store.json")
    if (
        why is None
        and isinstance(meta, dict)
        and (meta.get("sweep_dims") != list(sweep_dims) or "settings" not in attrs)
    ):
        raise SrchainError(
            f"{path} is damaged: its root metadata (zarr.json) lost the store's attributes; remove it and run the "
            f"sweep again"
        )


def _verify(path: Path, where: Path, kind: str, sweep_dims, index, records, control: Path) -> None:
    """Raise one line naming everything in the store that fails its check (see :mod:`srchain.results.checks`)."""
    ds = open_data(where, kind)
    try:
        variables, fixed = _signature_of(ds, sweep_dims, control, kind == "zarr")
        why = checks.layout_problem(ds, variables)
        if why:
            raise SrchainError(why)
        bad = {} if fixed is None else checks.verify_fixed(ds, fixed)
        good, damaged = checks.scan_markers(control / "done", sweep_dims, index, variables, records)
        damaged.update(checks.verify_tasks(ds, good, sweep_dims, index, variables))
    except SrchainError as exc:
        raise SrchainError(f"{path} is damaged: {exc}; remove it and run the sweep again") from None
    finally:
        ds.close()
    if bad:
        raise SrchainError(f"{path} is damaged: {checks.describe(bad)}; remove it and run the sweep again")
    if damaged:
        raise SrchainError(
            f"{path}: {len(damaged)} task(s) failed their check: {checks.describe(damaged)}; nothing is read from "
            f"them: rerun the sweep with --resume (resume=True) to redo them, or pass verify=False"
        )


def open_results(path: str | os.PathLike[str], mask: bool = True, verify: bool = True, **kwargs: Any) -> xr.Dataset:
    """A results store (``.zarr`` or ``.nc``, finished or not) as an ``xarray.Dataset``, checked.

    Parameters
    ----------
    path : str or Path
    mask : bool
        Floating-point variables of unfinished tasks read as NaN (their region may hold a partial write).
        Integer and boolean variables are returned as stored; ``done`` tells which entries are final.
    verify : bool
        Check the store first: every completion marker must certify its task's region (checksums), the data
        the store was created with must be intact. Reads every finished region once. ``False``: trust it.
    **kwargs
        Passed to ``xarray.open_zarr`` / ``xarray.open_dataset`` (e.g. ``chunks=None`` for no Dask).

    Returns
    -------
    xarray.Dataset
        With a boolean ``done`` variable over the sweep dimensions, and ``attrs`` decoded (``settings`` and
        the other nested configuration back as dicts).

    Raises
    ------
    SrchainError
        One line: a missing or unreadable store; with ``verify``, the tasks (named) or creation data whose check
        failed (a lost, truncated or replaced chunk, an empty or broken marker, garbage task records).
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".zarr", ".nc"):
        raise SrchainError(f"{path}: a results store ends in .zarr or .nc")
    kind = suffix[1:]
    control = control_for(path, kind)
    if kind == "nc" and not path.exists() and (control / "data.zarr").exists():
        where, kind = control / "data.zarr", "zarr"  # an unfinished .nc sweep: read its staging store
    elif not path.exists():
        raise SrchainError(f"{path} does not exist")
    else:
        where = path
    ds = _open(where, kind, path, kwargs)
    ds.attrs = decode_attrs(dict(ds.attrs))
    records = None
    if "srchain_tasks" in ds.attrs:
        try:
            records = checks.records_from_attr(ds.attrs.pop("srchain_tasks"))
        except SrchainError as exc:
            raise SrchainError(f"{path} is damaged: {exc}; remove it and run the sweep again") from None
    elif not (control / "done").is_dir():
        return ds
    sweep_dims = tuple(str(ds.attrs.get("sweep_dims", "")).split())
    if verify and kind == "zarr" and records is None:
        _check_root(path, control, sweep_dims, ds.attrs)
    if any(d not in ds.coords for d in sweep_dims):
        return ds
    index = {d: np.asarray(ds[d].values).tolist() for d in sweep_dims}
    if verify:
        _verify(path, where, kind, sweep_dims, index, records, control)
    ds.attrs.pop("srchain_fixed", None)
    if not sweep_dims:  # one task for the whole store: no `done` variable
        return ds
    done = _done_array(sweep_dims, index, _keys(control, records))
    ds["done"] = (sweep_dims, done)
    if mask and not done.all():
        mask_da = ds["done"]
        for name, v in list(ds.data_vars.items()):
            if name != "done" and v.dtype.kind == "f" and any(d in sweep_dims for d in v.dims):
                ds[name] = v.where(mask_da)
    return ds


def _keys(control: Path, records) -> list[dict]:
    """The keys of the markers (or a finished ``.nc``'s task records) that name one."""
    if records is None:
        records = {p.stem: checks.read_marker(p)[0] for p in sorted((control / "done").glob("*.json"))}
    return [r["key"] for r in records.values() if isinstance(r, dict) and isinstance(r.get("key"), dict)]


def region_reader(path):
    """``read(key, names)``: a finished task's variables read back from the store at ``path`` (Zarr, or the finished
    ``.nc``: a ``.nc`` sweep's staging area is gone once :meth:`ResultStore.finalize` has written it). The store is
    checked first (:func:`open_results`): nothing is read from a region that failed its check."""
    ds = open_results(path, chunks=None)

    def read(key: dict, names) -> dict:
        return {n: np.asarray(ds[n].sel({d: v for d, v in key.items() if d in ds[n].dims}).values) for n in names}

    return read
