"""The interface every gradient-noise law implements (:class:`NoiseModel`); the laws are in :mod:`srchain.noise`.

A model of the batch-mean noise ``ξ̄`` in ``∇f̃(w) = ∇f(w) + ξ̄`` provides the partial expectations
``E[(a − ξ̄)⁺]`` and ``E[(ξ̄ − a)⁺]`` from which the exact operators' rows follow (Section 5, Eq. 6), the CDF and
density (for R, Eq. 4, and wide noise), draws and a Numba description for the simulators, and a check of
Theorem 5's hypotheses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["NoiseModel", "Values"]

#: what an expectation or a probability returns: an array of its argument's shape (a NumPy scalar for a scalar)
Values = np.ndarray


@dataclass(frozen=True)
class NoiseModel:
    r"""Base class: the law of the batch-mean noise :math:`\bar\xi` in the stochastic gradient
    :math:`\nabla\tilde f(w) = \nabla f(w) + \bar\xi` (see :mod:`srchain.noise`)."""

    name: str = "noise"
    batch: int = 1

    # --- expectations ----------------------------------------------------------------------------------------
    def lower_partial(self, a: ArrayLike) -> Values:
        r"""The lower partial expectation :math:`\Lambda(a) = \mathbb{E}[(a - \bar\xi)^+]`."""
        raise NotImplementedError

    def upper_partial(self, a: ArrayLike) -> Values:
        r"""The upper partial expectation :math:`\Upsilon(a) = \mathbb{E}[(\bar\xi - a)^+]`."""
        raise NotImplementedError

    def excess(self, a: ArrayLike) -> Values:
        r""":math:`\mathbb{E}[(a - \bar\xi)^+] - a^+`: equal to :math:`\Lambda(a)` for :math:`a \le 0` and to
        :math:`\Upsilon(a)` for :math:`a > 0` (mean-zero noise), so it is small in both tails and is computed
        without cancellation. The operators use it to write each move
        probability as a deterministic part plus small corrections (see :mod:`srchain.operators`)."""
        a = np.asarray(a, dtype=np.float64)
        return np.where(a <= 0, self.lower_partial(np.minimum(a, 0.0)), self.upper_partial(np.maximum(a, 0.0)))

    def cdf(self, a: ArrayLike) -> Values:
        r""":math:`P(\bar\xi \le a)`."""
        raise NotImplementedError

    def sf(self, a: ArrayLike) -> Values:
        r""":math:`P(\bar\xi > a)`."""
        raise NotImplementedError

    def pdf(self, a: ArrayLike) -> Values:
        r"""The density of :math:`\bar\xi` at ``a``, to small relative error (continuous laws only; the operators
        integrate it when the noise is wide compared with a step, see :mod:`srchain.wide_moves`)."""
        raise NotImplementedError

    @property
    def is_discrete(self) -> bool:
        return False

    @property
    def table_error(self) -> float:
        """Absolute error of this law's expectations as computed (0: closed forms, exact to rounding; a tabulated
        law's table is accurate to about 1e-5): the operators allow it in their move laws' sums."""
        return 0.0

    def support(self) -> tuple[np.ndarray, np.ndarray] | None:
        """For discrete laws: ``(values, weights)``; ``None`` for continuous ones."""
        return None

    def quantile_width(self, tol: float) -> float:
        r"""A width :math:`q` with :math:`P(|\bar\xi| > q) \le` ``tol`` (used to size the operators' move windows)."""
        raise NotImplementedError

    @property
    def std(self) -> float:
        r"""Standard deviation of :math:`\bar\xi` (inf if it does not exist)."""
        raise NotImplementedError

    # --- sampling --------------------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        r"""Draws of :math:`\bar\xi` with a :class:`numpy.random.Generator`."""
        raise NotImplementedError

    @property
    def numba_code(self) -> int:
        raise NotImplementedError

    @property
    def numba_params(self) -> np.ndarray:
        """Float64 parameters for the simulators' Numba switch (see :mod:`srchain.simulate`)."""
        raise NotImplementedError

    # --- descriptions ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        d = self.to_dict()
        inner = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items() if k != "name")
        return f"{d['name']}({inner})"

    def theorem5_assumptions(self, gradients: ArrayLike | None = None) -> dict:
        r"""Check Theorem 5's hypotheses for the gradient laws :math:`g + \bar\xi`.

        Parameters
        ----------
        gradients : array_like, optional
            True gradient coordinates :math:`\partial_k f(x)` at the lattice states; needed for discrete laws, whose
            "mass on both sides of 0" depends on the state.

        Returns
        -------
        dict with ``tail`` (the tail bound :math:`\int_\nu^\infty p \le C_1/\nu^2` holds), ``two_sided`` (mass on
        both sides of 0 at every state), ``holds`` (both) and ``why`` (a sentence).
        """
        tail = self._tail_ok()
        if self.is_discrete:
            vals, _ = self.support()  # type: ignore[misc]  # a discrete law has a support
            if gradients is None:
                two = bool(vals.min() < 0 < vals.max())
            else:
                g = np.asarray(gradients, dtype=np.float64).ravel()
                two = bool(np.all((g + vals.min() < 0) & (g + vals.max() > 0)))
        else:
            two = True
        why = []
        if not tail:
            why.append("the noise's tail decays slower than 1/ν² (student-t needs ν ≥ 2)")
        if not two:
            why.append("at some state every gradient sample has the same sign")
        return {
            "tail": tail,
            "two_sided": two,
            "holds": tail and two,
            "why": "; ".join(why) if why else "tail ≤ C/ν² and mass on both sides of 0 at every state",
        }

    def _tail_ok(self) -> bool:
        return True
