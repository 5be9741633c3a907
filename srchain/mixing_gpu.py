"""Exact ε-mixing time (Eq. 10) by dense doubling in float64 with torch, on a GPU or on CPU tensors.

The same algorithm as the uncompressed exact path of :mod:`srchain.mixing` (no compression), with the same
certified decision rule (:mod:`srchain.mixing_cert`: rounding bounds of every product, near-ties of ε decided
without BLAS), so CPU and GPU report the same integer:

* Phase 1: ``Q_k = P^(2^k)`` by squaring, keeping only the starts ``x`` with ``d_x(2^k) > ε`` alive (``d_x`` is
  non-increasing, so a start found ≤ ε is dropped for good); the alive rows of each square are formed first, so
  the last, full square is never needed. Ends with ``t_mix ∈ (2^K, 2^(K+1)]``.
* Phase 2: greedy binary search from the top bit, ``t = 2^K`` and for ``k = K−1 … 0`` the alive rows of ``P^t``
  times ``Q_k`` decide whether ``t += 2^k``; ``t_mix = t + 1``.

Memory: a dense ``n × n`` float64 power is ``8n²`` bytes (12.8 GB at 4·10⁴ states) and the search needs all of
``Q_0 … Q_K``. When they do not all fit in the device's memory (or in ``max_bytes``), powers are dropped during
phase 1 (never two neighbours, never the top one) and recomputed in phase 2 by squaring the one below it:
checkpointing that costs one extra product per dropped power. Only when that is not enough do the lowest powers
go to host memory (on one H200 a product at 4·10⁴ states takes 2 s, moving 12.8 GB out and back 11 s).
``Q_0 = P`` is remade on the device from the CSR arrays whenever it is needed.

torch is imported only here, and this module only when a device is asked for (``mixing_time(device=...)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from srchain.errors import NotMixed, SrchainError
from srchain.mixing_cert import classify, d0_above, decide_starts, product_bound, row_sum_bound, tv_margin

__all__ = ["exact_mixing_torch", "resolve_device"]

_ROW_BLOCK = 4096  # rows per block of a blocked product (bounds the temporaries to a block × n)


def resolve_device(device):
    """A ``torch.device`` for ``device`` ("cpu", "cuda", "cuda:1", ...), or SrchainError saying what to change."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is installed with the cnn extra
        raise SrchainError("device= needs torch; install srchain[cnn] or drop --device") from e
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise SrchainError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SrchainError(f"device {device!r} asked for but torch sees no CUDA device; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise SrchainError(f"device {device!r} is not supported; use 'cpu' or 'cuda'")
    return dev


class _Store:
    """The powers Q_k: on the device while they fit, then in host memory, then dropped and recomputed."""

    def __init__(self, torch, A: sp.csr_matrix, dev, slots: int, host_slots: int):
        self.torch, self.A, self.dev, self.slots, self.host_slots = torch, A, dev, slots, host_slots
        self.q: dict[int, Any] = {}  # on the device (torch tensors; torch is optional, so typed Any)
        self.h: dict[int, Any] = {}  # in host memory (only when the device is not the CPU)
        self.dropped: list[int] = []
        self.recomputed = 0
        self.moved = 0

    def p(self):
        """P made dense on the device from its CSR arrays (no n × n array on the host)."""
        t, A = self.torch, self.A
        n = A.shape[0]
        D = t.zeros((n, n), dtype=t.float64, device=self.dev)
        r = t.from_numpy(np.repeat(np.arange(n, dtype=np.int64), np.diff(A.indptr))).to(self.dev)
        c = t.from_numpy(A.indices.astype(np.int64)).to(self.dev)
        D.index_put_((r, c), t.from_numpy(A.data).to(self.dev), accumulate=True)  # CSR may repeat an entry
        return D

    def has(self, k: int) -> bool:
        return k == 0 or k in self.q or k in self.h

    def get(self, k: int):
        if k in self.q:
            return self.q[k]
        if k in self.h:
            self.moved += 1
            return self.h[k].to(self.dev)
        if k == 0:
            return self.p()
        # dropped: never two neighbours, so the one below is held (or is P itself)
        B = self.get(k - 1)
        self.recomputed += 1
        return _product(self.torch, B, B)

    def pop(self, k: int) -> None:
        self.q.pop(k, None)
        self.h.pop(k, None)

    def put(self, k: int, Q) -> None:
        """Hold Q_k; when the device is full, free room: P first (it is remade from the CSR arrays), then powers
        whose neighbours are held (phase 2 recomputes each with one squaring: 2 s at 4·10⁴ states on one H200,
        where moving 12.8 GB to pageable host memory and back takes 11 s), then the lowest powers go to host memory.
        """
        self.q[k] = Q
        # room on the device beyond the powers held there: phase 1 forms the square D (and the alive rows C of the
        # square when they are under half); phase 2 holds M, its product C and a power brought back or recomputed,
        # having freed Q_K
        while len(self.q) + 2 > self.slots:
            if 0 in self.q:
                del self.q[0]
                continue
            top = max(self.q)
            held = sorted(set(self.q) | set(self.h))
            cand = [j for j in held if j < top and self.has(j - 1) and not {j - 1, j + 1} & set(self.dropped)]
            cand_dev = [j for j in cand if j in self.q]
            if cand_dev:
                j = cand_dev[0]
                del self.q[j]
                self.dropped.append(j)
                continue
            if len(self.h) < self.host_slots:
                low = min(self.q)
                self.h[low] = self.q.pop(low).cpu()
                self.moved += 1
                continue
            raise SrchainError(
                f"the exact mixing time of {self.A.shape[0]} states needs more memory than there is "
                f"(room for {self.slots} dense n x n powers on the device, {self.host_slots} in host memory); "
                f"use fewer states or a larger alpha"
            )


def _product(torch, X, Y, rows=None, out=None, out_rows=None):
    """``out[out_rows] = X[rows] @ Y`` (all rows when None), in row blocks so that temporaries stay small."""
    n_out = X.shape[0] if rows is None else len(rows)
    if out is None:
        out = torch.empty((n_out, Y.shape[1]), dtype=Y.dtype, device=Y.device)
    for s in range(0, n_out, _ROW_BLOCK):
        e = min(n_out, s + _ROW_BLOCK)
        Xb = X[s:e] if rows is None else X[rows[s:e]]
        if out_rows is None:
            torch.matmul(Xb, Y, out=out[s:e])
        else:
            out[out_rows[s:e]] = Xb @ Y
    return out


def _tv(torch, M, pi_t):
    """½‖M(x, ·) − π‖₁ per row, in blocks, as a float64 numpy array."""
    out = np.empty(M.shape[0])
    for s in range(0, M.shape[0], _ROW_BLOCK):
        e = min(M.shape[0], s + _ROW_BLOCK)
        out[s:e] = (0.5 * (M[s:e] - pi_t[None, :]).abs().sum(dim=1)).cpu().numpy()
    return out


def _host_bytes() -> float:
    """MemAvailable of /proc/meminfo (0 where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return 1024.0 * float(line.split()[1])
    except OSError:
        pass
    return 0.0


def exact_mixing_torch(
    A: sp.csr_matrix,
    pi: np.ndarray,
    eps: float,
    max_steps: int,
    device="cuda",
    max_bytes: float | None = None,
    host_bytes: float | None = None,
    log=None,
) -> tuple[int, dict]:
    """Worst-start t_mix(ε) of Eq. 10 by dense float64 doubling with torch on ``device``; ``(t_mix, info)``.

    ``max_bytes`` caps the device memory used for powers (default: 95 % of the free device memory on CUDA,
    unlimited on CPU); ``host_bytes`` the host memory for powers moved off a CUDA device (default: 60 % of the
    available memory). ``info`` says how many powers were moved, dropped and recomputed, and how many products ran.
    ``log``, if given, is called with a line of text after every product (progress of long runs).
    """
    import time

    import torch

    t_start = time.perf_counter()

    def note(what: str) -> None:
        if log is not None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            log(f"{time.perf_counter() - t_start:8.2f} s  {what}")

    dev = resolve_device(device)
    A = sp.csr_matrix(A, dtype=np.float64)
    A.sum_duplicates()
    n = A.shape[0]
    one = 8.0 * n * n
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        budget = 0.95 * free if max_bytes is None else min(max_bytes, 0.95 * free)
        host = 0.6 * _host_bytes() if host_bytes is None else host_bytes
    else:
        budget = max_bytes if max_bytes is not None else float("inf")
        host = 0.0 if host_bytes is None else host_bytes  # (on CPU only to exercise the bookkeeping in tests)
    slots = int(min(budget / one, 10**6)) if np.isfinite(budget) else 10**6
    if slots < 5:
        raise SrchainError(
            f"the exact mixing time of {n} states on {dev} needs room for 5 dense n x n powers "
            f"({5 * one / 2**30:.1f} GiB), only {budget / 2**30:.1f} GiB available; use fewer states or more memory"
        )
    store = _Store(torch, A, dev, slots, int(host // one))
    pi_t = torch.from_numpy(np.ascontiguousarray(pi, dtype=np.float64)).to(dev)
    info: dict[str, Any] = {
        "device": str(dev),
        "dense_products": 0,
        "dropped": [],
        "recomputed": 0,
        "moved": 0,
        "ties": {},
        "margin": 0.0,
    }
    psum = float(np.sum(pi))
    rho = row_sum_bound(A)

    def decide(tv, err, s, starts, t):
        """The certified rule of :mod:`srchain.mixing_cert`, as on the NumPy path: the same integer on any device."""
        margin = tv_margin(err, s, psum, n)
        info["margin"] = max(info["margin"], float(margin))
        above, below = classify(tv, margin, eps)
        und = ~above & ~below
        if und.any():
            above = above.copy()
            above[und] = decide_starts(A, pi, starts[und], t, eps, info["ties"], tv[und])
        return above

    P = store.p()
    above = decide(_tv(torch, P, pi_t), 0.0, rho, np.arange(n), 1)
    if not above.any():
        return (1 if d0_above(pi, eps) else 0), info
    alive = np.flatnonzero(above)
    rb, sb = [0.0], [rho]
    store.put(0, P)
    del P
    level = 0
    while True:
        if 2 ** (level + 1) > max_steps:  # (the power at ``level`` was certified above ε for a start)
            raise NotMixed(eps, max_steps, 2**level)
        Q = store.get(level)
        r2 = product_bound(rb[-1], sb[-1], rb[-1], sb[-1], n)
        s2 = sb[-1] * sb[-1] * (1.0 + 1e-15)
        if 2 * len(alive) > n:  # most starts alive: the full square, in contiguous row blocks (no gather)
            D = _product(torch, Q, Q)
            info["dense_products"] += 1
            tvc = _tv(torch, D, pi_t)[alive]
        else:  # the alive rows first: if they all mixed, the rest of the square is never formed
            rows = torch.from_numpy(alive).to(dev)
            C = _product(torch, Q, Q, rows)
            info["dense_products"] += 1
            tvc = _tv(torch, C, pi_t)
            D = None
        above = decide(tvc, r2, s2, alive, 2 ** (level + 1))
        note(f"phase 1: P^{2 ** (level + 1)} on {len(alive)} alive starts, {int(above.sum())} still above eps")
        if not above.any():
            break
        if D is None:
            D = torch.empty_like(Q)
            D[rows] = C
            del C
            rest = np.setdiff1d(np.arange(n), alive, assume_unique=True)
            rr = torch.from_numpy(rest).to(dev)
            _product(torch, Q, Q, rr, out=D, out_rows=rr)
        del Q
        alive = alive[above]
        level += 1
        rb.append(r2)
        sb.append(s2)
        store.put(level, D)
        del D
        note(f"phase 1: P^{2**level} formed; {len(store.q)} powers on {dev}, {len(store.h)} in host memory")
    Q = C = D = None  # noqa: F841 - frees the device memory of the last square
    K = level
    t = 2**K
    M = store.get(K)[torch.from_numpy(alive).to(dev)]
    starts, fr, st = alive, rb[K], sb[K]
    store.pop(K)
    for k in range(K - 1, -1, -1):
        B = store.get(k)
        C = _product(torch, M, B)
        info["dense_products"] += 1
        store.pop(k)
        del B
        frc = product_bound(fr, st, rb[k], sb[k], n)
        stc = st * sb[k] * (1.0 + 1e-15)
        above = decide(_tv(torch, C, pi_t), frc, stc, starts, t + 2**k)
        if above.any():  # d(t + 2^k) > ε: keep only the starts still above ε
            M = C[torch.from_numpy(np.flatnonzero(above)).to(dev)]
            starts, fr, st = starts[above], frc, stc
            t += 2**k
        del C
        note(f"phase 2: bit {k}, t = {t}, {M.shape[0]} starts above eps")
    info["dropped"] = sorted(store.dropped)
    info["recomputed"] = store.recomputed
    info["moved"] = store.moved
    info["dense_products"] += store.recomputed
    return t + 1, info
