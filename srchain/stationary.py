"""Stationary laws of finite Markov chains, exact to relative precision on metastable chains (Theorem 5).

The chains of Section 5 (SR on fine lattices, small α) are *metastable*: π concentrates in basins separated by
barriers hundreds of orders of magnitude deep. A residual ``‖πP − π‖₁`` near machine precision does not prove an
answer there: a linear solve pinned at a state of the wrong basin returns the wrong basin with residual 1e-15
(TV distance 1.0 from the truth), because the errors it makes sit on states whose mass is tiny. This module
therefore solves with GTH (Grassmann–Taksar–Heyman) elimination, which has no subtractions and computes every
component of π to small relative error (the numerics live in :mod:`srchain.gth`):

* ``"birth-death"``: tridiagonal chains, by detailed balance ``π_{k+1}/π_k = P[k, k+1]/P[k+1, k]`` in log space;
* ``"gth-dense"``: dense GTH, for small chains (NumPy up to ``SMALL_MAX`` states, so nothing is compiled; the blocked
  Numba kernel beyond: :func:`srchain.gth.small_gth`, :func:`srchain.gth.dense_gth`);
* ``"gth-banded"``: GTH in the natural order on a band of ``N × (2b+1)`` rates, ``O(N b²)``, for chains whose moves
  span at most ``b`` states (1-D lattices): eliminated states always sit next to the states still to come, so no
  censored rate has to cross a barrier (:func:`srchain.gth.banded_law`; each row is stored and eliminated on its
  own extent, :func:`srchain.gth.envelope_law`, the same bits at the cost of the envelope: on a number format's
  grid the moves span more states where the values are dense);
* ``"gth-sparse"``: multifrontal GTH over a nested-dissection tree (lattice cuts whose separators are as thick as
  the chain's jumps *across that cut*, when ``shape`` is given; BFS level sets of the chain's graph otherwise); the
  bulk of the work is products of non-negative matrices (in a fixed order: the same bits under any thread count and
  on any machine), the two halves of the tree run in parallel threads (:func:`srchain.gth.sparse_gth`);
* ``"splu"``: SciPy's sparse LU on the system pinned at a state (fast, but *not* safe on metastable chains unless
  the pinned state is in the dominant basin: see :func:`stationary`). Never chosen by ``"auto"``.

Before solving, :func:`check_ergodic` verifies irreducibility (strongly connected components) and aperiodicity
and names the closed classes of a reducible chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import connected_components

from srchain.budget import check_memory
from srchain.errors import SrchainError
from srchain.gth import bandwidth, bfs_levels, dense_gth, offdiag, small_gth, sparse_gth
from srchain.gth.envelope import envelope_law, envelope_profile, envelope_size
from srchain.gth.scaling import ZeroPivot

if TYPE_CHECKING:
    import xarray as xr

    from srchain.lattice import Lattice
    from srchain.operators import LimitChain, Operator

#: a chain as the solvers accept it: row-stochastic ``P`` as a SciPy sparse matrix or an array, or an object with
#: a ``.P`` (an :class:`~srchain.operators.Operator` or a :class:`~srchain.operators.LimitChain`)
Chain: TypeAlias = "sp.spmatrix | np.ndarray | Operator | LimitChain"

__all__ = [
    "StationaryResult",
    "stationary",
    "check_ergodic",
    "birth_death_stationary",
    "tv",
    "residual",
    "is_birth_death",
    "METHODS",
]

#: Solver names accepted by :func:`stationary` (aliases: "gth" = "gth-sparse", "dense" = "gth-dense", "banded" =
#: "gth-banded").
METHODS = ("auto", "birth-death", "gth-dense", "gth-banded", "gth-sparse", "splu")
_ALIASES = {
    "gth": "gth-sparse",
    "dense": "gth-dense",
    "bd": "birth-death",
    "sparse": "gth-sparse",
    "banded": "gth-banded",
}
DENSE_MAX = 1500  # auto: dense GTH up to this many states
#: auto, beyond DENSE_MAX: banded GTH for a chain on a 1-D lattice (``shape``) whose band work ``N b²`` is at most
#: BANDED_MAX_WORK (about 20 s of its scalar kernel); sparse GTH otherwise, and if the sparse elimination meets a zero
#: pivot on an ergodic chain, banded GTH after all when ``b`` is at most BANDED_MAX_WIDTH. On 1-D chains nested
#: dissection's separators lie far from the states they censor, so the censored rates out of a deep basin can
#: underflow there; in the natural order no eliminated state is far from the states still to come.
BANDED_MAX_WORK = 2e10
BANDED_MAX_WIDTH = 2000
#: Aperiodicity of a chain without self-loops is checked with networkx up to this many states (a pure-Python
#: graph; beyond, the sparse period computation of :func:`_period` is used).
_NX_APERIODIC_MAX = 50_000
#: Chains up to this many states are solved (and checked) by NumPy code: no Numba kernel to compile, which a
#: fresh process would pay seconds for, against milliseconds of work.
SMALL_MAX = 200
#: Sparse GTH shows a progress bar (on a terminal) from this many states on (3–6 s on 2 cores at 10⁶ states on a
#: 2-D lattice, about 70 s at 10⁷).
SPARSE_BAR_STATES = 10**6


@dataclass(frozen=True)
class StationaryResult:
    r"""A stationary law and how it was obtained.

    Attributes
    ----------
    pi : ndarray
        The stationary law :math:`\pi` (sums to 1, no negative entries).
    residual : float
        :math:`\|\pi P - \pi\|_1`.
    method : str
        The solver that ran: "birth-death", "gth-dense", "gth-sparse" or "splu" (on a format's grid,
        :func:`srchain.grid_dense.grid_law_dense` also reports "gth-lifted").
    underflow : int
        Entries of ``pi`` that are exactly 0 because they are below the float64 range relative to the largest
        (for an irreducible chain every true :math:`\pi(x)` is positive).
    seconds : float
        Wall-clock time of the solve (including the checks).
    """

    pi: np.ndarray
    residual: float
    method: str
    underflow: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "residual": self.residual,
            "underflow": self.underflow,
            "seconds": self.seconds,
            "states": int(self.pi.size),
            "pi": self.pi.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"StationaryResult(states={self.pi.size}, method={self.method!r}, residual={self.residual:.2g}, "
            f"min pi={float(self.pi.min()):.3g}, underflow={self.underflow})"
        )

    def to_xarray(self, lattice: Lattice | None = None) -> xr.Dataset:
        """``pi`` as an :class:`xarray.Dataset` over ``state`` (with the lattice coordinates ``x0 …`` when given)."""
        import xarray as xr

        coords = {}
        if lattice is not None:
            pts = lattice.points
            coords = {f"x{k}": ("state", pts[:, k]) for k in range(pts.shape[1])}
        return xr.Dataset(
            {"pi": ("state", self.pi)},
            coords=coords,
            attrs={"method": self.method, "residual": self.residual, "underflow": self.underflow},
        )


# --------------------------------------------------------------------------------------------------------------
# input handling and small helpers
# --------------------------------------------------------------------------------------------------------------
def _as_csr(P: Chain) -> sp.csr_matrix:
    """Accept a scipy sparse matrix, a dense array, or an object with a ``.P`` (an ``Operator``)."""
    if hasattr(P, "P") and not isinstance(P, np.ndarray):
        P = P.P
    if sp.issparse(P):
        A = sp.csr_matrix(P, dtype=np.float64)
    else:
        arr = np.asarray(P, dtype=np.float64)
        if arr.ndim != 2:
            raise SrchainError(f"a transition matrix must be 2-D, got shape {arr.shape}")
        A = sp.csr_matrix(arr)
    if A.shape[0] != A.shape[1]:
        raise SrchainError(f"a transition matrix must be square, got shape {A.shape}")
    if A.shape[0] == 0:
        raise SrchainError("the chain has no states")
    if not np.all(np.isfinite(A.data)):
        raise SrchainError("the transition matrix has NaN or infinite entries")
    if A.data.size and A.data.min() < 0:
        raise SrchainError(f"the transition matrix has a negative entry ({A.data.min():.3g}); probabilities are >= 0")
    A.sum_duplicates()
    A.sort_indices()
    return A


def _check_stochastic(A: sp.csr_matrix, tol: float = 1e-9) -> None:
    rows = np.asarray(A.sum(axis=1)).ravel()
    bad = np.abs(rows - 1.0) > tol
    if np.any(bad):
        i = int(np.argmax(np.abs(rows - 1.0)))
        raise SrchainError(
            f"the transition matrix is not row-stochastic: row {i} sums to {rows[i]:.15g} "
            f"(P[i, j] = Pr(i -> j) must sum to 1 over j; pass the transpose if yours is "
            f"column-stochastic)"
        )


def _offdiag(A: sp.csr_matrix) -> sp.csr_matrix:
    """The positive off-diagonal part (the transition graph without self-loops); ``A`` in canonical CSR."""
    if A.shape[0] <= SMALL_MAX:
        coo = A.tocoo()
        keep = (coo.row != coo.col) & (coo.data > 0)
        return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=A.shape)
    return offdiag(A)


def tv(p: ArrayLike, q: ArrayLike) -> float:
    r"""Total-variation distance :math:`\tfrac12\|p - q\|_1` between two laws on the same states."""
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise SrchainError(f"laws on different state spaces: {p.size} and {q.size} states")
    return 0.5 * float(np.abs(p - q).sum())


def residual(pi: ArrayLike, P: Chain) -> float:
    r"""The residual :math:`\|\pi P - \pi\|_1` of a law :math:`\pi` for the row-stochastic :math:`P`."""
    A = _as_csr(P)
    pi = np.asarray(pi, dtype=np.float64)
    return float(np.abs(A.T @ pi - pi).sum())


def _describe_states(states: np.ndarray, limit: int = 6) -> str:
    s = np.sort(states)
    if s.size == 1:
        return f"{{{int(s[0])}}}"
    if s[-1] - s[0] + 1 == s.size:
        return f"{{states {int(s[0])}..{int(s[-1])}}}"
    head = ", ".join(str(int(x)) for x in s[:limit])
    return "{" + head + (f", … ({s.size} states)" if s.size > limit else "") + "}"


# --------------------------------------------------------------------------------------------------------------
# ergodicity
# --------------------------------------------------------------------------------------------------------------
def check_ergodic(P: Chain) -> None:
    r"""Raise :class:`SrchainError` unless the chain is irreducible and aperiodic.

    Irreducibility: the graph of positive off-diagonal entries must be strongly connected (SciPy's
    ``connected_components(connection="strong")``, O(nnz)). For a reducible chain the error names its closed
    classes (the sink nodes of the condensation, found with networkx): each carries its own stationary law, so the
    answer is not unique. Aperiodicity: in an irreducible chain any positive diagonal entry makes it aperiodic
    (O(n) shortcut); otherwise the period is computed (networkx ``is_aperiodic`` for small chains, the gcd of
    :math:`\mathrm{level}(u) + 1 - \mathrm{level}(v)` over the edges :math:`(u, v)` of a BFS level structure for large
    ones).

    Raises
    ------
    SrchainError
        Not square/stochastic, reducible (message names the closed classes), or periodic (message gives the
        period).
    """
    A = _as_csr(P)
    _check_stochastic(A)
    if A.shape[0] > 1:
        _check_ergodic_graph(A, _offdiag(A))


def _check_ergodic_graph(A: sp.csr_matrix, G: sp.csr_matrix) -> None:
    """:func:`check_ergodic` given the canonical CSR ``A`` (already checked stochastic, n > 1) and its
    off-diagonal graph ``G``. networkx is imported only where it is used (0.4 s off an ergodic chain's check)."""
    n = A.shape[0]
    ncomp, labels = connected_components(G, directed=True, connection="strong")
    if ncomp > 1:
        import networkx as nx

        coo = G.tocoo()
        cross = labels[coo.row] != labels[coo.col]
        Q = nx.DiGraph()
        Q.add_nodes_from(range(ncomp))
        Q.add_edges_from(zip(labels[coo.row[cross]].tolist(), labels[coo.col[cross]].tolist(), strict=True))
        closed = sorted((c for c in Q.nodes if Q.out_degree(c) == 0), key=lambda c: int(np.flatnonzero(labels == c)[0]))
        names = [_describe_states(np.flatnonzero(labels == c)) for c in closed[:4]]
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        more = f" (and {len(closed) - 4} more)" if len(closed) > 4 else ""
        transient = int(np.sum(~np.isin(labels, closed)))
        raise SrchainError(
            f"the chain is reducible: {len(closed)} closed class{'es' if len(closed) != 1 else ''}, {listed}{more}"
            + (f", and {transient} transient states" if transient else "")
            + "; it has no unique stationary law. Restrict the lattice to one class or use noise that connects "
            "the states"
        )
    if np.any(A.diagonal() > 0):
        return
    if n <= _NX_APERIODIC_MAX:
        import networkx as nx

        g = nx.DiGraph()
        coo = G.tocoo()
        g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
        if nx.is_aperiodic(g):
            return
        period = _period(G)
    else:
        period = _period(G)
        if period == 1:
            return
    raise SrchainError(
        f"the chain is periodic with period {period} (no state has a positive self-loop and every "
        f"cycle length is a multiple of {period}); P^t does not converge. Use the lazy chain "
        f"(I + P)/2, which has the same stationary law, or pass check=False"
    )


def _period(G: sp.csr_matrix) -> int:
    """Period of an irreducible chain: gcd of ``level(u) + 1 − level(v)`` over edges of a BFS level structure."""
    n = G.shape[0]
    level = np.full(n, -1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    label = np.zeros(n, dtype=np.int64)
    bfs_levels(G.indptr.astype(np.int64), G.indices.astype(np.int64), label, 0, 0, level, order)
    coo = G.tocoo()
    diffs = np.abs(level[coo.row] + 1 - level[coo.col])
    return int(np.gcd.reduce(diffs[diffs > 0])) if np.any(diffs > 0) else 0


# --------------------------------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------------------------------
def is_birth_death(P: Chain) -> bool:
    r"""Whether every positive off-diagonal entry is between neighbours :math:`i, i \pm 1` (a tridiagonal chain)."""
    A = _as_csr(P)
    coo = A.tocoo()
    off = coo.row != coo.col
    return bool(np.all(np.abs(coo.row[off] - coo.col[off]) <= 1) | (not np.any(coo.data[off] > 0)))


def _log_normalise(logw: np.ndarray) -> tuple[np.ndarray, int]:
    logw = logw - np.max(logw)
    w = np.exp(logw)
    pi = w / w.sum()
    return pi, int(np.sum(pi == 0.0))


def birth_death_stationary(P: Chain) -> np.ndarray:
    r"""Exact stationary law of a birth–death (tridiagonal, irreducible) chain by detailed balance in log space.

    .. math::

        \log\pi_{k+1} - \log\pi_k = \log P[k, k+1] - \log P[k+1, k],

    normalised with a log-sum-exp, so laws spanning any number of orders of magnitude come out with relative
    error :math:`O(n\,\epsilon)` (:math:`\epsilon` the float64 machine epsilon) in every representable entry
    (entries below the float64 range are 0).

    Raises
    ------
    SrchainError
        Not tridiagonal, or some neighbour rate is 0 (the chain is reducible).
    """
    A = _as_csr(P)
    n = A.shape[0]
    if not is_birth_death(A):
        raise SrchainError("birth_death_stationary needs a tridiagonal chain (moves only to i - 1, i, i + 1)")
    if n == 1:
        return np.ones(1)
    i = np.arange(n - 1)
    up = np.asarray(A[i, i + 1]).ravel()
    down = np.asarray(A[i + 1, i]).ravel()
    if np.any(up <= 0) or np.any(down <= 0):
        k = int(np.flatnonzero((up <= 0) | (down <= 0))[0])
        raise SrchainError(
            f"the birth-death chain is reducible: no move between states {k} and {k + 1} in one direction"
        )
    logw = np.concatenate([[0.0], np.cumsum(np.log(up) - np.log(down))])
    return _log_normalise(logw)[0]


def _splu_pinned(A: sp.csr_matrix, pin: int | None) -> np.ndarray:
    """Sparse LU on ``π(I − P) = 0`` with ``π[pin] = 1``; NOT safe on metastable chains unless ``pin`` lies in
    the dominant basin (a pin elsewhere can return the wrong basin with a tiny residual)."""
    from scipy.sparse.linalg import splu

    n = A.shape[0]
    if pin is None:
        pin = int(np.argmax(A.diagonal()))  # a heuristic only; see the docstring
    keep = np.r_[0:pin, pin + 1 : n]
    M = (sp.identity(n, format="csr") - A).T.tocsc()
    Mr = M[keep][:, keep]
    b = -np.asarray(M[keep, pin].todense()).ravel()
    x = splu(Mr.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(b)
    pi = np.empty(n)
    pi[keep] = x
    pi[pin] = 1.0
    pi = np.maximum(pi, 0.0)
    return pi / pi.sum()


_FLOAT_BYTES = 8.0
#: The off-diagonal graph and its relabelled copy (sparse GTH: each rate once), an int32 index and a float64 value each.
_GRAPH_BYTES_PER_ENTRY = 24.0
#: Vectors of one float64 or int64 per state alive during a solve (π, orderings, labels, the solver's workspaces).
_BYTES_PER_STATE = 80.0


def solver_bytes(n: int, nnz: int, method: str = "auto") -> float:
    """Memory the stationary solver needs before its fill is known (bytes): the off-diagonal graph and its
    relabelled copy (12 bytes per entry each) and a few vectors per state; the dense GTH's ``n × n`` array."""
    dense = _FLOAT_BYTES * n * n if (method in ("gth-dense", "dense") or (method == "auto" and n <= DENSE_MAX)) else 0.0
    return _GRAPH_BYTES_PER_ENTRY * nnz + _BYTES_PER_STATE * n + dense


def stationary_distributions(P: Chain, method: str = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """The stationary law of each closed class of a (possibly reducible) chain, as QuantEcon's
    ``stationary_distributions`` does: a list of ``(states, pi)`` with ``pi`` a law on the whole state space
    supported on ``states``. An irreducible chain gives one pair. Each class is solved by :func:`stationary`.
    """
    A = _as_csr(P)
    _check_stochastic(A)
    n = A.shape[0]
    G = _offdiag(A)
    ncomp, labels = connected_components(G, directed=True, connection="strong")
    # a class is closed when no edge leaves it
    rows = np.repeat(np.arange(n), np.diff(G.indptr))
    leaving = labels[rows] != labels[G.indices]
    open_classes = np.unique(labels[rows[leaving]])
    out = []
    for c in range(ncomp):
        if c in open_classes:
            continue
        states = np.flatnonzero(labels == c)
        sub = A[states][:, states]
        sub = sp.csr_matrix(sub.multiply(1.0 / np.asarray(sub.sum(axis=1)).ravel()[:, None]))
        pi = np.zeros(n)
        pi[states] = stationary(sub, method=method, check=False).pi if states.size > 1 else 1.0
        out.append((states, pi))
    return out


def _auto_method(A: sp.csr_matrix, shape) -> str:
    """The solver ``"auto"`` picks (see :func:`stationary`); the bandwidth is only computed for 1-D lattices."""
    n = A.shape[0]
    if is_birth_death(A):
        return "birth-death"
    if n <= DENSE_MAX:
        return "gth-dense"
    one_d = shape is not None and len(tuple(shape)) == 1
    return "gth-banded" if one_d and float(n) * bandwidth(A) ** 2 <= BANDED_MAX_WORK else "gth-sparse"


def _banded(A: sp.csr_matrix, max_bytes) -> np.ndarray:
    """Banded GTH in the natural order, stored and eliminated on each row's own extent (the envelope:
    :func:`srchain.gth.envelope_law`, bit for bit :func:`srchain.gth.banded_law`), after a memory check."""
    n = A.shape[0]
    profile = envelope_profile(A)
    check_memory(
        _FLOAT_BYTES * envelope_size(*profile),
        max_bytes,
        f"the banded GTH of {n:.3g} states (bandwidth {int(np.max(profile[1] - np.arange(n)))})",
        "use a coarser lattice (larger delta) or a smaller alpha (shorter jumps)",
    )
    return envelope_law(A, profile)


def stationary(
    P: Chain,
    method: str = "auto",
    check: bool = True,
    shape: tuple[int, ...] | None = None,
    pin: int | None = None,
    max_bytes: float | None = None,
) -> StationaryResult:
    r"""The stationary law :math:`\pi` of an irreducible, aperiodic row-stochastic ``P`` (:math:`\pi P = \pi`,
    Theorem 5's :math:`\pi_\alpha`).

    Parameters
    ----------
    P : sparse matrix, array or Operator
        Row-stochastic, :math:`P[i, j] = \Pr(i \to j)` (:math:`P = T_\alpha^\top` in the paper's column
        convention). The diagonal is never used by the GTH solvers.
    method : {"auto", "birth-death", "gth-dense", "gth-banded", "gth-sparse", "splu"}
        ``"auto"``: birth-death for tridiagonal chains, dense GTH up to 1500 states, banded GTH beyond for 1-D
        lattices with a narrow band (:data:`BANDED_MAX_WORK`), sparse GTH otherwise, falling back to banded GTH
        when the sparse elimination order makes a rate underflow. All four are subtraction-free and accurate in the
        relative sense. ``"splu"`` (pinned sparse LU) is a fast
        baseline that can return the wrong basin on metastable chains; it is never chosen automatically.
        Aliases: ``"gth"``, ``"dense"``.
    check : bool
        Run :func:`check_ergodic` first (reducible or periodic chains raise).
    shape : tuple of int, optional
        The lattice shape when ``P`` is a chain on a C-ordered box lattice (``Lattice.shape``): the sparse GTH
        then uses lattice nested dissection with separators that follow the local jump length, much faster than
        the generic graph ordering on 2-D and 3-D lattices.
        Taken from ``P.lattice.shape`` when ``P`` carries one.
    pin : int, optional
        The pinned state for ``"splu"``.
    max_bytes : float, optional
        Refuse (:class:`SrchainError`, before allocating) when the solver's memory, including the sparse
        elimination's fill counted exactly after its symbolic phase, would exceed this many bytes.

    Returns
    -------
    StationaryResult

    Raises
    ------
    SrchainError
        Unknown method, not stochastic, reducible or periodic (with ``check``).

    References
    ----------
    Grassmann, Taksar, Heyman (1985), Regenerative analysis and steady state distributions for Markov chains.
    O'Cinneide (1993), Entrywise perturbation theory and error analysis for Markov chains.

    Examples
    --------
    >>> import numpy as np
    >>> r = stationary(np.array([[0.5, 0.5], [0.25, 0.75]]))
    >>> np.round(r.pi, 12).tolist(), r.method
    ([0.333333333333, 0.666666666667], 'birth-death')
    """
    t0 = time.perf_counter()
    if shape is None and hasattr(P, "lattice") and hasattr(P.lattice, "shape"):
        shape = tuple(P.lattice.shape)  # type: ignore[union-attr]
    A = _as_csr(P)
    m = _ALIASES.get(method, method)
    if m not in METHODS:
        raise SrchainError(f"unknown stationary method {method!r}; choose one of {', '.join(METHODS)}")
    _check_stochastic(A)
    n = A.shape[0]
    check_memory(
        solver_bytes(n, A.nnz, m),
        max_bytes,
        f"solving for the stationary law of {n:.3g} states",
        "use a coarser lattice (larger delta)",
    )
    graph = [_offdiag(A)] if n > 1 else []
    if check and n > 1:
        _check_ergodic_graph(A, graph[0])
    auto = m == "auto"
    if auto:
        m = _auto_method(A, shape)
    if n == 1:
        pi = np.ones(1)
    elif m == "birth-death":
        pi = birth_death_stationary(A)
    elif m == "gth-dense":
        pi = small_gth(A) if n <= SMALL_MAX else dense_gth(A)
    elif m == "gth-banded":
        pi = _banded(A, max_bytes)
    elif m == "gth-sparse":
        try:
            pi = sparse_gth(A, shape=shape, graph=graph, max_bytes=max_bytes, progress=n >= SPARSE_BAR_STATES)
        except ZeroPivot:
            if not (auto and bandwidth(A) <= BANDED_MAX_WIDTH):
                raise
            m = "gth-banded"  # an ergodic chain (checked, or asserted by check=False): a censored rate underflowed
            pi = _banded(A, max_bytes)
    else:
        pi = _splu_pinned(A, pin)
    res = float(np.abs(A.T @ pi - pi).sum())
    return StationaryResult(
        pi=pi, residual=res, method=m, underflow=int(np.sum(pi == 0.0)), seconds=time.perf_counter() - t0
    )


from srchain._callable import make_callable  # noqa: E402  (sc.stationary(P) calls stationary(P))

make_callable(__name__, stationary)
