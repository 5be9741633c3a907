"""srchain: stochastic rounding as a Markov chain.

Exact, fast computations for "Training Quantized Nets: A Deeper Understanding" (Li, De, Xu, Studer, Samet,
Goldstein, NeurIPS 2017): quantizers (Eq. 3, 5), the SR transition operator T_α (Eq. 6), its small-α limit
T̃_α (Eq. 9), stationary laws (Theorem 5), mixing times (Eq. 10, Theorem 6), simulators and bounds.

The public names are imported on first use, so ``import srchain`` stays light (no Numba, SciPy or torch)::

    import srchain as sc
    toy = sc.problem("toy")
    lat = sc.Lattice.from_domain(0.5, toy.domain)
    noise = sc.noise.gaussian(2.0)
    op = sc.transition_matrix(toy, noise, lat, alpha=0.01)       # T_α (row-stochastic P = T_αᵀ)
    limit = sc.limit_chain(toy, noise, lat)                       # Ũ, α0, T̃ (Eq. 9)
    sc.tv(sc.stationary(op).pi, sc.stationary(limit.t_tilde).pi)  # TV(π_α, π̃), Theorem 5
"""

from __future__ import annotations

import importlib

from srchain.errors import SrchainError

__version__ = "0.1.0"

#: public name -> (module, attribute); resolved by :func:`__getattr__` on first use.
_LAZY = {
    "Lattice": ("srchain.lattice", "Lattice"),
    "Grid": ("srchain.grids", "Grid"),
    "stall_set": ("srchain.grid_chains", "stall_set"),
    "grid_law_dense": ("srchain.grid_dense", "grid_law_dense"),
    "Problem": ("srchain.problems", "Problem"),
    "problem": ("srchain.problems", "get_problem"),
    "register_problem": ("srchain.problems", "register"),
    "available_problems": ("srchain.problems", "available_problems"),
    "ChainSpec": ("srchain.spec", "ChainSpec"),
    "qd": ("srchain.quantize", "qd"),
    "qs": ("srchain.quantize", "qs"),
    "transition_matrix": ("srchain.operators", "transition_matrix"),
    "u_tilde": ("srchain.operators", "u_tilde"),
    "alpha0": ("srchain.operators", "alpha0"),
    "t_tilde": ("srchain.operators", "t_tilde"),
    "limit_chain": ("srchain.operators", "limit_chain"),
    "stationary": ("srchain.stationary", None),  # the module, callable as its function (srchain._callable)
    "stationary_distributions": ("srchain.stationary", "stationary_distributions"),
    "tv": ("srchain.stationary", "tv"),
    "mixing_time": ("srchain.mixing", "mixing_time"),
    "simulate": ("srchain.simulate", None),
    "jump_chain": ("srchain.simulate", "jump_chain"),
    "open_results": ("srchain.results", "open_results"),
}
#: submodules reachable as attributes (``sc.noise.gaussian``, ``sc.bounds.theorem1``).
_SUBMODULES = (
    "noise",
    "bounds",
    "operators",
    "mixing",
    "lattice",
    "grids",
    "rounding",
    "problems",
    "quantize",
    "budget",
    "results",
    "sweep",
)

__all__ = ["SrchainError", "__version__", *_LAZY, "noise", "bounds"]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        value = value if attr is None else getattr(value, attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"srchain.{name}")
    raise AttributeError(f"module 'srchain' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
