"""Auditing a store before a sweep resumes it: its layout, its creation data and every completion marker.

:func:`audit` is what :meth:`srchain.results.ResultStore.open_or_create` runs on ``resume``: the data must have the
sweep's layout (names, shapes, dtypes; else a one-line refusal), the data the store was created with must have the
checksums ``store.json`` recorded (a variable such as ``pi_limit`` is rewritten from the template if not; damaged
coordinates are refused), and each marker must certify its task's region (:mod:`.checks`). A task whose marker fails
loses it (and whatever sits at its chunk paths that is not a chunk) and runs again; a warning names them.
"""

from __future__ import annotations

import shutil
import warnings

from srchain.errors import SrchainError
from srchain.results import checks, regions
from srchain.results.layout import task_id

__all__ = ["audit"]


def audit(store, template, meta: dict) -> None:
    """Check the data against the signature, the creation data and every marker; drop the markers that fail."""
    staged = store.kind == "zarr" or store.data_path.exists()
    where = store.data_path if staged else store.path
    ds = regions.open_data(where, "zarr" if staged else "nc")
    try:
        if str(ds.attrs.get("sweep_dims", "")).split() != list(store.sweep_dims) or "settings" not in ds.attrs:
            raise SrchainError(
                f"cannot resume {store.path}: its root metadata (zarr.json) lost the store's attributes; "
                f"remove it and start again"
            )
        why = checks.layout_problem(ds, store._vars)
        if why:
            raise SrchainError(f"cannot resume {store.path}: {why}; it was changed outside srchain: remove it")
        if isinstance(meta.get("fixed"), dict):
            repair_fixed(store, ds, template, meta)
        records = None
        if not staged:
            try:
                records = checks.records_from_attr(ds.attrs.get("srchain_tasks", "{}"))
            except SrchainError as exc:  # unreadable task records: no task is certified, every one runs again
                records = {}
                warnings.warn(f"{store.path}: {exc}; every task runs again", stacklevel=4)
        done = store.control / "done"
        good, bad = checks.scan_markers(done, store.sweep_dims, store._index, store._vars, records)
        bad.update(checks.verify_tasks(ds, good, store.sweep_dims, store._index, store._vars))
    finally:
        ds.close()
    done.mkdir(exist_ok=True)
    for tid in bad:
        try:
            (done / f"{tid}.json").unlink()
        except IsADirectoryError:
            shutil.rmtree(done / f"{tid}.json")
        except FileNotFoundError:
            pass
    if not staged:  # a finished .nc reopened: rebuild the bookkeeping from its records
        for tid, rec in good.items():
            if tid not in bad:
                checks.write_marker(done / f"{tid}.json", rec)
        if bad:
            regions.restore_staging(store)
    if bad:
        store.damaged = dict(bad)
        for tid in bad:  # a folder where a chunk should be: clear the task's chunk paths for its rerun
            key = key_of(store, tid)
            if key is not None and staged:
                regions.clear_chunks(store, key)
        warnings.warn(
            f"{store.path}: {len(bad)} task(s) failed their check and run again: {checks.describe(bad)}",
            stacklevel=4,
        )


def key_of(store, tid: str):
    """The key of a task id (``alpha-3`` → ``{"alpha": value}``), ``None`` if it names no task of this store."""
    if tid == "all":
        return {}
    key = {}
    for part in tid.split("_"):
        d, _, i = part.rpartition("-")
        if d not in store._index or not i.isdigit() or int(i) >= len(store._index[d]):
            return None
        key[d] = store._index[d][int(i)]
    return key if task_id(key, store.sweep_dims, store._index) == tid else None


def repair_fixed(store, ds, template, meta: dict) -> None:
    """Rewrite, from the template, the creation data that failed its check (coordinates cannot be: refused)."""
    bad = checks.verify_fixed(ds, meta["fixed"])
    if not bad:
        return
    coords = [n for n in bad if n in ds.coords or n not in template.data_vars]
    if coords:
        raise SrchainError(
            f"cannot resume {store.path}: {checks.describe({n: bad[n] for n in coords})}; remove it and start again"
        )
    if not store.kind == "zarr" and not store.data_path.exists():
        raise SrchainError(f"cannot resume {store.path}: {checks.describe(bad)}; remove it and start again")
    import xarray as xr

    names = sorted(bad)
    part = xr.Dataset({n: template[n].variable for n in names})
    region = {d: slice(0, int(n)) for d, n in part.sizes.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
        part.to_zarr(str(store.data_path), mode="r+", region=region, consolidated=False)  # type: ignore[call-overload]
    meta = {**meta, "fixed": {**meta["fixed"], **checks.fixed_checksums(template[names], store.sweep_dims)}}
    checks.write_marker(store.control / "store.json", meta)
