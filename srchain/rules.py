"""One vocabulary for the training rules and the noise kinds, shared by the operators, simulators, convex runs and CNN.

``Rule`` and ``NoiseKind`` are :class:`enum.IntEnum`: Numba compiles their members as integer constants, so a kernel
reads ``if rule == Rule.SR`` instead of ``if method == 2``. :func:`parse_rule` is the one parser of rule names, with
the aliases each part of the package has used.

=========  ======  ===================================================================================
rule       paper   update
=========  ======  ===================================================================================
``sgd``    Eq. 2   ``w ← w − α∇f̃(w)`` (full precision; ``fp`` in the CNN's vocabulary)
``r``      Eq. 4   ``w_b ← Qd(w_b − α∇f̃(w_b))`` (deterministic rounding)
``sr``     Eq. 6   ``w_b ← Qs(w_b − α∇f̃(w_b))`` (stochastic rounding)
``bc``     Eq. 7   ``w_r ← w_r − α∇f̃(Qd(w_r))``, ``w_b = Qd(w_r)`` (BinaryConnect, deterministic quantizer)
``bc-qs``  Eq. 7   the same with ``w_b = Qs(w_r)`` (the stochastic quantizer Corollary 1 needs)
=========  ======  ===================================================================================
"""

from __future__ import annotations

import enum

from srchain.errors import SrchainError

__all__ = ["Rule", "NoiseKind", "parse_rule", "parse_noise_kind", "RULE_NAMES"]


class Rule(enum.IntEnum):
    """A training rule (the table in the module docstring)."""

    SGD = 0
    R = 1
    SR = 2
    BC = 3
    BC_QS = 4

    @property
    def label(self) -> str:
        """The rule's name on the command line and in results (``"bc-qs"``)."""
        return self.name.lower().replace("_", "-")

    @property
    def is_lattice_chain(self) -> bool:
        """R and SR: the weight itself lives on the grid (Section 5's Markov chain on ΔZ^d)."""
        return self in (Rule.R, Rule.SR)

    @property
    def keeps_latent(self) -> bool:
        """BC keeps a real-valued latent weight w_r beside its quantized w_b (Eq. 7)."""
        return self in (Rule.BC, Rule.BC_QS)


class NoiseKind(enum.IntEnum):
    """The gradient-noise models of :mod:`srchain.noise` as the simulators' kernels see them."""

    GAUSSIAN = 0
    LAPLACE = 1
    STUDENT_T = 2
    MINIBATCH = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


#: every name and alias -> rule
_ALIASES = {
    "sgd": Rule.SGD,
    "fp": Rule.SGD,
    "full-precision": Rule.SGD,
    "r": Rule.R,
    "round": Rule.R,
    "sr": Rule.SR,
    "bc": Rule.BC,
    "bc-qd": Rule.BC,
    "binaryconnect": Rule.BC,
    "bc-qs": Rule.BC_QS,
}
RULE_NAMES = tuple(r.label for r in Rule)


def parse_rule(name, allowed=None) -> Rule:
    """The :class:`Rule` called ``name`` (case-insensitive; aliases: ``fp`` = sgd, ``bc-qd`` = bc, …).

    Raises :class:`SrchainError` for unknown names or rules outside ``allowed``.

    >>> parse_rule("BC-QS"), parse_rule("fp").label
    (<Rule.BC_QS: 4>, 'sgd')
    """
    if isinstance(name, Rule):
        rule = name
    else:
        key = str(name).strip().lower().replace("_", "-")
        if key not in _ALIASES:
            raise SrchainError(f"unknown rule {name!r}; choose one of {', '.join(RULE_NAMES)}")
        rule = _ALIASES[key]
    if allowed is not None and rule not in tuple(parse_rule(a) for a in allowed):
        names = ", ".join(parse_rule(a).label for a in allowed)
        raise SrchainError(f"rule {rule.label!r} is not available here; choose one of {names}")
    return rule


def parse_noise_kind(name) -> NoiseKind:
    """The :class:`NoiseKind` called ``name`` (``"student-t"``, ``"student_t"``, …)."""
    if isinstance(name, NoiseKind):
        return name
    key = str(name).strip().upper().replace("-", "_")
    try:
        return NoiseKind[key]
    except KeyError:
        raise SrchainError(f"unknown noise {name!r}; choose one of {', '.join(k.label for k in NoiseKind)}") from None
