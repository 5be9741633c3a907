"""The layout of a results store: templates, task keys and ids, the sweep's signature and its attrs.

A store is one ``xarray.Dataset`` chunked one element per task along its *sweep dimensions* (``alpha``,
``method`` …) and whole along the others (``state``, ``step`` …): every task owns a region. This module says which
region a task key names, what a sweep's signature is (sweep dimensions, coordinates, variables with shape and
dtype: two runs may share a store only if they agree on it), and how nested configuration is kept in attrs.
"""

from __future__ import annotations

import numpy as np
import orjson

from srchain.errors import SrchainError
from srchain.io import _default, _prepare, dumps_json

__all__ = ["NON_SWEEP_DIMS", "make_template", "task_id", "positions", "signature", "signature_json"]

#: Dimensions that are never swept (whole in every chunk) when ``sweep_dims`` is not given.
NON_SWEEP_DIMS = ("state", "step", "epoch", "layer", "iteration", "bin")

RESERVED = ("done",)
JSON_ATTRS = "srchain_json_attrs"  # names of attrs stored as JSON text (netCDF attrs cannot nest)


def canon(obj):
    """``obj`` as it reads back from JSON (tuples → lists, NumPy → Python, NaN → None): comparable settings."""
    return orjson.loads(orjson.dumps(_prepare(obj), default=_default, option=orjson.OPT_SERIALIZE_NUMPY))


def first_difference(new, old, prefix: str = ""):
    """The dotted name of the first setting that differs between two canonical JSON values, or ``None``."""
    if isinstance(new, dict) and isinstance(old, dict):
        for k in sorted(set(new) | set(old)):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in new or k not in old:
                return name, new.get(k, "<unset>"), old.get(k, "<unset>")
            d = first_difference(new[k], old[k], name)
            if d:
                return d
        return None
    if new != old:
        return prefix or "settings", new, old
    return None


def short(x, n: int = 60) -> str:
    """``x`` as at most ``n`` characters of JSON (for one-line messages)."""
    s = "unset" if isinstance(x, str) and x == "<unset>" else orjson.dumps(x, default=str).decode()
    return s if len(s) <= n else s[: n - 1] + "…"


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
            for d, n in zip(dims, arr.shape, strict=False):
                sizes.setdefault(d, n)
            data[name] = (dims, arr)
    return xr.Dataset(data, coords=cdict, attrs=dict(attrs or {}))


def default_sweep_dims(template) -> tuple[str, ...]:
    """Every dimension of ``template`` not in :data:`NON_SWEEP_DIMS`."""
    return tuple(d for d in template.dims if d not in NON_SWEEP_DIMS)


def task_id(key: dict, sweep_dims, index) -> str:
    """The file-name-safe id of a task key: ``alpha-3`` or ``method-0_alpha-1`` (positions along the dims)."""
    pos = positions(key, sweep_dims, index)
    return "_".join(f"{d}-{pos[d]}" for d in sweep_dims if d in pos) or "all"


def positions(key: dict, sweep_dims, index) -> dict[str, int]:
    """``{dim: position}`` of a task key along the sweep dimensions it names (one-line refusal if it names others)."""
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


def region_slices(dims, shape, pos: dict) -> dict:
    """The region ``{dim: slice}`` a task at ``pos`` owns in a variable of ``dims`` × ``shape``."""
    return {d: (slice(pos[d], pos[d] + 1) if d in pos else slice(0, n)) for d, n in zip(dims, shape, strict=True)}


def signature(template, sweep_dims):
    """``(index, variables)``: each sweep dimension's coordinate values, and each variable's (dims, shape, dtype)."""
    for d in sweep_dims:
        if d not in template.dims:
            raise SrchainError(f"sweep dimension {d!r} is not a dimension of the results ({', '.join(template.dims)})")
        if d not in template.coords:
            raise SrchainError(f"sweep dimension {d!r} needs a coordinate (the values task keys name)")
    index = {d: np.asarray(template[d].values).tolist() for d in sweep_dims}
    for d, vals in index.items():
        if len(set(map(repr, vals))) != len(vals):
            raise SrchainError(f"the {d} values of the sweep repeat; give each value once")
    variables = {}
    for name, v in template.data_vars.items():
        if name in RESERVED:
            raise SrchainError(f"{name!r} is reserved (open_results adds it); rename the variable")
        variables[name] = (tuple(v.dims), tuple(int(n) for n in v.shape), v.dtype.str)
    return index, variables


def signature_json(sweep_dims, index, variables) -> dict:
    """The signature as it is kept in ``store.json`` (canonical JSON)."""
    return canon(
        {
            "sweep_dims": list(sweep_dims),
            "coords": index,
            "variables": {k: [list(d), list(s), t] for k, (d, s, t) in variables.items()},
        }
    )


def encode_attrs(attrs: dict, settings) -> dict:
    """Attrs a Zarr / netCDF file can hold: nested values as JSON text, their names listed in one attr."""
    out, encoded = {}, []
    for k, v in attrs.items():
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "if":
            out[k] = v  # type: ignore[assignment]  # xarray stores 1-D numeric attributes as they are
        else:
            out[k] = dumps_json(v, indent=False).decode().rstrip("\n")
            encoded.append(k)
    out["settings"] = dumps_json(settings, indent=False).decode().rstrip("\n")
    encoded.append("settings")
    out[JSON_ATTRS] = " ".join(sorted(set(encoded)))
    return out


def decode_attrs(attrs: dict) -> dict:
    """The inverse of :func:`encode_attrs` (text that is not JSON stays text)."""
    names = str(attrs.get(JSON_ATTRS, "")).split()
    out = {k: v for k, v in attrs.items() if k != JSON_ATTRS}
    for k in names:
        if k in out and isinstance(out[k], str):
            try:
                out[k] = orjson.loads(out[k])
            except orjson.JSONDecodeError:
                pass
    return out
