r"""SR with k random bits along one axis of a format's grid (hardware SR, :mod:`srchain.rounding`): the move law by
quadrature where a cell is narrow or cut into narrow sub-cells, by the CDF's staircase otherwise.

With :math:`N = 2^k`, SR with k bits rounds a value at the fraction :math:`q` of its cell (measured from the end
nearer zero) away from zero with probability :math:`s_N(q) = \lfloor Nq\rfloor/N`. From the state :math:`x` the
step :math:`y = x - \alpha(g + \bar\xi)` has the density :math:`\rho`, and the move law to :math:`v_t` is

.. math::

    \Pr(t) = U_{t-1} + D_t,

:math:`U_c` and :math:`D_c` the masses of the cell :math:`[v_c, v_{c+1})` that round up and down: its *away* mass
:math:`A_c = \int \rho\, s_N(q)` and its *toward-zero* mass :math:`Z_c = \int \rho\,(1 - s_N(q))` (up is away from zero
on a cell above 0, toward it below). At the grid's ends the clipped tails :math:`\Pr(y < v_0)` and
:math:`\Pr(y \ge v_{n-1})` take the place of the missing cells.

* A **wide** cell (:math:`h > ` :data:`srchain.wide_moves.WIDE` · α·std) under Gaussian noise is cut into
  :math:`M = 2^j` sub-cells as narrow as that, each holding :math:`N/M` steps of the staircase
  (:math:`s_N((i + u)/M) = i/M + s_{N/M}(u)/M`), and each takes the product rule below with the weights of
  :math:`k - j` bits, where its :math:`M` · :data:`NODES` density values are fewer than :math:`N`. Otherwise (and
  on every cell under non-Gaussian noise) the cell takes the staircase
  :math:`A_c = N^{-1}\sum_{m=1}^{N-1}\Pr(y \in [\text{cut}_m, \text{end}))`, :math:`N - 1` differences of
  the CDF, and :math:`Z_c = C_c - A_c` (:math:`C_c` the cell's mass): each term's error is about ``eps`` of the
  noise's tail beyond it, at most ``64 eps`` relative to the cell's mass on a wide cell. So k = 32 costs no more
  than k = 12 or so: on bf16 [−4, 10] at α = 0.01, 4 to 32 bits take 9–13 s by the lifted chain.
* A **narrow** cell under Gaussian noise, where a first difference would lose :math:`\epsilon\,\alpha\,\mathrm{std}/h`
  (all of it at bf16's gaps near 0, down to 9.2e-41), is integrated: :math:`A_c = h\sum_i W_i\,\rho(y_i)` at
  :data:`NODES` Gauss–Legendre points of the cell, with the *product-integration* weights
  :math:`W_i = \int_0^1 \ell_i(q)\,s_N(q)\,dq` of the staircase against the points' Lagrange polynomials
  (:func:`staircase_rule`, exact for any :math:`k`), and :math:`Z_c` with :math:`\int \ell_i (1 - s_N)`. The error is
  the density's interpolation error on the cell: at most about
  :math:`2\,(h/(4\alpha s))^{P} (|z| + \sqrt{P})^{P}/P!` relative, at :math:`P = 8` and :math:`h \le \alpha s/64`
  below 4e-18 for :math:`|z| \le 3` and 2e-15 for :math:`|z| \le 10`. The weights are positive but for a few
  of at most −1.7e-3 (k ≤ 4: the point nearest zero, where the staircase is 0), with :math:`\sum|W_i| \le 1.009
  \sum W_i`: the sum loses nothing. Where one point is exact to rounding (SR's rule,
  :data:`srchain.grid_wide.ONE_NODE`), one density value at the weight's centroid is taken:
  :math:`A_c = h\,\mu_A\,\rho(q_A)` with :math:`\mu_A = (N-1)/(2N)`, :math:`q_A = (4N+1)/(6N)`, and
  :math:`Z_c = h\,\mu_Z\,\rho(q_Z)`, :math:`\mu_Z = (N+1)/(2N)`, :math:`q_Z = (2N+1)/(6N)` (second order, below
  ``2^-55`` relative there).

Every half is a positive mass computed without differences, so tiny probabilities keep their relative accuracy. As
for SR and R (:mod:`srchain.grid_sr`, :mod:`srchain.grid_r`), a narrow target at least two values from its row's
own value whose mass is surely below ``DROP·tol`` (the density's peak times both cells,
:math:`f(0)(h_{t-1} + h_t)/\alpha`) leaves the window (:func:`far_cells`), so that the rows whose mean steps share
a binade can take an interpolated law (:mod:`srchain.grid_interp`): the law depends on the row only through its mean
step, and its kernel is non-negative and supported on the two cells around :math:`v_t`, as R's and SR's are.

Where T_α is not kept (the dense and lifted routes), :func:`kbit_drift_gap` gives each row's k-bit bias from the
step's law by the same product rule, and :func:`sr_drift` SR's drift in closed form.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from srchain._threads import over_threads
from srchain.errors import SrchainError
from srchain.grid_interp import _weights
from srchain.grid_sr import DROP
from srchain.grid_wide import ONE_NODE, _arg
from srchain.noise import _INV_SQRT_2PI, GaussianNoise
from srchain.wide_moves import WIDE

__all__ = [
    "kbit_axis_law",
    "far_cells",
    "staircase_rule",
    "saw_rule",
    "half_costs",
    "kbit_drift_gap",
    "sr_drift",
    "NODES",
]

#: Gauss–Legendre points of a narrow cell's product rule.
NODES = 8
#: Up to this many random bits the product weights are summed piece by piece; beyond, by the Euler–Maclaurin form.
_DIRECT_BITS = 12
#: Window cells per thread of :func:`_narrow_halves`.
_CELLS_PER_THREAD = 1 << 15
#: The most CDF differences of the staircase taken in one block (:func:`_half_stair`).
_STAIR_BLOCK = 1 << 16
#: Bernoulli numbers B_2, B_4, B_6, B_8 (the expansion of :func:`_saw_moments` ends there for degree 7).
_BERNOULLI = (1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0)


@functools.cache
def _gauss() -> tuple[np.ndarray, np.ndarray]:
    """The :data:`NODES` Gauss–Legendre points and weights of [0, 1]."""
    x, gw = np.polynomial.legendre.leggauss(NODES)
    q, gw = 0.5 * (x + 1.0), 0.5 * gw
    q.flags.writeable = gw.flags.writeable = False  # (shared by every rule)
    return q, gw


@functools.cache
def staircase_rule(bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(q, w_away, w_zero)``: the :data:`NODES` Gauss–Legendre points of [0, 1] and the product-integration weights
    of the staircase :math:`s_N(q) = \lfloor Nq\rfloor/N` (:math:`N = 2^{bits}`) and of :math:`1 - s_N`:
    :math:`\int_0^1 p(q)\,s_N(q)\,dq = \sum_i w_{away,i}\,p(q_i)` for every polynomial of degree below NODES."""
    q, gw = _gauss()
    N = 2**bits
    if bits <= _DIRECT_BITS:  # Σ_m (m/N) ∫_{m/N}^{(m+1)/N} ℓ_i, each piece by Gauss–Legendre (exact: degree 7)
        m = np.arange(N, dtype=np.float64)
        pts = ((m[:, None] + q[None, :]) / N).reshape(-1)  # every piece's points
        weight = np.repeat(m / N, NODES) * np.tile(gw / N, N)
        away = _weights(q, pts).T @ weight  # (the Lagrange polynomials at every piece's points)
    else:  # ∫ ℓ_i s_N = ∫ ℓ_i q − ∫ ℓ_i saw_N, the second by Euler–Maclaurin (_saw_moments)
        away = gw * q - _saw_moments(q, gw, N)
    return q, away, gw - away


