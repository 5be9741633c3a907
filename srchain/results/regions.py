"""Region writes and reads: a task's variables into its own chunks of the Zarr data, and back.

Every function takes the :class:`srchain.results.ResultStore` it works on (its path, sweep dimensions, signature).
A region is one chunk per variable (chunks are one element along each sweep dimension, whole along the others), so
a task's write replaces whole chunks and never touches another task's.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from pathlib import Path

import numpy as np

from srchain.errors import SrchainError
from srchain.results.checks import checksum
from srchain.results.layout import positions, region_slices

__all__ = ["write_region", "read_region", "write_zarr", "restore_staging", "clear_chunks", "open_data"]

_QUIET = (".*not recognized as a component of a Zarr.*", ".*[Cc]onsolidated metadata.*")


@contextlib.contextmanager
def _quiet():
    """Zarr's notes about the bookkeeping folder and consolidated metadata, silenced."""
    with warnings.catch_warnings():
        for m in _QUIET:
            warnings.filterwarnings("ignore", message=m)
        yield


def open_data(where: Path, kind: str):
    """The Dataset at ``where`` (Zarr or netCDF), lazily, no Dask; any failure to read it is a one-line refusal."""
    import xarray as xr

    try:
        with _quiet():
            if kind == "zarr":
                return xr.open_zarr(str(where), chunks=None)
            return xr.open_dataset(str(where), engine="h5netcdf")
    except Exception as exc:  # noqa: BLE001 - garbled metadata fails anywhere in xarray, zarr or h5py
        raise SrchainError(f"cannot read {where} as a results store ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def write_zarr(ds, where: Path, encoding) -> None:
    """Write a whole Dataset as a Zarr store with consolidated metadata (create, or add to it)."""
    with _quiet():
        ds.to_zarr(str(where), mode="a" if where.exists() else "w-", encoding=encoding, consolidated=True)


def write_region(store, key: dict, arrays: dict) -> dict:
    """Write one task's variables into its region; return the checksum of each as the store now holds it.

    See :meth:`srchain.results.ResultStore.write_region`.
    """
    import xarray as xr

    pos = positions(key, store.sweep_dims, store._index)
    if not arrays:
        return {}
    data, region, sums = {}, {}, {}
    for name, arr in arrays.items():
        if name not in store._vars:
            raise SrchainError(f"{name!r} is not a variable of {store.path} ({', '.join(store._vars)})")
        dims, shape, dtype = store._vars[name]
        loose = [d for d in dims if d in store.sweep_dims and d not in pos]
        if loose:
            raise SrchainError(f"task {key!r} cannot write {name!r}: its key does not fix {loose[0]!r}")
        full = tuple(1 if d in pos else n for d, n in zip(dims, shape, strict=True))
        a = np.asarray(arr)
        if a.shape != full:
            inner = tuple(n for d, n in zip(dims, shape, strict=True) if d not in pos)
            if a.shape != inner:
                raise SrchainError(f"task {key!r}: {name!r} has shape {a.shape}, expected {inner}")
            a = a.reshape(full)
        try:
            a = a.astype(np.dtype(dtype), casting="same_kind", copy=False)
        except TypeError:
            raise SrchainError(f"task {key!r}: {name!r} is {a.dtype}, the store holds {np.dtype(dtype)}") from None
        data[name] = (dims, a)
        region.update(region_slices(dims, shape, pos))
        sums[name] = checksum(a, dtype)
    if store.kind == "nc" and not store.data_path.exists():
        restore_staging(store)
    with _quiet():
        xr.Dataset(data).to_zarr(str(store.data_path), region=region, mode="r+", consolidated=False)
    return sums


def read_region(store, key: dict, names=None) -> dict:
    """One task's variables read back as NumPy arrays (shaped without the key's dimensions)."""
    pos = positions(key, store.sweep_dims, store._index)
    names = list(store._vars) if names is None else list(names)
    names = [n for n in names if all(d in pos for d in store._vars[n][0] if d in store.sweep_dims)]
    ds = open_data(store.data_path, "zarr")
    with _quiet():
        return {n: np.asarray(ds[n].isel({d: i for d, i in pos.items() if d in ds[n].dims}).values) for n in names}


def restore_staging(store) -> None:
    """A finished ``.nc`` reopened and written to again: rebuild the staging Zarr from it (client side)."""
    if not store.path.exists():
        raise SrchainError(f"{store.path}: its partial results ({store.data_path}) are missing; start again")
    ds = open_data(store.path, "nc").load()
    encoding: dict[str, dict[str, object]] = {}
    for name, v in ds.data_vars.items():
        encoding[str(name)] = {
            "chunks": tuple(1 if d in store.sweep_dims else int(n) for d, n in zip(v.dims, v.shape, strict=True))
        }
        if v.dtype.kind == "f":
            encoding[str(name)]["_FillValue"] = np.nan
    for v in ds.variables.values():
        v.encoding = {}
    for a in ("srchain_tasks", "srchain_fixed"):
        ds.attrs.pop(a, None)
    write_zarr(ds, store.data_path, encoding)


def clear_chunks(store, key: dict) -> None:
    """Remove what sits at the chunk paths of a task's region when it is not a chunk file (a folder, a link), so
    that rerunning the task can write there."""
    import zarr

    where = store.data_path
    if not where.is_dir():
        return
    pos = positions(key, store.sweep_dims, store._index)
    for name, (dims, _shape, _dtype) in store._vars.items():
        if not all(d in pos for d in dims if d in store.sweep_dims):
            continue
        try:
            arr = zarr.open_array(store=str(where), path=name, mode="r")
            rel = arr.metadata.encode_chunk_key(tuple(pos.get(d, 0) for d in dims))
        except Exception:  # noqa: BLE001 - unreadable array metadata: the rerun's write will say so
            continue
        p = where / name / rel
        if p.is_symlink() or p.is_file():
            if p.is_symlink():
                p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
