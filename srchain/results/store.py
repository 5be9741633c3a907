"""The results store a sweep fills region by region: creating it, reopening it to resume, its task markers.

See :mod:`srchain.results` for the layout on disk. On ``resume`` the store is audited before any task runs: its
data must have the sweep's layout (names, shapes, dtypes), the data it was created with must have the checksums
``store.json`` recorded (a variable such as ``pi_limit`` is rewritten from the template if not; damaged
coordinates are refused), and every completion marker must certify its task's region (:mod:`.checks`). A task
whose marker fails loses it and is run again; nothing is read from a region that failed its check.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import orjson

from srchain.errors import SrchainError
from srchain.io import atomic_path
from srchain.results import checks, regions
from srchain.results.audit import audit
from srchain.results.layout import (
    canon,
    decode_attrs,
    default_sweep_dims,
    encode_attrs,
    first_difference,
    short,
    signature,
    signature_json,
    task_id,
)
from srchain.results.lock import release_lock, take_lock

__all__ = ["ResultStore", "control_for"]

#: store.json's format: 2 adds the checksums of the creation data; markers carry their region's checksums.
FORMAT = 2


def control_for(path: Path, kind: str) -> Path:
    """The bookkeeping folder of the store at ``path``."""
    return path / ".srchain" if kind == "zarr" else path.parent / f".{path.name}.srchain"


def _refuse_links(*paths: Path) -> None:
    for p in paths:
        if p.is_symlink():
            raise SrchainError(f"{p} is a symbolic link; a results store writes only into its own folders")


class ResultStore:
    """A results store that sweep tasks fill region by region; create or reopen it with :meth:`open_or_create`.

    The object is small and picklable: a sweep sends it to its workers, which call :meth:`write_region` and
    :meth:`mark_done` where they run. Only the process that opened it holds the lock (:meth:`close`, or use it
    as a context manager).

    Attributes
    ----------
    path : Path
        The ``.zarr`` folder or ``.nc`` file.
    kind : {"zarr", "nc"}
    sweep_dims : tuple of str
        The dimensions chunked one element per task; task keys name values of these.
    settings : dict
        Every setting that changes a result (as read back from JSON).
    damaged : dict
        Task id → why, for the tasks whose marker failed its check when the store was reopened (run again).
    """

    def __init__(self, path, kind, sweep_dims, index, variables, settings):
        self.path = Path(path)
        self.kind = kind
        self.sweep_dims = tuple(sweep_dims)
        self.settings = settings
        self.damaged: dict = {}
        self._index = index  # sweep dim -> list of coordinate values
        self._vars = variables  # data variable -> (dims, shape, dtype str)
        self._owner = False
        self._dirty = False
        self._sums: dict = {}  # task id -> checksums of what write_region wrote, for its marker

    @staticmethod
    def _control_for(path: Path, kind: str) -> Path:
        return control_for(path, kind)

    @property
    def control(self) -> Path:
        """The bookkeeping folder (store.json, lock, done/)."""
        return control_for(self.path, self.kind)

    @property
    def data_path(self) -> Path:
        """Where the Zarr data lives: the store itself, or the staging ``data.zarr`` of a ``.nc`` store."""
        return self.path if self.kind == "zarr" else self.control / "data.zarr"

    @property
    def lock_path(self) -> Path:
        return self.control / "lock"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_owner"] = False  # a copy on a worker never releases (or thinks it holds) the lock
        state["_dirty"] = False
        state["_sums"] = {}
        return state

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r}, sweep_dims={self.sweep_dims})"

    # ---- opening -----------------------------------------------------------------------------------------------
    @classmethod
    def open_or_create(cls, path, template, settings, resume: bool = False, sweep_dims=None) -> ResultStore:
        """Create the store at ``path`` from ``template``, or reopen it to resume a sweep; take its lock.

        Parameters
        ----------
        path : str or Path
            ``*.zarr`` (a Zarr folder) or ``*.nc`` (netCDF, written whole by :meth:`finalize`).
        template : xarray.Dataset
            Dimensions, coordinates (an index coordinate per sweep dimension), data variables (placeholders
            for what tasks fill, e.g. from :func:`make_template`; real data for the rest) and ``attrs`` (the
            configuration; nested values are stored as JSON text and decoded by :func:`open_results`).
        settings : dict
            Every setting that changes a result. Stored in ``attrs["settings"]``; a resume with different
            settings is refused.
        resume : bool
            Reopen an existing store (its certified tasks stay; tasks whose marker fails its check run again,
            listed in :attr:`damaged`). Without it an existing store is refused.
        sweep_dims : sequence of str, optional
            The dimensions tasks are keyed by. Default: every dimension not in :data:`NON_SWEEP_DIMS`.

        Returns
        -------
        ResultStore
            Holding the lock until :meth:`close`.

        Raises
        ------
        SrchainError
            One line: the path exists without ``resume``; a setting differs (named); the sweep's shape or
            coordinates differ; the data is damaged beyond a rerun of tasks (unreadable metadata, another
            dtype, changed coordinates); another live sweep holds the lock; a bad suffix or template.
        """
        path = Path(path).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".zarr", ".nc"):
            raise SrchainError(f"results store {str(path)!r} needs the suffix .zarr (Zarr) or .nc (netCDF)")
        kind = suffix[1:]
        sweep_dims = default_sweep_dims(template) if sweep_dims is None else tuple(sweep_dims)
        store = cls(path, kind, sweep_dims, *signature(template, sweep_dims), canon(settings))  # type: ignore[call-arg]
        control = store.control
        exists = path.exists() or path.is_symlink() or (kind == "nc" and control.exists())
        if exists and not resume:
            raise SrchainError(f"{path} exists; pass `resume` or choose another path")
        if kind == "zarr" and path.exists() and not path.is_dir():
            raise SrchainError(f"{path} exists and is not a Zarr folder")
        if kind == "nc" and path.exists() and not path.is_file():
            raise SrchainError(f"{path} exists and is not a netCDF file")
        if not exists:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.mkdir(path if kind == "zarr" else control)
                control.mkdir(exist_ok=True)
            except FileExistsError:
                raise SrchainError(f"{path} exists; pass `resume` or choose another path") from None
            except OSError as exc:
                raise SrchainError(f"cannot create {path}: {exc.strerror or exc}") from None
            store._lock()
            try:
                store._create(template)
            except BaseException:
                store.close()
                raise
            return store
        _refuse_links(control)
        try:
            control.mkdir(exist_ok=True)
        except OSError as exc:
            raise SrchainError(f"cannot resume {path}: {exc.strerror or exc}") from None
        _refuse_links(control / "done", control / "lock", control / "store.json")
        store._lock()
        try:
            meta = store._check_existing()
            store._audit(template, meta)
        except BaseException:
            store.close()
            raise
        return store

    def _create(self, template) -> None:
        tpl = template.copy(deep=False)
        for name, v in list(tpl.variables.items()):
            v.encoding = {}
            if v.dtype.kind == "U":  # variable-length strings: Zarr 3 has no stable fixed-width unicode type
                tpl[name] = v.astype(object)
        if any(v.chunks is not None for v in tpl.variables.values()):
            tpl = tpl.chunk({d: (1 if d in self.sweep_dims else -1) for d in tpl.dims})
        tpl.attrs = encode_attrs(dict(template.attrs), self.settings)
        tpl.attrs["sweep_dims"] = " ".join(self.sweep_dims)
        encoding = {}
        for name, v in tpl.data_vars.items():
            enc: dict[str, object] = {
                "chunks": tuple(1 if d in self.sweep_dims else int(n) for d, n in zip(v.dims, v.shape, strict=True))
            }
            if v.dtype.kind == "f":
                enc["_FillValue"] = float("nan")
            encoding[name] = enc
        regions.write_zarr(tpl, self.data_path, encoding)
        (self.control / "done").mkdir(exist_ok=True)
        fixed = checks.fixed_checksums(template, self.sweep_dims)
        meta = {"format": FORMAT, "kind": self.kind, "settings": self.settings, **self._sig_json(), "fixed": fixed}
        checks.write_marker(self.control / "store.json", meta)

    def _sig_json(self) -> dict:
        return signature_json(self.sweep_dims, self._index, self._vars)

    def _check_existing(self) -> dict:
        """store.json (or a finished ``.nc``'s attrs) agrees with this sweep's settings and signature."""
        meta_path = self.control / "store.json"
        if meta_path.exists():
            meta, why = checks.read_marker(meta_path)
            if why is None and not isinstance(meta, dict):
                why = "not a JSON object"
            if why is not None:
                raise SrchainError(f"cannot read {meta_path} ({why.replace('marker', 'file')}); remove {self.path}")
        elif self.kind == "nc" and self.path.exists():
            meta = self._meta_from_nc()
        else:
            raise SrchainError(
                f"{self.path} is not a complete srchain store (was its creation interrupted?); "
                f"remove it or choose another path"
            )
        diff = first_difference(self.settings, meta.get("settings"))
        if diff:
            name, new, old = diff
            raise SrchainError(
                f"cannot resume {self.path}: setting {name} is {short(new)} now but {short(old)} "
                f"in the store; use the same settings or another path"
            )
        mine = self._sig_json()
        coords = meta.get("coords") if isinstance(meta.get("coords"), dict) else {}
        for d in mine["coords"]:
            if mine["coords"][d] != coords.get(d):
                raise SrchainError(
                    f"cannot resume {self.path}: its {d} values differ from this sweep's; use the same values "
                    f"or another path"
                )
        for part, what in (("sweep_dims", "sweep dimensions"), ("variables", "variables")):
            if mine[part] != meta.get(part):
                raise SrchainError(f"cannot resume {self.path}: its {what} differ from this sweep's; use another path")
        return meta

    def _meta_from_nc(self) -> dict:
        ds = regions.open_data(self.path, "nc")
        try:
            attrs = decode_attrs(dict(ds.attrs))
            sweep_dims = str(attrs.get("sweep_dims", "")).split()
            try:
                index, variables = signature(ds, sweep_dims)
            except SrchainError as exc:
                raise SrchainError(f"cannot read {self.path} as a results store ({exc})") from None
        finally:
            ds.close()
        fixed = attrs.get("srchain_fixed")
        return {
            "format": FORMAT if isinstance(fixed, dict) else 1,
            "kind": "nc",
            "settings": attrs.get("settings"),
            **signature_json(sweep_dims, index, variables),
            **({"fixed": fixed} if isinstance(fixed, dict) else {}),
        }

    def _audit(self, template, meta: dict) -> None:
        audit(self, template, meta)

    # ---- the lock ----------------------------------------------------------------------------------------------
    def _lock(self) -> None:
        take_lock(self.lock_path, self.path)
        self._owner = True

    def close(self) -> None:
        """Release the lock (only the process that opened the store holds it); a finished ``.nc`` tidies up."""
        if not self._owner:
            return
        self._owner = False
        if self.kind == "nc" and self.path.exists() and not self.data_path.exists():
            shutil.rmtree(self.control, ignore_errors=True)  # complete: the .nc holds everything
            return
        release_lock(self.lock_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- tasks -------------------------------------------------------------------------------------------------
    def task_id(self, key: dict) -> str:
        """The id of a task key (its marker's file name): ``alpha-3``, ``method-0_alpha-1``, ``all`` for ``{}``."""
        return task_id(key, self.sweep_dims, self._index)

    def _marker(self, key: dict) -> Path:
        return self.control / "done" / f"{self.task_id(key)}.json"

    def write_region(self, key: dict, arrays: dict) -> None:
        """Write one task's variables into its region (``to_zarr(region=...)``); safe from any process.

        Parameters
        ----------
        key : dict
            Coordinate values of sweep dimensions, e.g. ``{"alpha": 0.1}`` or ``{"method": "sr", "alpha": 1.0}``.
        arrays : dict of str to array_like
            Variables of the store whose sweep dimensions the key all fixes, each shaped like the variable
            without those dimensions (``pi``: ``(state,)``, ``entropy``: scalar) or with them as length 1.

        Raises
        ------
        SrchainError
            An unknown variable, a variable the key does not fix, a wrong shape or an impossible dtype cast.
        """
        sums = regions.write_region(self, key, arrays)
        tid = self.task_id(key)
        self._sums[tid] = {**self._sums.get(tid, {}), **sums}
        self._dirty = True

    def mark_done(self, key: dict, summary: dict | None = None) -> None:
        """Write the task's completion marker (after its region): ``done/<task-id>.json`` with its key, summary and
        the checksums of what :meth:`write_region` wrote for it in this process."""
        tid = self.task_id(key)
        rec = {
            "key": key,
            "summary": summary,
            "checksums": self._sums.pop(tid, {}),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        rec = canon(rec)  # as it reads back, so that the seal holds for the JSON on disk
        rec["seal"] = checks.seal(rec)
        _refuse_links(self.control / "done")
        checks.write_marker(self._marker(key), rec)
        self._dirty = True

    def is_done(self, key: dict) -> bool:
        """Whether the task ``key`` has its completion marker (checked when the store was reopened)."""
        return self._marker(key).is_file()

    def summary(self, key: dict):
        """The summary a finished task recorded in its marker (``None`` if it has not finished)."""
        rec, _ = checks.read_marker(self._marker(key))
        return rec.get("summary") if isinstance(rec, dict) else None

    def _records(self) -> dict:
        good, _ = checks.scan_markers(self.control / "done", self.sweep_dims, self._index, self._vars)
        return good

    def completed(self) -> list[dict]:
        """The keys of the finished tasks (those with a marker), in task-id order."""
        return [rec["key"] for rec in self._records().values()]

    def read_region(self, key: dict, names=None) -> dict:
        """One task's variables read back as NumPy arrays (shaped without the key's dimensions)."""
        return regions.read_region(self, key, names)

    def finalize(self) -> Path:
        """Finish the store after the sweep: a ``.nc`` is written (atomically) from the regions; Zarr: nothing.

        Returns
        -------
        Path
            The store's path.
        """
        if self.kind != "nc":
            return self.path
        if self.path.exists() and not self._dirty and not self.data_path.exists():
            return self.path  # reopened complete and untouched
        ds = regions.open_data(self.data_path, "zarr").load()
        for v in ds.variables.values():
            v.encoding = {k: e for k, e in v.encoding.items() if k in ("_FillValue", "dtype")}
        meta, _ = checks.read_marker(self.control / "store.json")
        fixed = meta.get("fixed") if isinstance(meta, dict) else None
        extra = {"srchain_tasks": self._records(), **({"srchain_fixed": fixed} if isinstance(fixed, dict) else {})}
        for name, value in extra.items():
            ds.attrs[name] = orjson.dumps(value).decode()
        names = str(ds.attrs.get("srchain_json_attrs", "")).split()
        ds.attrs["srchain_json_attrs"] = " ".join(sorted(set(names) | set(extra)))
        with atomic_path(self.path) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        shutil.rmtree(self.data_path, ignore_errors=True)
        self._dirty = False
        return self.path