@functools.cache
def saw_rule(bits: int) -> np.ndarray:
    r"""The product-integration weights of the sawtooth :math:`q - s_N(q) = \{Nq\}/N` at :func:`staircase_rule`'s
    points (:math:`N = 2^{bits}`, 0 bits: :math:`q` itself), summed directly: not as the difference of
    :math:`\int \ell_i q` and the staircase's weights, which would lose :math:`\log_2 N` bits."""
    q, gw = _gauss()
    N = 2**bits
    if bits <= _DIRECT_BITS:  # Σ_m ∫_{m/N}^{(m+1)/N} ℓ_i(q)(q − m/N) dq, each piece by Gauss–Legendre
        pts = ((np.arange(N, dtype=np.float64)[:, None] + q[None, :]) / N).reshape(-1)
        return _weights(q, pts).T @ np.tile(gw * q / (N * N), N)
    return _saw_moments(q, gw, N)


def _saw_moments(q, gw, N):
    r""":math:`\int_0^1 \ell_i(q)\,\mathrm{saw}_N(q)\,dq` with :math:`\mathrm{saw}_N(q) = \{Nq\}/N`, integrating by
    parts against the periodic Bernoulli functions (exact for a polynomial, whose derivatives end):
    :math:`\int_0^1 \varphi(q)\{Nq\}\,dq = \tfrac12\int\varphi + \sum_{j\ge1} \frac{B_{2j}}{(2j)!}
    \frac{\varphi^{(2j-2)}(1) - \varphi^{(2j-2)}(0)}{N^{2j-1}}`. ``ℓ_i`` in the Legendre basis on [0, 1]
    (discrete orthogonality at the Gauss points: well conditioned)."""
    leg = np.polynomial.legendre
    x = 2.0 * q - 1.0
    k = np.arange(NODES)
    out = 0.5 * gw.copy()
    for i in range(NODES):
        coef = (2.0 * k + 1.0) * gw[i] * leg.legvander(x[i : i + 1], NODES - 1)[0]  # ℓ_i = Σ_k coef_k P_k(2q − 1)
        for j, b in enumerate(_BERNOULLI, start=1):
            order = 2 * j - 2
            d = leg.legder(coef, order) * 2.0**order if order else coef
            jump = leg.legval(1.0, d) - leg.legval(-1.0, d)
            out[i] += b / math.factorial(2 * j) * jump / float(N) ** (2 * j - 1)
    return out / N


