"""Results as labelled arrays: fast JSON, and Zarr / netCDF stores that sweep tasks fill region by region.

Three things live here:

* :func:`write_json_fast` — re-exported from :mod:`srchain.io`: JSON written by orjson (10⁶ states in a fraction
  of a second).
* :class:`ResultStore` — one ``xarray.Dataset`` on disk (``PATH.zarr`` or ``PATH.nc``) created from a template,
  chunked one element per task along the *sweep dimensions* (``alpha``, ``method``, ``delta``, ``seed`` …) and
  whole along the others (``state``, ``step`` …), so that every task owns a region. A task writes its region
  with :meth:`ResultStore.write_region` from wherever it runs, then a completion marker with
  :meth:`ResultStore.mark_done`. The store records the ``settings`` that change a result and refuses to be
  resumed with different ones; one writer at a time holds its lock.
* :func:`open_results` — the Dataset back in one line, with a boolean ``done`` variable over the sweep
  dimensions (floating-point results of unfinished tasks read as NaN).

Layout on disk::

    PATH.zarr/                 a Zarr (format 3) store with consolidated metadata: ``xarray.open_zarr(PATH)``
    PATH.zarr/.srchain/        bookkeeping: store.json (settings, sweep signature), lock, done/<task-id>.json
    PATH.nc                    netCDF4 (h5netcdf), written once, atomically, by :meth:`ResultStore.finalize`
    .PATH.nc.srchain/          while a ``.nc`` sweep runs: the same bookkeeping plus data.zarr, the regions
                               written so far (removed when the ``.nc`` is complete)

Examples
--------
>>> import numpy as np, tempfile, os
>>> tmp = tempfile.mkdtemp()
>>> tpl = make_template({"alpha": [0.1, 0.01], "x0": ("state", np.arange(3.0))},
...                     {"pi": (("alpha", "state"), "f8"), "entropy": (("alpha",), "f8")})
>>> with ResultStore.open_or_create(os.path.join(tmp, "r.zarr"), tpl, settings={"sigma": 2.0}) as store:
...     store.write_region({"alpha": 0.1}, {"pi": [0.2, 0.3, 0.5], "entropy": 1.03})
...     store.mark_done({"alpha": 0.1}, {"entropy": 1.03})
>>> ds = open_results(os.path.join(tmp, "r.zarr"))
>>> ds.done.values.tolist(), ds.pi.sel(alpha=0.1).values.tolist()
([True, False], [0.2, 0.3, 0.5])
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from srchain.errors import SrchainError

if TYPE_CHECKING:
    import xarray as xr
from srchain.io import _default, _prepare, atomic_path, atomic_write, dumps_json, write_json_fast  # noqa: F401 (re-exported)

__all__ = [
    "write_json_fast",
    "dumps_json",
    "ResultStore",
    "open_results",
    "make_template",
    "task_id",
    "NON_SWEEP_DIMS",
    "region_reader",
]

#: Dimensions that are never swept (whole in every chunk) when ``sweep_dims`` is not given.
NON_SWEEP_DIMS = ("state", "step", "epoch", "layer", "iteration", "bin")

_RESERVED = ("done",)
_JSON_ATTRS = "srchain_json_attrs"  # names of attrs stored as JSON text (netCDF attrs cannot nest)


def _canon(obj):
    """``obj`` as it reads back from JSON (tuples → lists, NumPy → Python, NaN → None): comparable settings."""
    return orjson.loads(orjson.dumps(_prepare(obj), default=_default, option=orjson.OPT_SERIALIZE_NUMPY))


def _first_difference(new, old, prefix: str = ""):
    """The dotted name of the first setting that differs between two canonical JSON values, or ``None``."""
    if isinstance(new, dict) and isinstance(old, dict):
        for k in sorted(set(new) | set(old)):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in new or k not in old:
                return name, new.get(k, "<unset>"), old.get(k, "<unset>")
            d = _first_difference(new[k], old[k], name)
            if d:
                return d
        return None
    if new != old:
        return prefix or "settings", new, old
    return None


def _short(x, n: int = 60) -> str:
    s = "unset" if isinstance(x, str) and x == "<unset>" else orjson.dumps(x).decode()
    return s if len(s) <= n else s[: n - 1] + "…"


# ----------------------------------------------------------------------------------------------------------------
# templates, keys
# ----------------------------------------------------------------------------------------------------------------
def make_template(coords, variables, attrs=None):
    """An ``xarray.Dataset`` to create a :class:`ResultStore` from: coordinates, variables and their dtypes.

    Parameters
    ----------
    coords : dict
        ``{"alpha": [1.0, 0.1], "method": ["sr", "r"], "x0": ("state", xs), "x1": ("state", ys), ...}``: an
        index coordinate per sweep dimension (task keys name its values) and any other coordinates as
        ``(dim, values)``.
    variables : dict
        ``{"pi": (("alpha", "state"), "f8"), "pi_limit": (("state",), pi_limit)}``: a dtype gives a variable that
        the tasks fill (it costs no memory: a broadcast fill value, NaN for floats); an array gives the data
        itself (written when the store is created).
    attrs : dict, optional
        The configuration (nested dicts allowed).

    Returns
    -------
    xarray.Dataset
    """
    import xarray as xr

    sizes: dict[str, int] = {}
    cdict = {}
    for name, spec in coords.items():
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            dim, values = spec
            values = np.asarray(values)
            cdict[name] = (dim, values)
            sizes.setdefault(dim, values.shape[0])
        else:
            values = np.asarray(spec)
            cdict[name] = (name, values)
            sizes.setdefault(name, values.shape[0])
    data = {}
    for name, (dims, spec) in variables.items():
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        if isinstance(spec, (str, type, np.dtype)):
            dtype = np.dtype(spec)
            missing = [d for d in dims if d not in sizes]
            if missing:
                raise SrchainError(f"variable {name!r}: dimension {missing[0]!r} has no size (give it a coordinate)")
            fill = np.nan if dtype.kind in "fc" else 0
            data[name] = (dims, np.broadcast_to(np.asarray(fill, dtype=dtype), tuple(sizes[d] for d in dims)))
        else:
            arr = np.asarray(spec)
            for d, n in zip(dims, arr.shape, strict=False):  # a mismatch is reported by xarray below
                sizes.setdefault(d, n)
            data[name] = (dims, arr)
    return xr.Dataset(data, coords=cdict, attrs=dict(attrs or {}))


def _default_sweep_dims(template) -> tuple[str, ...]:
    return tuple(d for d in template.dims if d not in NON_SWEEP_DIMS)


def task_id(key: dict, sweep_dims, index) -> str:
    """The file-name-safe id of a task key: ``alpha-3`` or ``method-0_alpha-1`` (positions along the dims)."""
    pos = _positions(key, sweep_dims, index)
    return "_".join(f"{d}-{pos[d]}" for d in sweep_dims if d in pos) or "all"


def _positions(key: dict, sweep_dims, index) -> dict[str, int]:
    if not isinstance(key, dict):
        raise SrchainError(f"a task key must be a dict of coordinate values, got {key!r}")
    pos = {}
    for d, v in key.items():
        if d not in sweep_dims:
            raise SrchainError(f"task key {key!r}: {d!r} is not a sweep dimension ({', '.join(sweep_dims)})")
        values = index[d]
        v = v.item() if isinstance(v, np.generic) else v
        try:
            pos[d] = values.index(v)
        except ValueError:
            raise SrchainError(
                f"task key {key!r}: {d}={v!r} is not one of the store's {d} values "
                f"({', '.join(map(str, values[:8]))}{' …' if len(values) > 8 else ''})"
            ) from None
    return pos


# ----------------------------------------------------------------------------------------------------------------
# the store
# ----------------------------------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _encode_attrs(attrs: dict, settings) -> dict:
    out: dict[str, object] = {}
    encoded = []
    for k, v in attrs.items():
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "if":
            out[k] = v
        else:
            out[k] = dumps_json(v, indent=False).decode().rstrip("\n")
            encoded.append(k)
    out["settings"] = dumps_json(settings, indent=False).decode().rstrip("\n")
    encoded.append("settings")
    out[_JSON_ATTRS] = " ".join(sorted(set(encoded)))
    return out


def _decode_attrs(attrs: dict) -> dict:
    names = str(attrs.get(_JSON_ATTRS, "")).split()
    out = {k: v for k, v in attrs.items() if k != _JSON_ATTRS}
    for k in names:
        if k in out and isinstance(out[k], str):
            try:
                out[k] = orjson.loads(out[k])
            except orjson.JSONDecodeError:
                pass
    return out


def _records_in(control: Path) -> dict:
    """Task id -> marker record (key, summary, host, pid, time) of the finished tasks."""
    folder = control / "done"
    out: dict[str, dict] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.json")):
        rec = _read_marker(p)
        if rec is not None:
            out[p.stem] = rec
    return out


def _read_marker(p: Path):
    try:
        return orjson.loads(p.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


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
    """

    def __init__(self, path, kind, sweep_dims, index, variables, settings):
        self.path = Path(path)
        self.kind = kind
        self.sweep_dims = tuple(sweep_dims)
        self.settings = settings
        self._index = index  # sweep dim -> list of coordinate values
        self._vars = variables  # data variable -> (dims, shape, dtype str)
        self._owner = False
        self._dirty = False

    # ---- locations -------------------------------------------------------------------------------------------
    @staticmethod
    def _control_for(path: Path, kind: str) -> Path:
        return path / ".srchain" if kind == "zarr" else path.parent / f".{path.name}.srchain"

    @property
    def control(self) -> Path:
        """The bookkeeping folder (store.json, lock, done/)."""
        return self._control_for(self.path, self.kind)

    @property
    def data_path(self) -> Path:
        """Where the Zarr data lives: the store itself, or the staging ``data.zarr`` of a ``.nc`` store."""
        return self.path if self.kind == "zarr" else self.control / "data.zarr"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_owner"] = False  # a copy on a worker never releases (or thinks it holds) the lock
        state["_dirty"] = False
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
            Reopen an existing store (its completed tasks stay). Without it an existing store is refused.
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
            coordinates differ; another live sweep holds the lock; a bad suffix or template.
        """
        path = Path(path).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".zarr", ".nc"):
            raise SrchainError(f"results store {str(path)!r} needs the suffix .zarr (Zarr) or .nc (netCDF)")
        kind = suffix[1:]
        sweep_dims = _default_sweep_dims(template) if sweep_dims is None else tuple(sweep_dims)
        store = cls(path, kind, sweep_dims, *cls._signature(template, sweep_dims), _canon(settings))  # type: ignore[call-arg]
        control = store.control
        exists = path.exists() or (kind == "nc" and control.exists())
        if exists and not resume:
            raise SrchainError(f"{path} exists; pass `resume` or choose another path")
        if kind == "zarr" and path.exists() and not path.is_dir():
            raise SrchainError(f"{path} exists and is not a Zarr folder")
        if not exists:
            try:
                if kind == "zarr":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.mkdir(path)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.mkdir(control)
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
        # resume
        control.mkdir(exist_ok=True)
        store._lock()
        try:
            store._check_existing()
        except BaseException:
            store.close()
            raise
        return store

    @staticmethod
    def _signature(template, sweep_dims):
        for d in sweep_dims:
            if d not in template.dims:
                raise SrchainError(
                    f"sweep dimension {d!r} is not a dimension of the results ({', '.join(template.dims)})"
                )
            if d not in template.coords:
                raise SrchainError(f"sweep dimension {d!r} needs a coordinate (the values task keys name)")
        index = {d: np.asarray(template[d].values).tolist() for d in sweep_dims}
        for d, vals in index.items():
            if len(set(map(repr, vals))) != len(vals):
                raise SrchainError(f"the {d} values of the sweep repeat; give each value once")
        variables = {}
        for name, v in template.data_vars.items():
            if name in _RESERVED:
                raise SrchainError(f"{name!r} is reserved (open_results adds it); rename the variable")
            variables[name] = (tuple(v.dims), tuple(int(n) for n in v.shape), v.dtype.str)
        return index, variables

    def _sig_json(self) -> dict:
        return _canon(
            {
                "sweep_dims": list(self.sweep_dims),
                "coords": self._index,
                "variables": {k: [list(d), list(s), t] for k, (d, s, t) in self._vars.items()},
            }
        )

    def _create(self, template) -> None:
        tpl = template.copy(deep=False)
        for name, v in list(tpl.variables.items()):
            v.encoding = {}
            if v.dtype.kind == "U":  # variable-length strings: Zarr 3 has no stable fixed-width unicode type
                tpl[name] = v.astype(object)
        if any(v.chunks is not None for v in tpl.variables.values()):
            tpl = tpl.chunk({d: (1 if d in self.sweep_dims else -1) for d in tpl.dims})
        tpl.attrs = _encode_attrs(dict(template.attrs), self.settings)
        tpl.attrs["sweep_dims"] = " ".join(self.sweep_dims)
        encoding = {}
        for name, v in tpl.data_vars.items():
            enc: dict[str, object] = {
                "chunks": tuple(1 if d in self.sweep_dims else int(n) for d, n in zip(v.dims, v.shape, strict=True))
            }
            if v.dtype.kind == "f":
                enc["_FillValue"] = np.nan
            encoding[name] = enc
        self._write_zarr(tpl, self.data_path, encoding)
        (self.control / "done").mkdir(exist_ok=True)
        atomic_write(
            self.control / "store.json",
            lambda fh: fh.write(
                dumps_json({"format": 1, "kind": self.kind, "settings": self.settings, **self._sig_json()})
            ),
            binary=True,
        )

    @staticmethod
    def _write_zarr(ds, where: Path, encoding) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            ds.to_zarr(str(where), mode="a" if where.exists() else "w-", encoding=encoding, consolidated=True)

    def _check_existing(self) -> None:
        meta_path = self.control / "store.json"
        if meta_path.exists():
            try:
                meta = orjson.loads(meta_path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise SrchainError(f"cannot read {meta_path}: {exc}; remove {self.path} and start again") from None
        elif self.kind == "nc" and self.path.exists():
            meta = self._meta_from_nc()
        else:
            raise SrchainError(
                f"{self.path} is not a complete srchain store (was its creation interrupted?); "
                f"remove it or choose another path"
            )
        diff = _first_difference(self.settings, meta.get("settings"))
        if diff:
            name, new, old = diff
            raise SrchainError(
                f"cannot resume {self.path}: setting {name} is {_short(new)} now but {_short(old)} "
                f"in the store; use the same settings or another path"
            )
        mine = self._sig_json()
        for part, what in (("sweep_dims", "sweep dimensions"), ("coords", "coordinates"), ("variables", "variables")):
            if part == "coords":
                for d in mine["coords"]:
                    if mine["coords"][d] != meta.get("coords", {}).get(d):
                        raise SrchainError(
                            f"cannot resume {self.path}: its {d} values differ from this sweep's; "
                            f"use the same values or another path"
                        )
            if mine[part] != meta.get(part):
                raise SrchainError(f"cannot resume {self.path}: its {what} differ from this sweep's; use another path")
        if not meta_path.exists():  # a finished .nc reopened: rebuild the bookkeeping from the file
            (self.control / "done").mkdir(exist_ok=True)
            for tid, rec in meta.get("tasks", {}).items():
                atomic_write(
                    self.control / "done" / f"{tid}.json", lambda fh, r=rec: fh.write(dumps_json(r)), binary=True
                )
            atomic_write(
                meta_path, lambda fh: fh.write(dumps_json({k: v for k, v in meta.items() if k != "tasks"})), binary=True
            )

    def _meta_from_nc(self) -> dict:
        import xarray as xr

        with xr.open_dataset(self.path, engine="h5netcdf") as ds:
            attrs = _decode_attrs(dict(ds.attrs))
            sweep_dims = str(attrs.get("sweep_dims", "")).split()
            index, variables = self._signature(ds, sweep_dims)
        sig = _canon(
            {
                "sweep_dims": sweep_dims,
                "coords": index,
                "variables": {k: [list(d), list(s), t] for k, (d, s, t) in variables.items()},
            }
        )
        return {
            "format": 1,
            "kind": "nc",
            "settings": attrs.get("settings"),
            **sig,
            "tasks": attrs.get("srchain_tasks", {}),
        }

    # ---- the lock ----------------------------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.control / "lock"

    def _lock(self) -> None:
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for attempt in range(20):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    other = orjson.loads(self.lock_path.read_bytes())
                except FileNotFoundError:
                    continue
                except (OSError, orjson.JSONDecodeError):
                    if attempt < 10:  # being written right now
                        time.sleep(0.05)
                        continue
                    other = {"host": me["host"], "pid": -1}
                host, pid = other.get("host"), int(other.get("pid", -1))
                if host == me["host"] and not _pid_alive(pid):
                    try:  # a stale lock of a dead process on this host: take it over (one taker wins the rename)
                        os.rename(self.lock_path, self.control / f"lock.stale.{os.getpid()}")
                        os.unlink(self.control / f"lock.stale.{os.getpid()}")
                    except FileNotFoundError:
                        pass
                    continue
                where = f"pid {pid} on {host}" + (f", since {other['since']}" if other.get("since") else "")
                hint = "" if host == me["host"] else f" (remove {self.lock_path} if that sweep is gone)"
                raise SrchainError(
                    f"{self.path} is being written by another sweep ({where}); wait for it or choose another path{hint}"
                ) from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(me))
            self._owner = True
            return
        raise SrchainError(f"cannot take the lock {self.lock_path}; remove it if no sweep is running")

    def close(self) -> None:
        """Release the lock (only the process that opened the store holds it); a finished ``.nc`` tidies up."""
        if not self._owner:
            return
        self._owner = False
        if self.kind == "nc" and self.path.exists() and not self.data_path.exists():
            shutil.rmtree(self.control, ignore_errors=True)  # complete: the .nc holds everything
            return
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

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
        import xarray as xr

        pos = _positions(key, self.sweep_dims, self._index)
        if not arrays:
            return
        data, region = {}, {}
        for name, arr in arrays.items():
            if name not in self._vars:
                raise SrchainError(f"{name!r} is not a variable of {self.path} ({', '.join(self._vars)})")
            dims, shape, dtype = self._vars[name]
            loose = [d for d in dims if d in self.sweep_dims and d not in pos]
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
            for d, n in zip(dims, shape, strict=True):
                region[d] = slice(pos[d], pos[d] + 1) if d in pos else slice(0, n)
        ds = xr.Dataset(data)
        if self.kind == "nc" and not self.data_path.exists():
            self._restore_staging()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            ds.to_zarr(str(self.data_path), region=region, mode="r+", consolidated=False)
        self._dirty = True

    def _restore_staging(self) -> None:
        """A finished ``.nc`` reopened and written to again: rebuild the staging Zarr from it (client side)."""
        import xarray as xr

        if not self.path.exists():
            raise SrchainError(f"{self.path}: its partial results ({self.data_path}) are missing; start again")
        with xr.open_dataset(self.path, engine="h5netcdf") as ds:
            ds = ds.load()
        encoding: dict[str, dict[str, object]] = {}
        for name, v in ds.data_vars.items():
            encoding[name] = {
                "chunks": tuple(1 if d in self.sweep_dims else int(n) for d, n in zip(v.dims, v.shape, strict=True))
            }
            if v.dtype.kind == "f":
                encoding[name]["_FillValue"] = np.nan
        for v in ds.variables.values():
            v.encoding = {}
        ds.attrs.pop("srchain_tasks", None)
        self._write_zarr(ds, self.data_path, encoding)

    def mark_done(self, key: dict, summary: dict | None = None) -> None:
        """Write the task's completion marker (after its region): ``done/<task-id>.json`` with key and summary."""
        rec = {
            "key": key,
            "summary": summary,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        payload = dumps_json(rec)
        atomic_write(self._marker(key), lambda fh: fh.write(payload), binary=True)
        self._dirty = True

    def is_done(self, key: dict) -> bool:
        """Whether the task ``key`` has its completion marker."""
        return self._marker(key).exists()

    def summary(self, key: dict):
        """The summary a finished task recorded in its marker (``None`` if it has not finished)."""
        rec = _read_marker(self._marker(key))
        return None if rec is None else rec.get("summary")

    def _records(self) -> dict:
        return _records_in(self.control)

    def completed(self) -> list[dict]:
        """The keys of the finished tasks (those with a marker), in task-id order."""
        return [rec["key"] for rec in self._records().values()]

    def read_region(self, key: dict, names=None) -> dict:
        """One task's variables read back as NumPy arrays (shaped without the key's dimensions)."""
        import xarray as xr

        pos = _positions(key, self.sweep_dims, self._index)
        names = list(self._vars) if names is None else list(names)
        names = [n for n in names if all(d in pos for d in self._vars[n][0] if d in self.sweep_dims)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            ds = xr.open_zarr(str(self.data_path), chunks=None)
            sel = {d: i for d, i in pos.items()}
            return {n: np.asarray(ds[n].isel({d: i for d, i in sel.items() if d in ds[n].dims}).values) for n in names}

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
        import xarray as xr

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            ds = xr.open_zarr(str(self.data_path), chunks=None).load()
        for v in ds.variables.values():
            v.encoding = {k: e for k, e in v.encoding.items() if k in ("_FillValue", "dtype")}
        ds.attrs["srchain_tasks"] = dumps_json(self._records(), indent=False).decode().rstrip("\n")
        names = str(ds.attrs.get(_JSON_ATTRS, "")).split()
        ds.attrs[_JSON_ATTRS] = " ".join(sorted(set(names) | {"srchain_tasks"}))
        with atomic_path(self.path) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        shutil.rmtree(self.data_path, ignore_errors=True)
        self._dirty = False
        return self.path


# ----------------------------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------------------------
def _done_array(sweep_dims, index, keys) -> np.ndarray:
    done = np.zeros(tuple(len(index[d]) for d in sweep_dims), dtype=bool)
    for key in keys:
        if not key:
            continue
        try:
            pos = _positions(key, sweep_dims, index)
        except SrchainError:
            continue
        done[tuple(slice(pos[d], pos[d] + 1) if d in pos else slice(None) for d in sweep_dims)] = True
    return done


def open_results(path: str | os.PathLike, mask: bool = True, **kwargs: Any) -> xr.Dataset:
    """A results store (``.zarr`` or ``.nc``, finished or not) as an ``xarray.Dataset``.

    Parameters
    ----------
    path : str or Path
    mask : bool
        Floating-point variables of unfinished tasks read as NaN (their region may hold a partial write).
        Integer and boolean variables are returned as stored; ``done`` tells which entries are final.
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
        Missing or unreadable store.
    """
    import xarray as xr

    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".zarr", ".nc"):
        raise SrchainError(f"{path}: a results store ends in .zarr or .nc")
    kind = suffix[1:]
    control = ResultStore._control_for(path, kind)
    records = None
    if kind == "nc" and not path.exists() and (control / "data.zarr").exists():
        where, kind = control / "data.zarr", "zarr"  # an unfinished .nc sweep: read its staging store
    elif not path.exists():
        raise SrchainError(f"{path} does not exist")
    else:
        where = path
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr.*")
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            if kind == "zarr":
                ds = xr.open_zarr(str(where), **kwargs)
            else:
                ds = xr.open_dataset(str(where), engine="h5netcdf", **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise SrchainError(f"cannot read {path} as a results store: {exc}") from None
    ds.attrs = _decode_attrs(dict(ds.attrs))
    if "srchain_tasks" in ds.attrs:
        records = ds.attrs.pop("srchain_tasks")
        keys = [r["key"] for r in records.values()]
    elif (control / "done").is_dir():
        keys = [r["key"] for r in _records_in(control).values()]
    else:
        keys = None
    sweep_dims = tuple(str(ds.attrs.get("sweep_dims", "")).split())
    if keys is None or not sweep_dims or any(d not in ds.coords for d in sweep_dims):
        return ds
    index = {d: np.asarray(ds[d].values).tolist() for d in sweep_dims}
    done = _done_array(sweep_dims, index, keys)
    ds["done"] = (sweep_dims, done)
    if mask and not done.all():
        mask_da = ds["done"]
        for name, v in list(ds.data_vars.items()):
            if name != "done" and v.dtype.kind == "f" and any(d in sweep_dims for d in v.dims):
                ds[name] = v.where(mask_da)
    return ds


def region_reader(path):
    """``read(key, names)``: a finished task's variables read back from the store at ``path`` (Zarr, or the finished
    ``.nc``: a ``.nc`` sweep's staging area is gone once :meth:`ResultStore.finalize` has written it)."""
    ds = open_results(path, chunks=None)

    def read(key: dict, names) -> dict:
        return {n: np.asarray(ds[n].sel({d: v for d, v in key.items() if d in ds[n].dims}).values) for n in names}

    return read
