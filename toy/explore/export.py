"""The exports of ``srchain explore`` (its "export" buttons): the current view as an :class:`xarray.Dataset`, a
netCDF file, the ``srchain stationary --json`` layout, and a PNG drawn by matplotlib.

Pure functions of :attr:`srchain.toy.explore.app.Explorer.state`, its curves over α and its mixing-time curve;
no Panel here.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
from srchain.toy.explore.model import _fmt

__all__ = ["to_xarray", "netcdf_bytes", "to_dict", "json_bytes", "png_bytes"]


def to_xarray(state: dict, curves: dict, mix: dict, eps: float):
    """The current view as an :class:`xarray.Dataset` (the results store's names: ``alpha``, ``state``
    with coords ``x0 …``, ``pi``, ``pi_limit``, ``tv_to_limit``, ``mass_at_minimizer``, ``counts`` …).

    ``state`` is the explorer's :attr:`~srchain.toy.explore.app.Explorer.state`, ``curves`` its
    :meth:`~srchain.toy.explore.app.Explorer.curves`, ``mix`` the columns of its mixing-time curve (``alpha``,
    ``exact``, ``lower``, ``upper``) and ``eps`` the ε of the mixing time.
    """
    import xarray as xr

    st = state
    pts = np.asarray(st["points"])
    n = pts.shape[0]
    cur = curves
    nanv = np.full(n, math.nan)
    ds = xr.Dataset(
        {
            "pi": ("state", nanv if st["pi"] is None else np.asarray(st["pi"])),
            "pi_limit": ("state", nanv if st["pi_limit"] is None else np.asarray(st["pi_limit"])),
            "sim_freq": ("state", nanv if st["sim"] is None else np.asarray(st["sim"])),
            "tv_to_limit": ("alpha", cur["tv"]),
            "mass_at_minimizer": ("alpha", cur["mass"]),
        },
        coords={"alpha": cur["alpha"], **{f"x{k}": ("state", pts[:, k]) for k in range(pts.shape[1])}},
    )
    if len(mix["alpha"]):
        ds = ds.assign(
            mixing_time=("alpha_mixing", np.asarray(mix["exact"], dtype=float)),
            mixing_lower_bound=("alpha_mixing", np.asarray(mix["lower"], dtype=float)),
            mixing_upper_bound=("alpha_mixing", np.asarray(mix["upper"], dtype=float)),
        )
        ds = ds.assign_coords(alpha_mixing=np.asarray(mix["alpha"], dtype=float))
    settings = {**st["setting"], "method": st["method"], "alpha": st["alpha"], "eps": float(eps)}
    ds.attrs = {
        "command": "explore",
        "current_alpha": st["alpha"],
        "method": st["method"],
        "alpha0": math.nan if st["alpha0"] is None else st["alpha0"],
        "tv_at_current_alpha": st["tv_to_limit"],
        "solver": st["solver"],
        "settings": json.dumps(settings),
        "srchain_json_attrs": "settings",
    }
    return ds


def netcdf_bytes(ds) -> io.BytesIO:
    """``ds`` (:func:`to_xarray`) as the bytes of a netCDF file (h5netcdf)."""
    import os
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(path, engine="h5netcdf")
        with open(path, "rb") as fh:
            return io.BytesIO(fh.read())
    finally:
        os.unlink(path)


def to_dict(state: dict, curves: dict) -> dict:
    """The ``srchain stationary --json`` layout for the current view (plus the curves over α)."""
    st = state
    cur = curves
    return {
        "command": "explore",
        **st["setting"],
        "method": st["method"],
        "states": np.asarray(st["points"]).tolist(),
        "limit": None
        if st["pi_limit"] is None
        else {"alpha0": st["alpha0"], "pi": np.asarray(st["pi_limit"]).tolist()},
        "results": [
            {
                "alpha": st["alpha"],
                "pi": None if st["pi"] is None else np.asarray(st["pi"]).tolist(),
                "tv_to_limit": st["tv_to_limit"],
                "mass_at_minimizer": st["mass_at_minimizer"],
                "entropy": st["entropy"],
                "solver": st["solver"],
            }
        ],
        "curves": [
            {
                "alpha": float(a),
                "tv_to_limit": None if not math.isfinite(t) else float(t),
                "mass_at_minimizer": None if not math.isfinite(m) else float(m),
            }
            for a, t, m in zip(cur["alpha"], cur["tv"], cur["mass"], strict=True)
        ],
        "mixing": st.get("mixing"),
        "simulated": None if st["sim"] is None else np.asarray(st["sim"]).tolist(),
    }


def json_bytes(d: dict) -> io.BytesIO:
    """``d`` (:func:`to_dict`) as indented JSON bytes."""
    from srchain.io import to_jsonable

    return io.BytesIO(json.dumps(to_jsonable(d), indent=1).encode())


def png_bytes(state: dict, curves: dict, mix: dict) -> io.BytesIO:
    """The current view drawn by matplotlib (law, curves over α and, when shown, the mixing times).

    The arguments are those of :func:`to_xarray`.
    """
    from matplotlib.figure import Figure

    st = state
    pts = np.asarray(st["points"])
    rows = 3 if len(mix["alpha"]) else 2
    fig = Figure(figsize=(9, 3.2 * rows), dpi=110)
    axs = fig.subplots(rows, 1)
    ax = axs[0]
    if pts.shape[1] == 1:
        x = pts[:, 0]
        if st["sim"] is not None:
            ax.bar(x, st["sim"], width=0.8 * (x[1] - x[0]), color="#ff7f0e", alpha=0.35, label="simulated")
        if st["pi"] is not None:
            ax.step(x, st["pi"], where="mid", lw=2, label=f"{st['method'].upper()} law at α={st['alpha']:g}")
        if st["pi_limit"] is not None:
            ax.step(x, st["pi_limit"], "k--", where="mid", label="π̃ (SR limit, Eq. 9)")
        ax.set_xlabel("w")
        ax.set_ylabel("probability")
        ax.legend(fontsize=8)
    else:
        n1 = len(np.unique(pts[:, 0]))
        img = np.asarray(st["pi"] if st["pi"] is not None else np.zeros(len(pts))).reshape(n1, -1).T
        ax.imshow(
            img,
            origin="lower",
            extent=[pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max()],
            aspect="auto",
        )
        ax.set_xlabel("w₁")
        ax.set_ylabel("w₂")
    ax.set_title(
        f"{st['setting']['problem']}: {st['method'].upper()}, α = {st['alpha']:g}, "
        f"Δ = {st['setting']['delta']:g}; TV(π_α, π̃) = {_fmt(st['tv_to_limit'])}",
        fontsize=9,
    )
    cur = curves
    ax = axs[1]
    ax.loglog(cur["alpha"], cur["tv"], "o-", ms=3, label="TV(law, π̃)")
    ax2 = ax.twinx()
    ax2.semilogx(cur["alpha"], cur["mass"], "s-", ms=3, color="C2", label="mass on minimiser")
    ax.axvline(st["alpha"], color="r")
    ax.set_xlabel("α")
    ax.set_ylabel("TV(law, π̃)")
    ax2.set_ylabel("mass on minimiser", color="C2")
    if rows == 3:
        ax = axs[2]
        ax.loglog(mix["alpha"], mix["exact"], "o-", label="M_ε exact")
        ax.loglog(mix["alpha"], mix["lower"], "g--", label="lower bound")
        ax.loglog(mix["alpha"], mix["upper"], "m--", label="upper bound")
        ax.axvline(st["alpha"], color="r")
        ax.set_xlabel("α")
        ax.set_ylabel("steps")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return buf
