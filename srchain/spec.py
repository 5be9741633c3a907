"""From command-line options to the objects of a computation: problem, noise, lattice (``spec`` in design.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from srchain.errors import SrchainError
from srchain.lattice import Lattice

if TYPE_CHECKING:
    from srchain.grids import Grid  # noqa: F401 (the annotation of spec_from_args' local)
from srchain.noise import NoiseModel, make_noise
from srchain.problems import Problem, get_problem

__all__ = ["ChainSpec", "spec_from_args", "problem_from_args", "noise_from_args", "spec_options", "spec_from_options"]

#: The options a :class:`ChainSpec` is built from (a sweep task gets these, small and picklable, not the spec).
SPEC_OPTIONS = (
    "problem",
    "dim",
    "coupling",
    "domain",
    "delta",
    "noise",
    "sigma",
    "nu",
    "batch",
    "samples",
    "seed",
    "format",
    "scale",
    "sr_bits",
)


@dataclass(frozen=True)
class ChainSpec:
    """A problem, its gradient noise and the lattice of a quantized-weight chain."""

    problem: Problem
    noise: NoiseModel
    lattice: Lattice  # or a format's grid (srchain.grids.Grid: the same small interface, duck-typed)
    sr_bits: int | None = None  # SR with this many random bits (srchain.rounding); None: exact SR

    def to_dict(self) -> dict:
        return {
            "problem": self.problem.name,
            "dim": self.problem.dim,
            "delta": self.lattice.delta,
            **({} if self.lattice.delta is not None else self.lattice.to_dict()),
            **({} if self.sr_bits is None else {"sr_bits": self.sr_bits}),
            "noise": self.noise.to_dict(),
            "domain": self.lattice.domain.tolist(),
            "states_count": self.lattice.size,
        }

    @classmethod
    def of(
        cls,
        problem: Problem | str,
        delta: float,
        noise: NoiseModel,
        domain: ArrayLike | None = None,
        max_states: int | None = None,
    ) -> ChainSpec:
        """A spec from a problem (or its registered name), the grid step Δ and a noise model; the lattice covers
        ``domain`` (default: the problem's own box).

        >>> from srchain.noise import gaussian
        >>> ChainSpec.of("toy", 0.5, gaussian(2.0)).lattice.size
        29
        """
        if isinstance(problem, str):
            problem = get_problem(problem, domain=domain)
        elif domain is not None:
            problem = problem.with_domain(domain)
        lattice = Lattice.from_domain(delta, problem.domain, dim=problem.dim, max_states=max_states)
        return cls(problem=problem, noise=noise, lattice=lattice)

    def minimizer_cells(self) -> np.ndarray:
        """Indices of the lattice points within Δ of the global minimiser in every coordinate."""
        if self.problem.minimizer is None:
            return np.zeros(0, dtype=np.int64)
        return self.lattice.cells(self.problem.minimizer)


#: Largest dimension of a box lattice: it has at least 2^d states (two per axis), beyond any machine at d = 64.
MAX_DIM = 63


def accepts_spec(fn):
    """Let ``fn(problem, noise, lattice, ...)`` also be called as ``fn(spec, ...)`` with a :class:`ChainSpec`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if args and isinstance(args[0], ChainSpec):
            spec = args[0]
            args = (spec.problem, spec.noise, spec.lattice, *args[1:])
        return fn(*args, **kwargs)

    wrapper.__doc__ = (fn.__doc__ or "") + "\n    The first three arguments may be replaced by one ChainSpec.\n"
    return wrapper


def problem_from_args(args, max_states: int | None = None) -> Problem:
    dim = getattr(args, "dim", None)
    if dim is not None:
        cap = MAX_DIM if max_states is None else min(MAX_DIM, max(1, int(max_states).bit_length() - 1))
        if dim > cap:
            raise SrchainError(
                f"dim = {dim} is too large: a {dim}-dimensional lattice has at least 2^{dim} states "
                f"(two per axis), and at most 2^{cap} are allowed (max_states)"
            )
    return get_problem(
        args.problem,
        dim=getattr(args, "dim", None),
        coupling=getattr(args, "coupling", None),
        domain=getattr(args, "domain", None),
    )


def noise_from_args(args) -> NoiseModel:
    return make_noise(
        args.noise, sigma=args.sigma, nu=args.nu, batch=args.batch, samples=args.samples, seed=getattr(args, "seed", 0)
    )


def spec_from_args(args, max_states: int | None = None) -> ChainSpec:
    """Build and validate the :class:`ChainSpec` of the shared options (see :mod:`srchain.cli`)."""
    from srchain.grids import Grid
    from srchain.resolvable import check_noise_range
    from srchain.rounding import check_sr_bits

    if getattr(args, "noise", None) == "minibatch":  # before the model draws its perturbations
        check_noise_range("minibatch", args.sigma, None, 0.0, 0.0, exact=False)
    problem = problem_from_args(args, max_states)
    noise = noise_from_args(args)
    sr_bits = check_sr_bits(getattr(args, "sr_bits", None))
    if sr_bits is not None and getattr(args, "method", "sr") in ("r", "sgd", "bc"):  # (a command of one rule)
        raise SrchainError("--sr-bits applies to SR only")
    name = getattr(args, "format", None) or "fixed"
    given = getattr(args, "given", ())
    if name == "fixed" and "scale" in given:
        raise SrchainError("--scale is a format's block scale; the fixed grid lo + ΔZ takes --delta (or give --format)")
    if name != "fixed" and "delta" in given:
        raise SrchainError(
            f"--delta sets the fixed grid's step; the {name} grid holds the format's own values in the domain "
            "(drop --delta, or use --format fixed)"
        )
    lattice: Lattice | Grid
    if name == "fixed":
        lattice = Lattice.from_domain(args.delta, problem.domain, dim=problem.dim, max_states=max_states)
    else:
        scale = getattr(args, "scale", None)
        lattice = Grid.of(
            name, problem.domain, scale=1.0 if scale is None else scale, dim=problem.dim, max_states=max_states
        )
    if lattice.size < 2:
        raise SrchainError("the lattice needs at least 2 states")
    if getattr(args, "alpha", None):  # a command's options (a sweep task's carry no alpha: checked already)
        from srchain.resolvable import check_args_noise_range

        check_args_noise_range(args, problem, lattice, alphas=[float(a) for a in args.alpha])
    return ChainSpec(problem=problem, noise=noise, lattice=lattice, sr_bits=sr_bits)  # type: ignore[arg-type]


def entropy(pi: np.ndarray) -> float:
    """Shannon entropy in nats, ``−Σ π log π`` (0 log 0 = 0)."""
    p = np.asarray(pi, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def spec_options(args) -> dict:
    """The options of ``args`` that :func:`spec_from_args` reads, as a plain dict (for sweep tasks)."""
    return {k: getattr(args, k, None) for k in SPEC_OPTIONS}


def spec_from_options(options: dict, max_states: int | None = None) -> ChainSpec:
    """:func:`spec_from_args` from the dict of :func:`spec_options` (rebuilt where a task runs)."""
    from types import SimpleNamespace

    return spec_from_args(SimpleNamespace(**options), max_states=max_states)
