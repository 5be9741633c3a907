"""Exact transition operators on a box lattice (Section 5): T_α for SR (Eq. 6) and R (Eq. 4), Ũ, α0, T̃_α (Eq. 9).

Convention
----------
The paper writes T_α(x, y) with columns summing to one (``T_α = I − diag(1ᵀU_α) + U_α``, Appendix F). Here the
matrix is stored row-stochastic, ``P = T_αᵀ``, ``P[i, j] = Pr(state i → state j)``, so that laws are row
vectors and ``π P = π``.

How the entries are computed
----------------------------
At state ``x`` the stochastic gradient's k-th coordinate is ``g_k(x) + ξ̄_k`` with independent noise per
coordinate, so in lattice units the SR step is ``u_k = m_k − τ ξ̄_k`` with ``m_k = −α g_k(x)/Δ`` and ``τ = α/Δ``,
and Qs rounds each coordinate independently: the row of ``P`` is the product over coordinates of 1-D move laws.
For one coordinate, ``Pr(Qs(x + Δu) = x + jΔ) = E[hat(u − j)]`` with ``hat(t) = max(0, 1 − |t|)`` (Eq. 5), and
writing ``hat(t) = R(t + 1) − 2R(t) + R(t − 1)`` with the ramp ``R(t) = t⁺``,

    Pr(move j) = τ [Λ(a_{j−1}) − 2Λ(a_j) + Λ(a_{j+1})],   a_c = (m − c)/τ,   Λ(a) = E[(a − ξ̄)⁺],

the noise model's closed-form lower partial expectation. Moves that leave the box are clipped to its face (the
projection the paper assumes), so the face's entry is a tail probability
``Pr(Qs ≤ c) = τ[Υ(a_{c+1}) − Υ(a_c)]`` with ``Υ(a) = E[(ξ̄ − a)⁺]`` (resp. ``Pr(Qs ≥ c) = τ[Λ(a_{c−1}) − Λ(a_c)]``).
Evaluated as written, these second differences of numbers of size |a| lose everything to cancellation in the tails
(a 1e-130 move would come out as ±1e-15). The code therefore splits ``Λ(a) = a⁺ + E(a)``, where the excess
``E(a) = Λ(a) − a⁺`` equals Λ(a) for a ≤ 0 and Υ(a) for a > 0 and is small in both tails: the linear parts
sum to the deterministic rounding of the mean step, ``hat(m − j)``, and only small excesses are differenced.
For R (Eq. 4) the move law is ``Pr(j − ½ ≤ u < j + ½)`` from the noise's CDF (ties, of probability zero for
continuous noise, round up).

Dropped mass
------------
Moves are computed in a window ``|j| ≤ J`` per coordinate, with ``J`` covering all but ``tol`` of the noise; in
d > 1 products below ``tol`` are dropped. Nearest-neighbour moves (one coordinate by ±Δ) and the self-loop are
never dropped, whatever their size, so the chain keeps the irreducibility of Theorem 5's T̃. Rows are then
renormalised, and :attr:`Operator.dropped_mass` reports the largest mass removed from any row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from srchain._threads import threads_for
from srchain.assemble import RowsBuffer as _RowsBuffer
from srchain.assemble import build_rows as _build_rows
from srchain.assemble import count_rows as _count_rows
from srchain.assemble import per_value, stack_tables
from srchain.budget import check_memory
from srchain.errors import SrchainError
from srchain.grid_chains import grid_estimate, grid_transition_matrix, grid_u_tilde
from srchain.grids import is_uniform
from srchain.lattice import Lattice
from srchain.move_kernels import _offsets_kernel, _place, _sr_place, _sr_place_gaussian
from srchain.noise import GaussianNoise, NoiseModel
from srchain.operator_checks import (
    check_dropped,
    check_move_tables,
    check_rates_representable,
    check_stochastic,
)
from srchain.problems import Problem
from srchain.quantize import check_alpha
from srchain.rules import parse_rule
from srchain.spec import accepts_spec
from srchain.wide_moves import discrete_sr_laws, is_wide, wide_r_law, wide_sr_laws

__all__ = [
    "Operator",
    "LimitChain",
    "limit_chain",
    "transition_matrix",
    "move_laws",
    "u_tilde",
    "alpha0",
    "t_tilde",
    "METHODS",
    "DEFAULT_TOL",
    "estimate_bytes",
    "estimate",
]

METHODS = ("sr", "r")
DEFAULT_TOL = 1e-14


@dataclass(frozen=True)
class Operator:
    r"""A transition matrix with its provenance.

    Attributes
    ----------
    P : scipy.sparse.csr_matrix
        Row-stochastic :math:`P = T_\alpha^\top`; :math:`P[i, j] = \Pr(i \to j)`; sorted indices; diagonal stored.
    alpha : float
    method : str
        ``"sr"``, ``"r"`` or ``"t_tilde"``.
    dropped_mass : float
        Largest probability mass removed from one row before renormalisation.
    window : int
        Moves computed per coordinate: :math:`|j| \le` ``window``.
    lattice : Lattice or None
        The state space (so that :func:`srchain.stationary.stationary` needs no ``shape=``).
    """

    P: sp.csr_matrix
    alpha: float
    method: str
    dropped_mass: float
    window: int
    lattice: Lattice | None = None

    def __repr__(self) -> str:
        return (
            f"Operator({self.method.upper()}, alpha={self.alpha:g}, states={self.P.shape[0]}, nnz={self.P.nnz}, "
            f"window={self.window}, dropped_mass={self.dropped_mass:.2g})"
        )

    def to_dict(self) -> dict:
        return {
            "alpha": self.alpha,
            "method": self.method,
            "dropped_mass": self.dropped_mass,
            "window": self.window,
            "nnz": int(self.P.nnz),
            "states": int(self.P.shape[0]),
        }


def estimate_bytes(lattice: Lattice, window: int = 1, nnz_per_row: float | None = None) -> int:
    r"""Peak memory of building ``P`` (bytes): one chunk's move tables (:func:`_chunk_rows`), the gradients and
    coordinates, and the CSR arrays (12 bytes per kept entry, counted twice: their buffer may grow once,
    :class:`srchain.assemble.RowsBuffer`).

    ``nnz_per_row`` defaults to the small-:math:`\alpha` regime's :math:`2d + 1`; :func:`transition_matrix` measures
    it on a sample of rows, so a wide window (large :math:`\alpha`, fine :math:`\Delta`) is counted with the entries
    it really keeps.
    """
    n, d = lattice.size, lattice.dim
    w = 2 * window + 1
    per_row = float(2 * d + 1 if nnz_per_row is None else nnz_per_row)
    chunk = _chunk_rows(d, window, n)
    return int(chunk * d * (w + 2) * 8 * _TABLES + n * per_row * 12 * 2 + n * d * 8 * 4 + n * 8)


#: Float64 arrays of the move tables' shape alive at once inside :func:`move_laws` (offsets, excesses, the three
#: laws, targets, masks): sets the bytes per row of a chunk.
_TABLES = 10
#: Memory for one chunk's move tables; the rows per chunk follow from the window.
CHUNK_BYTES = 512 * 2**20


def _chunk_rows(d: int, window: int, n: int) -> int:
    """Rows per chunk so that one chunk's move tables take about :data:`CHUNK_BYTES` (at most ``n``)."""
    per_row = d * (2 * window + 3) * 8 * _TABLES
    return int(max(1, min(n, CHUNK_BYTES // per_row)))


def _sample_nnz_per_row(problem, noise, lattice, grads, alpha, method, tol, J, samples: int = 512) -> float:
    """Kept entries per row, measured on ``samples`` evenly spaced rows (for the memory estimate)."""
    n = lattice.size
    if _one_row_bytes(lattice, J) > CHUNK_BYTES:  # even one row's tables are too big to sample: the window's bound
        return float(min((2 * J + 1) ** lattice.dim, n))
    samples = min(samples, _chunk_rows(lattice.dim, J, n))  # the sample's own move tables stay within a chunk
    idx = np.unique(np.linspace(0, n - 1, min(n, samples)).astype(np.int64))
    targets, probs, _ = move_laws(problem, noise, lattice, alpha, method, tol, grads=grads[idx], rows=idx, window=J)
    counts = [_count_rows(targets, probs, lattice, tol) / idx.size]
    return float(np.mean(counts)) * 1.1 + 1.0


@accepts_spec
def estimate(
    problem: Problem, noise: NoiseModel, lattice: Lattice, alpha: float, method: str = "sr", tol: float = DEFAULT_TOL
) -> tuple[int, int]:
    r"""``(bytes, nnz)``: peak memory of :func:`transition_matrix` and the entries its ``P`` will hold, measured on
    a sample of rows (cheap: nothing of size :math:`n \times` ``window`` is allocated)."""
    if not is_uniform(lattice):
        return grid_estimate(problem, noise, lattice, alpha, method, tol)
    alpha = check_alpha(alpha)
    grads = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(lattice.size, lattice.dim)
    J = _window(problem, noise, lattice, grads, alpha, tol)
    per_row = _sample_nnz_per_row(problem, noise, lattice, grads, alpha, method, tol, J)
    return estimate_bytes(lattice, J, per_row), int(per_row * lattice.size)


def _one_row_bytes(lattice: Lattice, window: int) -> float:
    """Move tables of a single row: what even the sampling for the estimate would allocate."""
    return float(lattice.dim * (2 * window + 3) * 8 * _TABLES)


def _window(problem: Problem, noise: NoiseModel, lattice: Lattice, grads: np.ndarray, alpha: float, tol: float):
    tau = alpha / lattice.delta
    m_max = float(np.max(np.abs(grads))) * tau if grads.size else 0.0
    q = noise.quantile_width(tol) * tau if tol > 0 else math.inf
    far = max(lattice.shape) - 1
    if not math.isfinite(m_max + q):
        return max(1, far)
    return max(1, min(int(math.ceil(m_max + q)) + 1, far))


@accepts_spec
def move_laws(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    alpha: float,
    method: str = "sr",
    tol: float = DEFAULT_TOL,
    grads: np.ndarray | None = None,
    rows: slice | None = None,
    window: int | None = None,
):
    r"""Per-coordinate move laws of one SR (Eq. 6) or R (Eq. 4) step from every state (or the states ``rows``).

    Returns
    -------
    targets : ndarray of int64, shape (n, d, W)
        Target coordinate index along axis :math:`k` (``-1``: no entry); increasing along the last axis.
    probs : ndarray of float64, shape (n, d, W)
        Their probabilities (faces of the box carry the clipped tail mass).
    window : int
        :math:`J`, with :math:`W = 2J + 1`.

    Notes
    -----
    In lattice units coordinate :math:`k` of the SR step is :math:`u_k = m_k - \tau\bar\xi_k`, with
    :math:`m_k = -\alpha g_k(x)/\Delta` and :math:`\tau = \alpha/\Delta`, and :math:`Q_s` rounds it to :math:`j` with

    .. math::

        \Pr(\text{move } j) &= \tau\,\big[\Lambda(a_{j-1}) - 2\Lambda(a_j) + \Lambda(a_{j+1})\big], \\
        a_c &= \frac{m_k - c}{\tau},\qquad \Lambda(a) = \mathbb{E}[(a - \bar\xi)^+];

    R moves by :math:`j` with probability :math:`\Pr(j - \tfrac12 \le u < j + \tfrac12)`. The module docstring
    gives the faces of the box and the cancellation-free way these are evaluated.
    """
    alpha = check_alpha(alpha)
    method = _lattice_rule(method)
    rows = slice(0, lattice.size) if rows is None else rows
    if grads is None:
        grads = np.asarray(problem.gradient(lattice.points[rows]), dtype=np.float64).reshape(-1, lattice.dim)
    J = _window(problem, noise, lattice, grads, alpha, tol) if window is None else window
    c = np.ascontiguousarray(lattice.coords[rows], dtype=np.int64)  # (n, d)
    nk = np.asarray(lattice.shape, dtype=np.int64)
    return (*_laws(noise, method, np.ascontiguousarray(grads, dtype=np.float64), c, nk, alpha, lattice.delta, J), J)


def move_tables(problem, noise, lattice, alpha, method="sr", tol=DEFAULT_TOL, grads=None, rows=None, window=None):
    """:func:`move_laws` as the assembly reads them (:func:`srchain.assemble.build_rows`): ``(targets, probs,
    row_of, J)``, tables ``(m, W)`` and each row's table row per axis ``(n, d)``. Where every axis' gradient is a
    function of the position along it (:func:`srchain.assemble.per_value`: a separable problem), a table row is one
    value's law along its axis, shared by every row at that value; else the tables are :func:`move_laws`' own. SR's
    nearest moves are checked representable in float64 (:func:`srchain.operator_checks.check_rates_representable`)."""
    alpha = check_alpha(alpha)
    method = _lattice_rule(method)
    rows = slice(0, lattice.size) if rows is None else rows
    if grads is None:
        grads = np.asarray(problem.gradient(lattice.points[rows]), dtype=np.float64).reshape(-1, lattice.dim)
    c = lattice.coords[rows]
    n, d = c.shape
    shared = [per_value(c[:, k], grads[:, k], lattice.shape[k]) for k in range(d)] if d > 1 else [(None, None)]
    if any(first is None for first, _ in shared):
        targets, probs, J = move_laws(problem, noise, lattice, alpha, method, tol, grads, rows, window)
        if method == "sr":
            check_rates_representable(noise, lattice, grads, alpha, targets, probs, J)
        return targets.reshape(n * d, -1), probs.reshape(n * d, -1), np.arange(n * d).reshape(n, d), J
    J = _window(problem, noise, lattice, grads, alpha, tol) if window is None else window
    tables = []
    for k, (first, each) in enumerate(shared):  # axes: each value's law computed alone, as in move_laws
        gk = np.ascontiguousarray(grads[first, k : k + 1], dtype=np.float64)
        ck = np.ascontiguousarray(c[first, k : k + 1], dtype=np.int64)
        t, p = _laws(noise, method, gk, ck, np.array([lattice.shape[k]], dtype=np.int64), alpha, lattice.delta, J)
        if method == "sr":
            check_rates_representable(noise, lattice, gk, alpha, t, p, J)
        tables.append((t[:, 0], p[:, 0], each))
    return (*stack_tables(tables, n), J)


def _laws(noise, method, grads, c, nk, alpha, delta, J):
    """``(targets, probs)`` of :func:`move_laws` for the positions ``c`` (n, d) with gradients ``grads`` on axes of
    ``nk`` values; each entry is computed alone, whatever else is in the arrays."""
    tau = alpha / delta
    offs = np.arange(-J, J + 1, dtype=np.int64)
    # a_c = (m − c)/τ = −g − c·Δ/α, formed without m (which underflows, or loses −g's digits, for tiny α); Δ/α may
    # overflow to inf, where the noise's tail terms are exactly 0.
    with np.errstate(over="ignore"):
        inv_tau = 1.0 / tau if tau > 0 else math.inf
    targets = np.empty((c.shape[0], c.shape[1], 2 * J + 1), dtype=np.int64)
    probs = np.empty(targets.shape, dtype=np.float64)
    if method == "sr" and not noise.is_discrete and not is_wide(noise, inv_tau):
        # With E(a) = E[(a − ξ̄)⁺] − a⁺ (small in both tails, noise.excess) and a_c = (m − c)/τ:
        #   Pr(move j) = hat(m − j) + τ[E(a_{j−1}) − 2E(a_j) + E(a_{j+1})]
        #   Pr(Qs ≥ j) = clip(m − j + 1, 0, 1) + τ[E(a_{j−1}) − E(a_j)]       (upper face)
        #   Pr(Qs ≤ j) = clip(j + 1 − m, 0, 1) + τ[E(a_{j+1}) − E(a_j)]       (lower face)
        # i.e. the deterministic rounding of the mean step plus the noise's correction (move_kernels, per row on
        # every thread; each entry is computed alone, so the bits do not depend on the thread count).
        with threads_for(targets.size):
            if type(noise) is GaussianNoise:  # the excesses computed where they are used, in the same kernel
                _sr_place_gaussian(grads, c, nk, J, alpha, delta, tau, inv_tau, noise.s, targets, probs)
                return targets, probs
            ex = np.empty((c.shape[0], c.shape[1], 2 * J + 3), dtype=np.float64)
            _offsets_kernel(grads, J, inv_tau, ex)  # a_c for c = −J − 1 … J + 1
            ex = noise.excess(ex)
            _sr_place(grads, c, nk, J, alpha, delta, tau, ex, targets, probs)
            return targets, probs
    g = (-grads)[:, :, None]
    if method == "sr":
        # Discrete noise is summed exactly, and wide noise (α·std/Δ ≥ 64, where the differences above, of numbers
        # of size std, lose everything) integrated by quadrature: srchain.wide_moves.
        if noise.is_discrete:
            exact, ge, le = discrete_sr_laws(noise, grads[:, :, None], tau, offs)
        else:
            t = c[:, :, None] + offs  # the targets' coordinates: Pr(Qs ≥ ·), Pr(Qs ≤ ·) only on the faces
            upper, lower = t == (nk - 1)[None, :, None], t == 0
            exact, ge, le = wide_sr_laws(noise, _scaled_offsets(g, offs, inv_tau), inv_tau, upper, lower)
    else:
        b_hi = _scaled_offsets(g, offs + 0.5, inv_tau)  # u < j + ½  ⟺  ξ̄ > b_hi
        b_lo = _scaled_offsets(g, offs - 0.5, inv_tau)
        sf_hi, sf_lo = noise.sf(b_hi), noise.sf(b_lo)
        cdf_hi, cdf_lo = noise.cdf(b_hi), noise.cdf(b_lo)
        # Pr(j−½ ≤ u < j+½) = SF(b_hi) − SF(b_lo) = CDF(b_lo) − CDF(b_hi): use the form whose terms are small.
        exact = np.where(b_hi > 0, sf_hi - sf_lo, cdf_lo - cdf_hi)
        if is_wide(noise, inv_tau):  # these differences of CDF values would cancel: integrate the density
            exact = wide_r_law(noise, b_hi, inv_tau)
        le = sf_hi  # Pr(u < j + ½)
        ge = cdf_lo  # Pr(u ≥ j − ½)
    exact, ge, le = (np.ascontiguousarray(np.broadcast_to(x, targets.shape), dtype=np.float64) for x in (exact, ge, le))
    with threads_for(targets.size):
        _place(c, nk, J, exact, ge, le, targets, probs)
    return targets, probs


def _lattice_rule(method) -> str:
    """``"sr"`` or ``"r"`` from any spelling :func:`srchain.rules.parse_rule` knows; other rules are refused."""
    rule = parse_rule(method)
    if not rule.is_lattice_chain:
        raise SrchainError(
            f"unknown method {method!r} for a lattice chain; choose one of {', '.join(METHODS)} "
            f"(BC's state is continuous: see srchain.toy.bc_law)"
        )
    return rule.label


def _scaled_offsets(g, c, inv_tau):
    """``a_c = (m − c)/τ = −∇f − c/τ`` for the offsets ``c`` (``g`` is −∇f with a trailing axis); offset 0 gives
    −∇f exactly, and ``c/τ = ±inf`` (α below ~1e-308·Δ) gives ∓inf, where the noise's tail terms are 0."""
    c = np.asarray(c, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        shift = np.where(c == 0, 0.0, c * inv_tau)
    return g - shift


#: States per chunk for per-state checks that hold only a few (n, d) arrays.
CHUNK = 1 << 20


@accepts_spec
def transition_matrix(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    alpha: float,
    method: str = "sr",
    tol: float = DEFAULT_TOL,
    max_bytes: float | None = None,
    sr_bits: int | None = None,
) -> Operator:
    r"""The exact transition matrix of SR (Eq. 6) or R (Eq. 4) on ``lattice`` with learning rate ``alpha``.

    Parameters
    ----------
    problem, noise, lattice
        Objective, gradient noise and state space.
    alpha : float
        Learning rate :math:`\alpha > 0`.
    method : {"sr", "r"}
    tol : float
        Entries below ``tol`` may be dropped (see the module docstring); rows are renormalised.
    max_bytes : float, optional
        Refuse (with :class:`SrchainError`) when the estimated memory exceeds this.
    sr_bits : int, optional
        SR with this many random bits (1…32; :mod:`srchain.rounding`). It, and a format's grid
        (:class:`srchain.grids.Grid`) as ``lattice``, are computed by
        :func:`srchain.grid_chains.grid_transition_matrix`.

    Returns
    -------
    Operator
        ``.P`` is row-stochastic: :math:`P = T_\alpha^\top` in the paper's column convention.

    Notes
    -----
    At state :math:`x` the stochastic gradient's :math:`k`-th coordinate is :math:`g_k(x) + \bar\xi_k`
    (independent noise per coordinate), so SR's step (Eq. 6) in lattice units is :math:`u_k = m_k - \tau\bar\xi_k`
    with :math:`m_k = -\alpha g_k(x)/\Delta` and :math:`\tau = \alpha/\Delta`. :math:`Q_s` rounds each coordinate
    independently, so a row of :math:`P` is the product over coordinates of the 1-D move laws

    .. math::

        \Pr(\text{move } j) &= \tau\,\big[\Lambda(a_{j-1}) - 2\Lambda(a_j) + \Lambda(a_{j+1})\big], \\
        a_c &= \frac{m_k - c}{\tau},\qquad \Lambda(a) = \mathbb{E}[(a - \bar\xi)^+],

    from the noise model's closed-form partial expectation :math:`\Lambda`. Moves that would leave the box are
    clipped to its face, whose entry is a tail probability. R (Eq. 4) moves by :math:`j` with probability
    :math:`\Pr(j - \tfrac12 \le u < j + \tfrac12)`. See :func:`move_laws` and the module docstring for the
    cancellation-free evaluation and the dropped mass.

    Examples
    --------
    >>> from srchain.problems import get_problem
    >>> from srchain.noise import make_noise
    >>> from srchain.lattice import Lattice
    >>> p = get_problem("toy"); lat = Lattice.from_domain(0.5, p.domain)
    >>> op = transition_matrix(p, make_noise("gaussian", sigma=2.0), lat, alpha=0.1)
    >>> bool(abs(op.P.sum(axis=1) - 1).max() < 1e-12)
    True
    """
    if sr_bits is not None or not is_uniform(lattice):
        return grid_transition_matrix(problem, noise, lattice, alpha, method, tol, max_bytes, sr_bits)
    alpha = check_alpha(alpha)
    method = _lattice_rule(method)
    if problem.dim != lattice.dim:
        raise SrchainError(f"the problem is {problem.dim}-dimensional but the lattice is {lattice.dim}-dimensional")
    grads = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(lattice.size, lattice.dim)
    J = _window(problem, noise, lattice, grads, alpha, tol)
    if max_bytes is not None:
        check_memory(
            max(estimate_bytes(lattice, J), _one_row_bytes(lattice, J)),
            max_bytes,
            f"T_alpha on {lattice.size:.3g} states (moves up to {J} cells per coordinate)",
            "use a coarser lattice (larger delta), a smaller alpha or a larger tol",
        )
        per_row = _sample_nnz_per_row(problem, noise, lattice, grads, alpha, method, tol, J)
        check_memory(
            estimate_bytes(lattice, J, per_row),
            max_bytes,
            f"T_alpha on {lattice.size:.3g} states (about {per_row:.3g} entries per row)",
            "use a coarser lattice (larger delta), a smaller alpha or a larger tol",
        )
    n = lattice.size
    chunk = _chunk_rows(lattice.dim, J, n)
    col_dtype = np.int32 if n < 2**31 - 1 else np.int64  # columns are < n
    lengths, dropped = [], 0.0
    into = _RowsBuffer(n, col_dtype)
    what = f"T_alpha at alpha = {alpha:g}"
    for start in range(0, n, chunk):  # a loop over chunks of rows, each vectorised / compiled
        rows = slice(start, min(n, start + chunk))
        targets, probs, row_of, _ = move_tables(problem, noise, lattice, alpha, method, tol, grads[rows], rows, J)
        check_move_tables(probs, row_of, tol + noise.table_error, what, np.arange(rows.start, rows.stop))
        own = lattice.coords[rows]
        ln, _, _, dr = _build_rows(targets, probs, lattice, tol, own, col_dtype, into, row_of)
        del targets, probs
        lengths.append(ln)
        dropped = max(dropped, dr)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=indptr[1:])
    nnz = int(indptr[-1])
    indices, data = into.arrays()
    idx_dtype = np.int32 if n < 2**31 - 1 and nnz < 2**31 - 1 else np.int64
    P = sp.csr_matrix((data, indices.astype(idx_dtype, copy=False), indptr.astype(idx_dtype, copy=False)), shape=(n, n))
    P.has_sorted_indices = True
    check_dropped(dropped, what)
    with threads_for(P.nnz):
        check_stochastic(P, what)
    return Operator(P=P, alpha=alpha, method=method, dropped_mass=dropped, window=J, lattice=lattice)


@accepts_spec
def u_tilde(problem: Problem, noise: NoiseModel, lattice: Lattice) -> sp.csr_matrix:
    r"""The rate matrix :math:`\tilde U` of Theorem 5 (row convention, zero diagonal).

    .. math::

        \tilde U(x, x + \Delta e_k) &= \frac{\mathbb{E}[(-\nabla\tilde f_k(x))^+]}{\Delta}
                                     = \frac{\Lambda(-g_k(x))}{\Delta}, \\
        \tilde U(x, x - \Delta e_k) &= \frac{\mathbb{E}[(\nabla\tilde f_k(x))^+]}{\Delta}
                                     = \frac{\Upsilon(-g_k(x))}{\Delta}

    (the paper's :math:`\int_0^\infty p(z)\,z/\Delta\,dz` with :math:`z` the descent direction), where
    :math:`g_k = \partial_k f` and :math:`\Lambda(a) = \mathbb{E}[(a - \bar\xi)^+]`,
    :math:`\Upsilon(a) = \mathbb{E}[(\bar\xi - a)^+]` are the noise's partial expectations; moves that would
    leave the box are clipped, so they are absent (they would be self-loops).
    """
    if not is_uniform(lattice):
        return grid_u_tilde(problem, noise, lattice)
    grads = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(lattice.size, lattice.dim)
    delta = lattice.delta
    up = noise.lower_partial(-grads) / delta  # (n, d)
    down = noise.upper_partial(-grads) / delta
    n, d = grads.shape
    c = lattice.coords
    strides = lattice.strides
    rows, cols, vals = [], [], []
    ids = np.arange(n, dtype=np.int64)
    for k in range(d):  # loops over the d axes, vectorised over states
        ok = c[:, k] < lattice.shape[k] - 1
        rows.append(ids[ok])
        cols.append(ids[ok] + strides[k])
        vals.append(up[ok, k])
        ok = c[:, k] > 0
        rows.append(ids[ok])
        cols.append(ids[ok] - strides[k])
        vals.append(down[ok, k])
    U = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    U.sort_indices()
    return U


def alpha0(U: sp.spmatrix) -> float:
    r"""The largest :math:`\alpha_0` for which :math:`\tilde T_{\alpha_0}` is non-negative (Eq. 9).

    .. math::

        \tilde T_{\alpha_0} = I - \alpha_0\operatorname{diag}(\tilde U\mathbf{1}) + \alpha_0\tilde U,\qquad
        \alpha_0 = \frac{1}{\max_x \sum_y \tilde U(x, y)}.
    """
    rates = np.asarray(U.sum(axis=1)).ravel()
    top = float(rates.max()) if rates.size else 0.0
    if top <= 0:
        raise SrchainError("Ũ is zero: the chain never moves (no gradient noise reaches a neighbour)")
    return 1.0 / top


def t_tilde(U: sp.spmatrix, alpha: float | None = None) -> sp.csr_matrix:
    r""":math:`\tilde T_\alpha = I - \alpha\operatorname{diag}(\tilde U\mathbf{1}) + \alpha\tilde U` (Eq. 9, row
    convention); ``alpha=None`` means :math:`\alpha_0`.

    For every :math:`\alpha \le \alpha_0` it has the same stationary law :math:`\tilde\pi` (Eq. 20):

    .. math::

        \tilde T_\alpha = \Big(1 - \frac{\alpha}{\alpha_0}\Big) I + \frac{\alpha}{\alpha_0}\,\tilde T_{\alpha_0}.
    """
    a0 = alpha0(U)
    alpha = a0 if alpha is None else check_alpha(alpha)
    if alpha > a0 * (1 + 1e-12):
        raise SrchainError(f"T̃_alpha is a transition matrix only for alpha <= alpha0 = {a0:.6g}, got {alpha:g}")
    rates = np.asarray(U.sum(axis=1)).ravel()
    T = sp.diags(1.0 - alpha * rates) + alpha * U
    T = sp.csr_matrix(T)
    T.sort_indices()
    check_stochastic(T, "T̃ (Eq. 9)")
    return T


@dataclass(frozen=True)
class LimitChain:
    r"""The small-:math:`\alpha` limit of SR (Theorem 5, Eq. 9): the rates :math:`\tilde U`,
    :math:`\alpha_0 = 1/\max_x \sum_y \tilde U(x, y)` and :math:`\tilde T = \tilde T_{\alpha_0}`.

    Every :math:`\tilde T_\alpha` with :math:`\alpha \le \alpha_0` has the same stationary law :math:`\tilde\pi`,
    the limit of :math:`\pi_\alpha` as :math:`\alpha \to 0`.
    """

    u_tilde: sp.csr_matrix
    alpha0: float
    t_tilde: sp.csr_matrix
    lattice: Lattice

    @property
    def P(self) -> sp.csr_matrix:
        r""":math:`\tilde T` as a row-stochastic matrix (what :func:`srchain.stationary.stationary` solves)."""
        return self.t_tilde

    def __repr__(self) -> str:
        return f"LimitChain(states={self.lattice.size}, alpha0={self.alpha0:.6g}, nnz={self.u_tilde.nnz})"


@accepts_spec
def limit_chain(problem: Problem, noise: NoiseModel, lattice: Lattice) -> LimitChain:
    r""":math:`\tilde U`, :math:`\alpha_0` and :math:`\tilde T_{\alpha_0}` of Eq. 9 on ``lattice``;
    ``stationary(limit_chain(...))`` is :math:`\tilde\pi` (Theorem 5).

    Examples
    --------
    >>> import srchain as sc
    >>> toy = sc.problem("toy"); lat = sc.Lattice.from_domain(0.5, toy.domain)
    >>> lim = limit_chain(toy, sc.noise.gaussian(2.0), lat)
    >>> round(lim.alpha0, 6)
    0.047619
    """
    U = u_tilde(problem, noise, lattice)
    return LimitChain(u_tilde=U, alpha0=alpha0(U), t_tilde=t_tilde(U), lattice=lattice)
