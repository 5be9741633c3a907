"""The compiled, threaded kernels of the T_α build on a box lattice (Section 5).

:func:`srchain.operators.move_laws` computes, per state and coordinate, the 1-D move law of one SR (Eq. 6) or R
(Eq. 4) step in a window ``|j| ≤ J``, clipped to the faces of the box; these kernels fill its ``targets`` and
``probs`` tables (the formulas and their cancellation-free evaluation are in :mod:`srchain.operators`' docstring).
Rows run in parallel (``prange``) and each entry is a fixed expression of its own inputs, so the bits do not depend
on the thread count (the "same bits" promise).
"""

from __future__ import annotations

from numba import njit, prange

from srchain.noise_kernels import _gauss_excess_one

__all__: list[str] = []


@njit(cache=True, nogil=True, inline="always")
def _fmax(a, b):
    """``np.maximum(a, b)`` of two floats: NaN propagates."""
    return a if (a >= b or a != a) else b


@njit(cache=True, nogil=True, inline="always")
def _fmin(a, b):
    """``np.minimum(a, b)`` of two floats: NaN propagates."""
    return a if (a <= b or a != a) else b


@njit(cache=True, nogil=True, parallel=True)
def _offsets_kernel(grads, J, inv_tau, out):
    """``out[i, k, w] = a_c = −∇f_k − c/τ`` for ``c = w − J − 1`` (what :func:`srchain.operators._scaled_offsets`
    computes, bit for bit, over the window extended by one cell each side), one row per task."""
    n, d = grads.shape
    W2 = out.shape[2]
    for i in prange(n):
        for k in range(d):
            g = -grads[i, k]
            for w in range(W2):
                cc = float(w - J - 1)
                shift = 0.0 if cc == 0.0 else cc * inv_tau
                out[i, k, w] = g - shift


@njit(cache=True, nogil=True, inline="always")
def _sr_entry(mm, j, t, last, e0, e1, e2, tau):
    """Pr(move ``j``) of SR along one axis from the excesses ``e0, e1, e2 = E(a_{j−1}), E(a_j), E(a_{j+1})``, for a
    target ``t`` inside the box (a face ``t = 0`` or ``t = last`` carries the tail), clipped below at 0.

    ``hat(m − j) = min((1 + j) − m, (1 − j) + m)⁺``: ``j`` is an integer, so ``1 ± j`` is exact, and when the result
    is small the subtraction is exact (Sterbenz), so a move of probability m = 1e-300 keeps all its digits
    (``1 − |m − j|`` would round m − 1 to −1 and give 0 once m < 1e-16). Far in the tails the first terms vanish and
    the corrections are differences of small numbers: no catastrophic cancellation.
    """
    jf = float(j)
    up = (1.0 + jf) - mm  # (1 + j) − m
    dn = (1.0 - jf) + mm  # (1 − j) + m
    if t == 0:  # lower face: Pr(Qs ≤ j)
        p = _fmin(_fmax(up, 0.0), 1.0) + tau * (e2 - e1)
    elif t == last:  # upper face: Pr(Qs ≥ j)
        p = _fmin(_fmax(dn, 0.0), 1.0) + tau * (e0 - e1)
    else:
        p = _fmax(0.0, _fmin(up, dn)) + tau * ((e0 + e2) - 2.0 * e1)
    return _fmax(p, 0.0)


@njit(cache=True, nogil=True, parallel=True)
def _sr_place(grads, coords, nk, J, alpha, delta, tau, ex, targets, probs):
    """SR's move laws from the excesses ``ex[i, k, w] = E(a_{w−J−1})`` (see :func:`srchain.operators.move_laws`),
    clipped to the box.

    Rows run in parallel; every entry is a fixed expression of its own inputs (:func:`_sr_entry`), the same
    operations in the same order as the NumPy form, so the bits do not depend on the thread count.
    """
    n, d = grads.shape
    W = 2 * J + 1
    for i in prange(n):
        for k in range(d):
            mm = -grads[i, k] / delta * alpha  # the mean step in lattice units
            ck = coords[i, k]
            last = nk[k] - 1
            for w in range(W):
                t = ck + w - J
                if t < 0 or t > last:
                    targets[i, k, w] = -1
                    probs[i, k, w] = 0.0
                    continue
                targets[i, k, w] = t
                probs[i, k, w] = _sr_entry(mm, w - J, t, last, ex[i, k, w], ex[i, k, w + 1], ex[i, k, w + 2], tau)


@njit(cache=True, nogil=True, parallel=True)
def _sr_place_gaussian(grads, coords, nk, J, alpha, delta, tau, inv_tau, s, targets, probs):
    """:func:`_sr_place` for Gaussian noise of std ``s``, each excess computed where it is used (one pass, no
    table of excesses): ``E(a_c) = s·ψ(−|a_c|/s)`` at ``a_c = −∇f_k − c/τ``, the very numbers of
    :func:`_offsets_kernel` followed by :meth:`srchain.noise.GaussianNoise.excess`."""
    n, d = grads.shape
    W = 2 * J + 1
    for i in prange(n):
        for k in range(d):
            g = -grads[i, k]
            mm = g / delta * alpha
            ck = coords[i, k]
            last = nk[k] - 1
            # E(a_c) for c = w − J − 1, w − J, w − J + 1, slid along the window
            e0 = _gauss_excess_one(g - float(-J - 1) * inv_tau, s)
            e1 = _gauss_excess_one(g - (0.0 if J == 0 else float(-J) * inv_tau), s)
            for w in range(W):
                cc = float(w - J + 1)
                e2 = _gauss_excess_one(g - (0.0 if cc == 0.0 else cc * inv_tau), s)
                t = ck + w - J
                if t < 0 or t > last:
                    targets[i, k, w] = -1
                    probs[i, k, w] = 0.0
                else:
                    targets[i, k, w] = t
                    probs[i, k, w] = _sr_entry(mm, w - J, t, last, e0, e1, e2, tau)
                e0 = e1
                e1 = e2


@njit(cache=True, nogil=True, parallel=True)
def _place(coords, nk, J, exact, ge, le, targets, probs):
    """Move laws clipped to the box: the face's entry is ``le`` (lower) or ``ge`` (upper), an inner one ``exact``;
    targets outside the box get ``-1`` and probability 0 (one row per task)."""
    n, d = coords.shape
    W = 2 * J + 1
    for i in prange(n):
        for k in range(d):
            ck = coords[i, k]
            last = nk[k] - 1
            for w in range(W):
                t = ck + w - J
                if t < 0 or t > last:
                    targets[i, k, w] = -1
                    probs[i, k, w] = 0.0
                    continue
                p = le[i, k, w] if t == 0 else (ge[i, k, w] if t == last else exact[i, k, w])
                targets[i, k, w] = t
                probs[i, k, w] = _fmax(p, 0.0)


@njit(cache=True, nogil=True, parallel=True)
def _any_near_underflow(targets, probs, J, tiny):
    """Whether a nearest-neighbour move (window positions ``J ± 1``) inside the box is below ``tiny``."""
    n, d, _ = probs.shape
    found = 0
    for i in prange(n):
        for k in range(d):
            for w in (J - 1, J + 1):
                if targets[i, k, w] >= 0 and probs[i, k, w] < tiny:
                    found += 1
    return found > 0
