"""``srchain explore``: an interactive Panel app that shows the SR chain stall and BC concentrate as the knobs turn.

:func:`build_app` returns the layout (serve it, or display it in a notebook); :class:`Explorer` holds the state
and the views. Every number it shows comes from the library:

* π_α of SR (Eq. 6) and R (Eq. 4): :func:`srchain.operators.transition_matrix` solved by subtraction-free GTH
  (:func:`srchain.toy.bc_law.banded_gth` on 1-D chains that are not birth-death chains and whose moves span less
  than a third of the lattice, where it costs O(n·J²) instead of O(n³); :func:`srchain.stationary.stationary`
  otherwise, which solves birth-death chains by detailed balance);
* π̃ (Eq. 9) and α0: :func:`srchain.operators.u_tilde`, :func:`~srchain.operators.alpha0`,
  :func:`~srchain.operators.t_tilde` and :func:`~srchain.stationary.stationary`;
* BC's law of ``Qd(w_r)``: :func:`srchain.toy.bc_law.bc_law` (1-D);
* M_ε(α) and its spectral bounds: :func:`srchain.mixing.mixing_time` and :func:`~srchain.mixing.spectral_bounds`;
* the simulated histogram: :func:`srchain.simulate.jump_chain` (SR, R) and :func:`srchain.simulate.simulate` (BC);
* on a number format's grid (the *grid* control): the chains of :mod:`srchain.grid_chains` through the same
  :func:`srchain.operators.transition_matrix` and :func:`~srchain.operators.u_tilde`, solved as ``srchain
  stationary --format`` does, and the histogram of :func:`srchain.simulate.grid.simulate_grid`.

The α slider moves over a fixed grid (:data:`ALPHAS`, ten per decade): the curves over α are computed on the same
grid in a background thread, so once they are drawn every α is a cache hit. Each computation is memoised on its
parameters (a hashable :class:`Setting`, the method and α); errors the user can cause (a reducible chain, a lattice
too large) are memoised too and shown in the page instead of raised. A refusal for lack of memory is shown but not
memoised: it depends on the memory free at that moment (another computation may hold it).

The package has one module per concern: :mod:`~srchain.toy.explore.model` (the computations above, pure and
memoised; no Panel), :mod:`~srchain.toy.explore.params` (the controls and the values they offer),
:mod:`~srchain.toy.explore.app` (the view: :class:`Explorer` and :func:`build_app`),
:mod:`~srchain.toy.explore.views` (its Bokeh figures and Panel panes) and :mod:`~srchain.toy.explore.export` (the
PNG, netCDF and JSON exports). ``Explorer`` and ``build_app`` are imported
from :mod:`~srchain.toy.explore.app` on first use, so that importing this package does not import Panel.
"""

from __future__ import annotations

from srchain.toy.explore import model as _model
from srchain.toy.explore.model import (
    ALPHAS,
    DELTAS,
    Setting,
    clear_caches,
    curve_point,
    histogram,
    law,
    limit_law,
    mixing,
    problem_options,
)

__all__ = [
    "ALPHAS",
    "DELTAS",
    "Setting",
    "Explorer",
    "build_app",
    "problem_options",
    "law",
    "limit_law",
    "mixing",
    "histogram",
    "curve_point",
    "clear_caches",
]

#: names of :mod:`srchain.toy.explore.app`, the view, which imports param (and Panel when it builds its views)
_VIEW = ("Explorer", "build_app", "URL_PARAMS", "WAIT_S")


def __getattr__(name):  # the view is imported on first use, so that importing this package does not import Panel
    if name in _VIEW:
        from srchain.toy.explore import app

        return getattr(app, name)
    if name in _model.__all__:  # the model's other names (chain, operator, MIXING_ALPHAS, …)
        return getattr(_model, name)
    raise AttributeError(name)


def __dir__():
    return sorted(set(globals()) | set(_VIEW) | set(_model.__all__))
