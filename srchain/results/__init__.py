"""Results as labelled arrays: fast JSON, and Zarr / netCDF stores that sweep tasks fill region by region.

Three things live here (one concern per module: :mod:`.layout` the templates, keys and signature,
:mod:`.regions` the region writes and reads, :mod:`.checks` the completion markers and their checksums,
:mod:`.lock` the one-writer lock, :mod:`.store` the store itself, :mod:`.reading` reading it back):

* :func:`write_json_fast` — re-exported from :mod:`srchain.io`: JSON written by orjson (10⁶ states in a fraction
  of a second).
* :class:`ResultStore` — one ``xarray.Dataset`` on disk (``PATH.zarr`` or ``PATH.nc``) created from a template,
  chunked one element per task along the *sweep dimensions* (``alpha``, ``method``, ``delta``, ``seed`` …) and
  whole along the others (``state``, ``step`` …), so that every task owns a region. A task writes its region
  with :meth:`ResultStore.write_region` from wherever it runs, then a completion marker with
  :meth:`ResultStore.mark_done`, which certifies the region (a checksum of what the task wrote). The store
  records the ``settings`` that change a result and refuses to be
  resumed with different ones; one writer at a time holds its lock.
* :func:`open_results` — the Dataset back in one line, with a boolean ``done`` variable over the sweep
  dimensions (floating-point results of unfinished tasks read as NaN), after checking every marker against its
  region: a store whose data was lost or changed is refused, naming the tasks; ``--resume`` runs them again.

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

from srchain.io import atomic_path, atomic_write, dumps_json, write_json_fast  # noqa: F401 (re-exported)
from srchain.results.layout import NON_SWEEP_DIMS, make_template, task_id
from srchain.results.layout import canon as _canon  # noqa: F401 (the sweep engine's)
from srchain.results.reading import open_results, region_reader
from srchain.results.store import ResultStore

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