def _limits(noise):
    """``(limit, gaussian, s)``: the widest narrow cell (gap/α; −1: no quadrature), whether the noise is Gaussian and
    its standard deviation."""
    gaussian = type(noise).pdf is GaussianNoise.pdf
    std = float(noise.std)
    limit = WIDE * std if gaussian and math.isfinite(std) else -1.0
    return limit, gaussian, (float(noise.s) if gaussian else 1.0)


def _drop(noise, tol) -> float:
    """The bound below which a far narrow target is dropped (0 but for Gaussian noise, whose peak is known)."""
    return DROP * tol if type(noise).pdf is GaussianNoise.pdf else 0.0


def kbit_axis_law(noise, x, g, alpha, vp, t, first, valid, own, tol, bits):
    """SR with ``bits`` random bits along one axis: ``probs`` ``(n, W)``, with the arguments and the update of
    ``valid`` of :func:`srchain.grid_r.r_axis_law` (module docstring)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    g = np.ascontiguousarray(g, dtype=np.float64)
    n, W = t.shape
    limit, _, s = _limits(noise)
    drop = _drop(noise, tol)
    q, gw = _gauss()
    w_away = np.array([staircase_rule(k)[1] for k in range(bits + 1)])  # per k' ≤ k: a sub-cell's staircase
    w_zero = np.array([staircase_rule(k)[2] for k in range(bits + 1)])
    N = float(2**bits)
    one = np.array(
        [(N - 1.0) / (2.0 * N), (4.0 * N + 1.0) / (6.0 * N), (N + 1.0) / (2.0 * N), (2.0 * N + 1.0) / (6.0 * N)]
    )
    probs = np.zeros((n, W))
    stair = np.zeros((n, W), dtype=np.int8)  # bit 1: the cell below takes the staircase, bit 2: the cell above
    over_threads(
        lambda i0, i1: _narrow_halves(
            x, g, alpha, vp, t, valid, own, limit, s, drop, q, gw, w_away, w_zero, one, probs, stair, i0, i1
        ),  # fmt: skip
        n,
        max(1, _CELLS_PER_THREAD // max(W, 1)),
    )
    stair_cells(noise, x, g, alpha, vp, t, stair, bits, probs)
    return np.maximum(probs, 0.0)


def stair_cells(noise, x, g, alpha, vp, t, stair, bits, probs):
    """Add the staircase's halves marked in ``stair`` (bit 1: the mass of the cell below ``v_t`` that rounds up to
    it, or the tail below the grid at ``t = 0``; bit 2: the mass of the cell above that rounds down, or the tail above
    the grid at its last value) to ``probs``, the lower half first, vectorised over the marked entries."""
    nv = vp.shape[0] - 2
    for bit in (1, 2):
        r, w = np.nonzero(stair & bit)
        if not r.size:
            continue
        c = t[r, w]
        up = bit == 1  # the cell [v_{t−1}, v_t) rounding up, or [v_t, v_{t+1}) rounding down
        a, b = (vp[c], vp[c + 1]) if up else (vp[c + 1], vp[c + 2])
        end = c == 0 if up else c == nv - 1
        half = np.empty(c.size)
        lo, hi = (np.full(a.shape, -1e300), b) if up else (a, np.full(b.shape, 1e300))  # the tail beyond the grid
        half[end] = _between(noise, x[r[end]], g[r[end]], alpha, lo[end], hi[end])
        inner = ~end
        half[inner] = _half_stair(noise, x[r[inner]], g[r[inner]], alpha, a[inner], b[inner], 2**bits, up)
        probs[r, w] += half


def _between(noise, x, g, alpha, a, b):
    """``Pr(a ≤ y < b)`` for ``y = x − α(g + ξ̄)``, in its small-term form; ``a``, ``b``: ``x``'s shape, or with one
    more axis."""
    if a.ndim > x.ndim:
        x, g = x[:, None], g[:, None]
    za, zb = _arg(x, a, g, alpha), _arg(x, b, g, alpha)
    return np.maximum(np.where(zb > 0, noise.sf(zb) - noise.sf(za), noise.cdf(za) - noise.cdf(zb)), 0.0)


def _half_stair(noise, x, g, alpha, a, b, N, up):
    """The mass of the cells ``[a, b)`` that rounds up (``up``) or down: the staircase of the away mass
    ``N^-1 Σ_m Pr(y ∈ [cut_m, end))`` (its cuts counted from the end nearer zero), and the cell's mass less it; the
    cuts in blocks of at most :data:`_STAIR_BLOCK` differences."""
    c = _between(noise, x, g, alpha, a, b)
    if not c.size:
        return c
    h = (b - a)[:, None]
    neg = (b <= 0)[:, None]
    stair = np.zeros_like(c)
    per = max(1, _STAIR_BLOCK // max(c.size, 1))
    for m0 in range(1, N, per):  # ⌊N q⌋/N = N^-1 Σ_m 1{q ≥ m/N}
        f = np.arange(m0, min(m0 + per, N)) / N
        lo = np.where(neg, a[:, None], a[:, None] + f * h)
        hi = np.where(neg, b[:, None] - f * h, b[:, None])
        stair += _between(noise, x, g, alpha, lo, hi).sum(axis=1)
    stair /= N
    away = up != neg[:, 0]  # up is away from zero on a cell above 0
    return np.where(away, stair, c - stair)


@njit(cache=True, nogil=True)
def _narrow_halves(x, g, alpha, vp, t, valid, own, limit, s, drop, q, gw, w_away, w_zero, one, probs, stair, i0, i1):
    """Rows ``i0 ≤ i < i1``: per valid target ``v_t``, the masses of its two cells that round to it where the cell is
    narrow (:func:`_half`), else a mark in ``stair``; a far narrow target leaves the window (:func:`_is_far`)."""
    nv = vp.shape[0] - 2
    c_pdf = _INV_SQRT_2PI / s
    for i in range(i0, i1):
        for w in range(t.shape[1]):
            if not valid[i, w]:
                continue
            c = t[i, w]
            if abs(c - own[i]) > 1 and _is_far(vp, c, nv, alpha, limit, c_pdf, drop):
                valid[i, w] = False
                continue
            p = 0.0
            lo = -1.0 if c == 0 else _half(x[i], g[i], alpha, vp[c], vp[c + 1], True, limit, s, c_pdf, q, gw,
                                            w_away, w_zero, one)  # fmt: skip
            if lo < 0.0:
                stair[i, w] |= 1
            else:
                p += lo
            hi = -1.0 if c == nv - 1 else _half(x[i], g[i], alpha, vp[c + 1], vp[c + 2], False, limit, s, c_pdf, q,
                                                gw, w_away, w_zero, one)  # fmt: skip
            if hi < 0.0:
                stair[i, w] |= 2
            else:
                p += hi
            probs[i, w] = p


@njit(cache=True, nogil=True, inline="always")
def _is_far(vp, c, nv, alpha, limit, c_pdf, drop):
    """Whether the target ``c`` (not an end) has both cells narrow and its mass surely below ``drop``:
    ``c_pdf·(H_{t−1} + H_t)`` bounds it (the density's peak times both cells, ``H = gap/α``)."""
    if not 0 < c < nv - 1:
        return False
    h0 = (vp[c + 1] - vp[c]) / alpha
    h1 = (vp[c + 2] - vp[c + 1]) / alpha
    return h0 <= limit and h1 <= limit and c_pdf * (h0 + h1) < drop


@njit(cache=True, nogil=True, inline="always")
def _half(x, g, alpha, a, b, up, limit, s, c_pdf, q, gw, w_away, w_zero, one):
    """The mass of the cell ``[a, b)`` that rounds up (``up``) or down under Gaussian noise, by the product rule
    (module docstring): on the whole cell where it is narrow, else on ``M = 2^j`` sub-cells narrow enough, each
    holding ``N/M`` steps of the staircase (``s_N((i + u)/M) = i/M + s_{N/M}(u)/M``: the weights of ``k − j`` bits,
    ``w_away[k − j]``), where their ``M·NODES`` density values are fewer than the staircase's ``N`` differences;
    −1 where not (the staircase's)."""
    H = (b - a) / alpha
    bits = w_away.shape[0] - 1
    if not limit > 0.0:
        return -1.0
    j = _sub_cells(H, limit, bits)
    M = 2**j
    if not H <= limit * M or (j > 0 and M * q.shape[0] >= 2**bits):
        return -1.0
    neg = b <= 0.0
    away = up != neg
    xi0, step = _from_zero(x, g, alpha, a, b)
    mid = xi0 + 0.5 * step
    if j == 0 and (H / s) * (1.0 + abs(mid) / s) < ONE_NODE:  # one node at the weight's centroid
        mu, qc = (one[0], one[1]) if away else (one[2], one[3])
        z = (xi0 + step * qc) / s
        return H * mu * (math.exp(-0.5 * z * z) * c_pdf)
    sub = bits - j
    acc = 0.0
    for i in range(M):  # the sub-cell q ∈ [i/M, (i + 1)/M): weight i/M (away) or (M − 1 − i)/M, plus its staircase
        base = (i if away else M - 1 - i) / M
        for k in range(q.shape[0]):
            wk = base * gw[k] + (w_away[sub, k] if away else w_zero[sub, k]) / M
            z = (xi0 + step * ((i + q[k]) / M)) / s
            acc += wk * math.exp(-0.5 * z * z)
    return H * acc * c_pdf / M


def half_costs(H, limit, bits) -> np.ndarray:
    """The density or CDF evaluations of one half of each cell ``H`` wide (gap/α) as :func:`_half` takes it: none to
    speak of on a narrow cell, ``2^j·NODES`` on sub-cells, else the staircase's ``2^k`` (``limit`` −1: every cell)."""
    N = 2.0**bits
    if not limit > 0:
        return np.full(np.shape(H), N)
    j = np.ceil(np.log2(np.maximum(np.asarray(H) / limit, 1.0)))
    return np.where(j == 0, 0.0, np.where((j <= bits) & (2.0**j * NODES < N), 2.0**j * NODES, N))


@njit(cache=True, nogil=True, inline="always")
def _sub_cells(H, limit, most):
    """The least ``j ≤ most`` with ``H ≤ limit·2^j``: a cell ``H`` wide (in units of α) cut into ``2^j`` narrow
    sub-cells (``most`` where none is narrow enough)."""
    j = 0
    while not H <= limit * 2.0**j and j < most:
        j += 1
    return j


@njit(cache=True, nogil=True, inline="always")
def _from_zero(x, g, alpha, a, b):
    """``(ξ̄0, step)``: the noise ``ξ̄ = ξ̄0 + step·q`` that puts the step at the fraction ``q`` of the cell ``[a, b)``
    from its end nearer zero (``ξ̄0`` as :func:`srchain.grid_wide._arg` computes it)."""
    neg = b <= 0.0
    d = x - (b if neg else a)
    return (0.0 if d == 0 else d / alpha) - g, (1.0 if neg else -1.0) * ((b - a) / alpha)


def far_cells(vp, lo, hi, alpha, noise, tol):
    """The targets ``lo ≤ t ≤ hi`` (a boolean array) that :func:`kbit_axis_law` takes out of a row's window unless
    they are its own value's neighbours."""
    limit, _, s = _limits(noise)
    drop = _drop(noise, tol)
    return _far_cells(vp, lo, hi, alpha, limit, _INV_SQRT_2PI / s, drop)


@njit(cache=True, nogil=True)
def _far_cells(vp, lo, hi, alpha, limit, c_pdf, drop):
    nv = vp.shape[0] - 2
    out = np.zeros(hi - lo + 1, dtype=np.bool_)
    for c in range(lo, hi + 1):
        out[c - lo] = _is_far(vp, c, nv, alpha, limit, c_pdf, drop)
    return out


def kbit_drift_gap(noise, x, g, alpha, v, bits) -> np.ndarray:
    r"""``E[Q_s^{(k)}(y)] − E[Q_s(y)]`` per row (positions ``x``, gradients ``g`` along one axis of values ``v``), the
    step :math:`y = x - \alpha(g + \bar\xi)` clipped to the grid: the k-bit bias
    (:func:`srchain.rounding.kbit_bias`) averaged over the step, :math:`-\sum_c \operatorname{sign}_c h_c \delta_c`
    with :math:`\delta_c = \int_c \rho\,(q - s_N(q))` the mass each cell moves toward zero, by the product rule on
    narrow sub-cells (:func:`saw_rule`), every term positive; the cells within the noise's ``2^-60`` quantiles.
    The drift gap of T_α's rows without T_α (on the dense and lifted routes it is not kept). Gaussian noise."""
    limit, gaussian, s = _limits(noise)
    if not gaussian or not limit > 0:
        raise SrchainError("the k-bit drift without T_alpha needs Gaussian noise")
    x = np.ascontiguousarray(x, dtype=np.float64)
    g = np.ascontiguousarray(g, dtype=np.float64)
    reach = alpha * noise.quantile_width(2.0**-60)
    c = x - alpha * g
    lo = np.clip(np.searchsorted(v, c - reach, side="right") - 2, 0, v.size - 2)
    hi = np.clip(np.searchsorted(v, c + reach, side="left") + 1, 0, v.size - 2)
    saw = np.array([saw_rule(k) for k in range(bits + 1)])
    q, gw = _gauss()
    out = np.zeros(x.size)
    over_threads(lambda i0, i1: _drift_gap_rows(x, g, alpha, v, lo, hi, limit, s, q, gw, saw, out, i0, i1), x.size, 64)
    return out


@njit(cache=True, nogil=True)
def _drift_gap_rows(x, g, alpha, v, lo, hi, limit, s, q, gw, saw, out, i0, i1):
    c_pdf = _INV_SQRT_2PI / s
    bits = saw.shape[0] - 1
    for i in range(i0, i1):
        acc = 0.0
        for c in range(lo[i], hi[i] + 1):
            a, b = v[c], v[c + 1]
            sign = -1.0 if b <= 0.0 else 1.0
            acc -= sign * (b - a) * _saw_mass(x[i], g[i], alpha, a, b, limit, s, c_pdf, q, gw, saw, bits)
        out[i] = acc


@njit(cache=True, nogil=True, inline="always")
def _saw_mass(x, g, alpha, a, b, limit, s, c_pdf, q, gw, saw, bits):
    """``δ = ∫ρ (q − s_N(q))`` over the cell ``[a, b)`` (``q`` from its end nearer zero) on ``M = 2^j`` sub-cells
    at most ``limit`` wide: with ``M ≤ N`` each holds ``N/M`` steps (the sawtooth of ``k − j`` bits, over ``M``),
    else each lies within one step ``m``, where the sawtooth is ``(r + u)/M`` with ``r = i − m·M/N`` (exact)."""
    H = (b - a) / alpha
    j = _sub_cells(H, limit, 60)
    M = 2**j
    xi0, step = _from_zero(x, g, alpha, a, b)
    acc = 0.0
    for i in range(M):
        r = 0 if j <= bits else i - ((i * 2**bits) // M) * (M // 2**bits)
        for k in range(q.shape[0]):
            z = (xi0 + step * ((i + q[k]) / M)) / s
            w = saw[bits - j, k] / M if j <= bits else gw[k] * (r + q[k]) / M
            acc += w * math.exp(-0.5 * z * z)
    return H * acc * c_pdf / M


def sr_drift(noise, x, g, alpha, v) -> np.ndarray:
    r"""SR's drift ``E[Q_s(y)] − x`` per row: SR is unbiased, so it is the clipped step's,
    :math:`E[\min(\max(y, v_0), v_{n-1})] - x = (v_0 - x) + \alpha\Lambda(a_0) - \alpha\Lambda(a_{n-1})`
    with :math:`a = (x - v)/\alpha - g`, the first two terms as :math:`-\alpha g + \alpha E(a_0)` where
    :math:`a_0 > 0` (:math:`E` the noise's excess: no cancellation)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    a0 = _arg(x, v[0], g, alpha)
    an = _arg(x, v[-1], g, alpha)
    head = np.where(a0 > 0, -alpha * g, v[0] - x)
    return head + alpha * noise.excess(a0) - alpha * noise.lower_partial(an)
