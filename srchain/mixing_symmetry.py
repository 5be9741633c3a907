"""A symmetry of the state space, used to split the powers of P for the exact ε-mixing time (Eq. 10).

Let σ be a permutation of the states with σ∘σ = id (on a square lattice, w₁ ↔ w₂ of the ``coupled`` and
``separable`` problems, whose objective, noise and lattice are unchanged by it). If ``P(σx, σy) = P(x, y)``, every
power keeps it, and in the basis of σ-even and σ-odd vectors ``P^t`` splits into two blocks of about n/2 states.
With the pairs ``{y_b, σy_b}`` (``y_b`` their representative) and the fixed points ``σy = y`` as the orbits:

* ``B^t(a, b) = P^t(x_a, y_b) + P^t(x_a, σy_b)`` (and ``P^t(x_a, y)`` for a fixed point y): the chain lumped to
  the orbits, stochastic, ``(p + f) × (p + f)``;
* ``A^t(a, b) = P^t(x_a, y_b) − P^t(x_a, σy_b)`` over the pairs only, ``p × p``, signed; ``A^{t+1} = A^t·A``
  (the fixed points drop out, their rows being σ-even).

Row x of ``P^t`` is recovered from one row of each: ``P^t(x, y_b) = ½(B^t(a, b) + s_x A^t(a, b))``,
``P^t(x, σy_b) = ½(B^t(a, b) − s_x A^t(a, b))`` and ``P^t(x, y) = B^t(a, {y})`` for a fixed point y, where a is
x's orbit and ``s_x`` is +1 for a representative, −1 for its image and 0 for a fixed point. A product of two
``n × n`` powers becomes one product of each block: a quarter of the multiply-adds (``n = 2p + f``), half the memory,
and a low-rank power's rank splits between the blocks.

Certification (:mod:`srchain.mixing_cert`). A chain built in float64 is symmetric only up to rounding: the rows of
x and σx were normalised by sums taken in different orders (the coupled 40 × 40 chain differs by up to 1.7e-16 per
entry). The blocks are therefore those of the surrogate P′ whose row σx is row x of P relabelled by σ and whose
fixed rows are symmetrised, and ``η ≥ max_x ‖P(x, ·) − P′(x, ·)‖₁`` enters the exact path as the row-L1 error of its
first power (with ``2uρ`` for the rounding of the blocks' sums and differences). The rounding bounds of the products
then carry it to every power, ``‖P^t − P′^t‖ ≤ t·η·ρ^{t−1}``, so every decision stays certified against the exact
powers of the given P; the TVs are those of the assembled rows against the given π, which need not be symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from srchain.errors import SrchainError
from srchain.mixing_cert import gamma, row_sum_bound
from srchain.mixing_powers import (
    _TV_BLOCK,
    _compress,
    _Pow,
    _pow_bytes,
    _square,
    _square_dense_freeing,
    sparse_pays,
    worth_compressing,
)

__all__ = ["Orbits", "SymPow", "SymRows", "asymmetry", "checked_symmetry", "find_symmetry", "split_by"]

#: A permutation is taken as a symmetry of P when the row-L1 distance of P to its relabelled self is at most this:
#: float64 rounding in the rows' normalisation (~1e-14 on the coupled chains), never a real asymmetry.
SYM_TOL = 1e-12
_U = 2.0**-53
_SAFE = 1.0 + 1e-12


@dataclass(frozen=True)
class Orbits:
    """The orbits of an involution σ: pairs ``(reps[b], imgs[b])`` with ``reps < imgs``, numbered ``0 … p−1``, then
    the fixed points ``fixed[c]``, numbered ``p + c``; ``orbit[x]`` and ``sign[x]`` (+1, −1, 0) for every state."""

    sigma: np.ndarray
    reps: np.ndarray
    imgs: np.ndarray
    fixed: np.ndarray
    orbit: np.ndarray
    sign: np.ndarray
    eta: float  # ≥ max_x ‖P(x, ·) − P(σx, σ·)‖₁ (:func:`asymmetry`)

    @classmethod
    def of(cls, sigma: np.ndarray, eta: float) -> Orbits:
        sigma = np.asarray(sigma, dtype=np.int64)
        idx = np.arange(sigma.size)
        reps = np.flatnonzero(sigma > idx)
        fixed = np.flatnonzero(sigma == idx)
        imgs = sigma[reps]
        orbit = np.empty(sigma.size, dtype=np.int64)
        orbit[reps] = np.arange(reps.size)
        orbit[imgs] = np.arange(reps.size)
        orbit[fixed] = reps.size + np.arange(fixed.size)
        sign = np.zeros(sigma.size)
        sign[reps], sign[imgs] = 1.0, -1.0
        return cls(sigma, reps, imgs, fixed, orbit, sign, float(eta))

    @property
    def n(self) -> int:
        return int(self.sigma.size)

    @property
    def pairs(self) -> int:
        return int(self.reps.size)


def checked_symmetry(A: sp.csr_matrix, sigma) -> Orbits:
    """The orbits of ``sigma``, or SrchainError when it is not an involution of the states that P commutes with up
    to :data:`SYM_TOL`."""
    s = np.asarray(sigma)
    n = A.shape[0]
    idx = np.arange(n)
    if not (
        s.shape == (n,)
        and np.issubdtype(s.dtype, np.integer)
        and np.array_equal(np.sort(s), idx)
        and np.array_equal(s[s], idx)
    ):
        raise SrchainError(f"symmetry must be an involution of the {n} states (a permutation s with s[s] = identity)")
    s = s.astype(np.int64)
    eta = asymmetry(A, s)
    if eta > SYM_TOL:
        raise SrchainError(f"P does not commute with the given symmetry: rows differ by up to {eta:.2g} in L1")
    return Orbits.of(s, eta)


def asymmetry(A: sp.csr_matrix, sigma: np.ndarray) -> float:
    """``max_x ‖P(x, ·) − P(σx, σ·)‖₁``, rounded up: how far P is from commuting with σ (P relabelled by rows, its
    column indices mapped and sorted, then subtracted: 0.36 s at 10⁴ states and 4·10⁶ nonzeros, where scipy's
    ``A[σ][:, σ]`` took 0.86 s)."""
    B = A[sigma]
    B = sp.csr_matrix((B.data, sigma[B.indices], B.indptr), shape=A.shape)
    B.has_sorted_indices = False
    B.sort_indices()
    # each difference rounded once (u), its row's sum bounded by row_sum_bound
    return row_sum_bound((A - B).tocsr()) * (1.0 + gamma(1)) * _SAFE


def find_symmetry(A: sp.csr_matrix, shape) -> Orbits | None:
    """The orbits of the reversal of the lattice's axes (w₁ ↔ w₂ in 2-D) when ``shape`` allows it and P commutes
    with it up to float64 rounding (:data:`SYM_TOL`), else None. Checked on P itself, never assumed from the
    problem."""
    if shape is None:
        return None
    shape = tuple(int(k) for k in shape)
    if len(shape) < 2 or shape != shape[::-1] or int(np.prod(shape)) != A.shape[0]:
        return None
    sigma = np.arange(A.shape[0]).reshape(shape).transpose(tuple(range(len(shape)))[::-1]).ravel()
    if np.array_equal(sigma, np.arange(sigma.size)):
        return None
    eta = asymmetry(A, sigma)
    return Orbits.of(sigma, eta) if eta <= SYM_TOL else None


#: A symmetry found on its own splits chains from this many states on. Below it dense BLAS squares the whole chain in
#: milliseconds, and the split path's fixed costs (~0.2 s, not broken down) made it slower than plain dense doubling
#: (coupled chains, split / unsplit / dense doubling:
#: 225 states 0.26 / 0.008 / 0.010 s, 625 states 0.29 / 0.12 / 0.21 s, 900 states 0.38 / 0.49 / 0.96 s, 1444 states
#: 0.56 / 1.67 / 3.4 s). A permutation passed as ``symmetry=`` is used at any size.
_SPLIT_MIN_STATES = 800


def split_by(A: sp.csr_matrix, P, symmetry, shape) -> Orbits | None:
    """The orbits of the symmetry :func:`srchain.mixing.mixing_time` splits P's powers by, or None (see its
    ``symmetry``; P is the chain it was given, an Operator carrying its lattice or a matrix)."""
    if symmetry is False or symmetry is None:
        return None
    if symmetry is True:
        if A.shape[0] < _SPLIT_MIN_STATES:
            return None
        lattice = getattr(P, "lattice", None)
        return find_symmetry(A, shape if shape is not None else getattr(lattice, "shape", None))
    orb = checked_symmetry(A, symmetry)
    return orb if orb.pairs else None  # the identity splits nothing


@njit(cache=True, nogil=True, parallel=True)
def _tv_blocks(Rb, Ra, pi_rep, pi_img, pi_fix, theta):  # pragma: no cover - compiled
    """½‖row − π‖₁ of the full rows ``½(Rb ± Ra)`` (pairs) and ``Rb`` (fixed points), their entries below ``theta``
    taken as 0 (as :meth:`SymRows.flush` would), each row summed on its own in a fixed order (the same numbers under
    any thread count), without assembling them."""
    k = Rb.shape[0]
    p = pi_rep.size
    out = np.empty(k)
    for i in prange(k):
        acc = 0.0
        for b in range(p):
            u = Rb[i, b]
            v = Ra[i, b]
            if abs(u) < theta:
                u = 0.0
            if abs(v) < theta:
                v = 0.0
            acc += abs(0.5 * (u + v) - pi_rep[b]) + abs(0.5 * (u - v) - pi_img[b])
        for c in range(pi_fix.size):
            u = Rb[i, p + c]
            if abs(u) < theta:
                u = 0.0
            acc += abs(u - pi_fix[c])
        out[i] = 0.5 * acc
    return out


@njit(cache=True, nogil=True, parallel=True)
def _abs_dot(Rb, Ra, eb, ea):  # pragma: no cover - compiled
    """:meth:`SymRows.abs_dot` in one pass (its rounding, relative ~n·u of a term ≤ 1e-9, is inside the low-rank
    decisions' float64 allowance, as for ``|M| @ err`` on the full rows)."""
    k, m = Rb.shape
    p = Ra.shape[1]
    out = np.empty(k)
    for i in prange(k):
        acc = 0.0
        for b in range(p):
            acc += max(abs(Rb[i, b]), abs(Ra[i, b])) * (eb[b] + ea[b])
        for c in range(p, m):
            acc += abs(Rb[i, c]) * eb[c]
        out[i] = acc
    return out


@njit(cache=True, nogil=True, parallel=True)
def _flush(X, theta):  # pragma: no cover - compiled
    """Set the entries of the 2-D array X with 0 < |x| < theta to 0, in place."""
    k, m = X.shape
    for i in prange(k):
        for j in range(m):
            if X[i, j] != 0.0 and abs(X[i, j]) < theta:
                X[i, j] = 0.0


#: Entries below this are set to 0 in the split path's rows and powers (:func:`flush_bound` bounds what that moves):
#: a product of two entries at least this large is a normal float64 (≥ 2^-1022). The odd coordinates of rows far from
#: their start cancel to tiny numbers, and products that underflow to subnormals cost a microcode assist each: 1.6% of
#: the search's odd entries were subnormal on the coupled 100 × 100 chain, and every product with them was 3-4x slower.
THETA = 2.0**-511


def flush_bound(n: int) -> float:
    """Row-L1 change of one product of the split path by its flushes, for n states: its output (≤ n entries moved by
    < THETA each) and, for a low-rank factor ``(M U) V``, the intermediate ``M U`` (≤ n entries, each times a row
    of V, whose L1 norm is ≤ √n as V has orthonormal rows)."""
    return 2.0 * n * THETA * (1.0 + n**0.5)


def _clean(q: _Pow) -> _Pow:
    """A low-rank block with the entries of U and V below THETA set to 0, its error bound raised by what that moves:
    row x of ``UV − U′V′ = (U − U′)V + U′(V − V′)`` has L1 norm ≤ ``Σ_j |δU_xj|·‖V_j‖₁ + Σ_j |U′_xj|·‖δV_j‖₁``."""
    if q.kind != "lowrank":
        return q
    U, V = q.U.copy(), q.V.copy()
    _flush(U, THETA)
    _flush(V, THETA)
    r = U.shape[1]
    moved = np.abs(q.U - U) @ np.abs(q.V).sum(axis=1) + np.abs(U) @ np.abs(q.V - V).sum(axis=1)
    return _Pow("lowrank", U=U, V=V, err=q.err + moved * (1.0 + gamma(r + V.shape[1])) * _SAFE)


class SymRows:
    """Rows of a power of P in block coordinates: the full row is ``½(b ± a)`` on each pair and ``b`` on the fixed
    points (module docstring; the sign of the start is folded into ``a``). The search of :func:`srchain.mixing._exact`
    multiplies them by the blocks and never assembles them."""

    __slots__ = ("orb", "b", "a")

    def __init__(self, orb: Orbits, b: np.ndarray, a: np.ndarray):
        self.orb, self.b, self.a = orb, b, a

    def __len__(self) -> int:
        return int(self.b.shape[0])

    def __getitem__(self, sel) -> SymRows:
        return SymRows(self.orb, self.b[sel], self.a[sel])

    def flush(self) -> SymRows:
        """Zero the entries below :data:`THETA`, in place (moves each row by less than ``n·THETA`` in L1)."""
        _flush(self.b, THETA)
        _flush(self.a, THETA)
        return self

    def tv(self, pi: np.ndarray) -> np.ndarray:
        """½‖row − π‖₁ of each row, its entries below :data:`THETA` taken as 0."""
        o = self.orb
        return _tv_blocks(self.b, self.a, pi[o.reps], pi[o.imgs], pi[o.fixed], THETA)

    def abs_dot(self, eb: np.ndarray | None, ea: np.ndarray | None) -> np.ndarray:
        """``Σ_z |row(z)|·err(z)`` for the full-row errors ``err(y_b) = err(σy_b) = eb[b] + ea[b]`` and
        ``err(y) = eb[c]`` at a fixed point: on a pair ``|½(b + a)| + |½(b − a)| = max(|b|, |a|)``."""
        eb = np.zeros(self.b.shape[1]) if eb is None else eb
        return _abs_dot(self.b, self.a, eb, np.zeros(self.orb.pairs) if ea is None else ea)

    def full(self) -> np.ndarray:
        """The rows assembled (for checks; the exact path never needs them)."""
        o, p = self.orb, self.orb.pairs
        out = np.empty((len(self), o.n))
        out[:, o.reps] = 0.5 * (self.b[:, :p] + self.a)
        out[:, o.imgs] = 0.5 * (self.b[:, :p] - self.a)
        out[:, o.fixed] = self.b[:, p:]
        return out


def _form(M: sp.csr_matrix) -> _Pow:
    M = M.tocsr()
    M.sort_indices()
    return _Pow("sparse", S=M) if sparse_pays(M) else _Pow("dense", D=M.toarray())


class SymPow:
    """A power of P held as its two blocks B (lumped, :class:`~srchain.mixing_powers._Pow`) and A (odd), with the
    interface :func:`srchain.mixing._exact` uses: ``kind``, ``err`` (row-L1 bounds of the full rows), ``rows``,
    ``rmul``, ``tv``, ``square``, ``compress``, ``nbytes``, ``rank``."""

    def __init__(self, orb: Orbits, bar: _Pow, odd: _Pow):
        self.orb, self.bar, self.odd = orb, bar, odd

    @classmethod
    def of(cls, A: sp.csr_matrix, orb: Orbits) -> tuple[SymPow, float]:
        """The blocks of P′ (module docstring), and ``η + 2uρ``: a bound on the row-L1 distance of the full rows
        they represent to P's."""
        n, p, f = orb.n, orb.pairs, orb.fixed.size
        m = p + f
        cols = np.concatenate([orb.reps, orb.imgs, orb.fixed])
        lump = sp.csr_matrix(
            (np.ones(n), (cols, np.concatenate([np.arange(p), np.arange(p), p + np.arange(f)]))), shape=(n, m)
        )
        odd = sp.csr_matrix(
            (np.concatenate([np.ones(p), -np.ones(p)]), (cols[: 2 * p], np.tile(np.arange(p), 2))), shape=(n, p)
        )
        Bm = (A[np.concatenate([orb.reps, orb.fixed])] @ lump).tocsr()
        Am = (A[orb.reps] @ odd).tocsr()
        Am.eliminate_zeros()
        # η: each image row against its representative's, relabelled; each fixed row against its symmetric part
        # (whose distance to it is the L1 norm of its odd part)
        eta = orb.eta
        if f:
            eta = max(eta, row_sum_bound((A[orb.fixed] @ odd).tocsr()) * (1.0 + gamma(1)) * _SAFE)
        rho = row_sum_bound(A)
        return cls(orb, _form(Bm), _form(Am)), _SAFE * (eta + 2.0 * _U * rho * (1.0 + 1e-15))

    @property
    def kind(self) -> str:
        return self.bar.kind if self.bar.kind == self.odd.kind else "mixed"

    @property
    def err(self) -> np.ndarray | None:
        if self.bar.err is None and self.odd.err is None:
            return None
        o, pairs = self.orb.orbit, self.orb.sign != 0.0
        e = np.zeros(self.orb.n) if self.bar.err is None else self.bar.err[o].copy()
        if self.odd.err is not None:
            e[pairs] += self.odd.err[o[pairs]]
        return e

    @property
    def rank(self) -> int:
        return int(sum(q.U.shape[1] for q in (self.bar, self.odd) if q.kind == "lowrank"))

    def rows(self, idx, flush: bool = True) -> SymRows:
        """Rows ``idx`` of the power, in block coordinates (a fixed point's odd part is 0), flushed
        (:meth:`SymRows.flush`) unless ``flush=False``."""
        idx = np.asarray(idx, dtype=np.int64)
        o = self.orb.orbit[idx]
        s = self.orb.sign[idx]
        a = self.odd.rows(np.where(s != 0.0, o, 0))  # (any row for a fixed point: multiplied by 0)
        a *= s[:, None]
        rows = SymRows(self.orb, self.bar.rows(o), a)
        return rows.flush() if flush else rows

    def tv(self, idx, pi) -> np.ndarray:
        """½‖P^t(x, ·) − π‖₁ for the starts ``idx`` (entries below :data:`THETA` taken as 0), a few rows at a time:
        temporaries under 32 MB are reused by the allocator, where larger ones are fresh pages at every block (see
        ``_TV_BLOCK``)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty(idx.size)
        b = max(1, 4 * _TV_BLOCK // self.orb.n)
        pr, pg, pf = (pi[v] for v in (self.orb.reps, self.orb.imgs, self.orb.fixed))
        for a in range(0, idx.size, b):
            r = self.rows(idx[a : a + b], flush=False)
            out[a : a + b] = _tv_blocks(r.b, r.a, pr, pg, pf, THETA)
        return out

    def rmul(self, M: SymRows) -> SymRows:
        """``M @ P^t``: each block's coordinates times its block (a low-rank one as ``(M U) V`` with ``M U`` flushed,
        see :func:`flush_bound`)."""

        def mul(q: _Pow, X: np.ndarray) -> np.ndarray:
            if q.kind != "lowrank":
                return q.rmul(X)
            T = X @ q.U
            _flush(T, THETA)
            return T @ q.V

        return SymRows(self.orb, mul(self.bar, M.b), mul(self.odd, M.a)).flush()

    def abs_err(self, M: SymRows) -> np.ndarray | float:
        """``Σ_z |M(x, z)|·err(z)`` with this power's full-row error bounds (0.0 when it has none)."""
        if self.bar.err is None and self.odd.err is None:
            return 0.0
        return M.abs_dot(self.bar.err, self.odd.err)

    def square(self) -> SymPow:
        """Each block squared; dense results flushed (:func:`flush_bound`), low-rank ones cleaned (:func:`_clean`)."""

        def sq(q: _Pow) -> _Pow:
            # a dense block the run kernel squares lends its memory to the square and is held as CSR from then on
            out = _square_dense_freeing(q) if q.kind == "dense" else _square(q)
            if out.kind == "dense":
                _flush(out.D, THETA)
            return _clean(out)

        return SymPow(self.orb, sq(self.bar), sq(self.odd))

    def compressible(self) -> bool:
        return worth_compressing(self.bar) and worth_compressing(self.odd)

    def compress(self, rank_div: int, rng) -> SymPow | None:
        """Both blocks in certified low rank (each of rank at most its size / ``rank_div``), or None."""
        out = []
        for q in (self.bar, self.odd):
            size = q.D.shape[0] if q.kind == "dense" else q.S.shape[0]
            L = _compress(q, max(8, size // rank_div), rng)
            if L is None:
                return None
            out.append(_clean(L))
        return SymPow(self.orb, out[0], out[1])

    def nbytes(self) -> float:
        return _pow_bytes(self.bar) + _pow_bytes(self.odd)
