"""GTH (Grassmann–Taksar–Heyman) elimination: the stationary law of a finite chain to small relative error.

GTH solves ``π P = π`` for an irreducible row-stochastic ``P`` by eliminating states one at a time. With the
states numbered in elimination order and ``a_ij`` the off-diagonal rates of the chain censored on the states not yet
eliminated, eliminating state ``p`` does

    s_p  = Σ_{j > p} a_pj                       (its total rate to the remaining states: a sum, never 1 − a_pp)
    c_ip = a_ip / s_p                 (i > p)
    a_ij += c_ip · a_pj               (i, j > p, i ≠ j)

and back-substitution gives ``π_p = Σ_{i > p} π_i c_ip`` (flow balance of ``p`` in the chain censored on
``{p, p+1, …}``), starting from the last state. Every operation adds, multiplies or divides non-negative numbers:
there is no subtraction, so each computed ``π_i`` has a small *relative* error (O(n·eps) per component in the dense
case), whatever the conditioning of ``I − P``: this is what makes the method safe on metastable chains, where
``π`` spans hundreds of orders of magnitude (Theorem 5's small-α laws). Diagonal entries are never read.

The solvers, one module per concern:

* :mod:`~srchain.gth.scaling`: the one underflow policy (π as mantissa × power of two), normalisation, and the
  zero-pivot error every solver raises on a reducible chain;
* :mod:`~srchain.gth.front`: elimination inside one dense front, blocked, in a fixed order of operations (no BLAS:
  the same bits whatever the thread count or the machine);
* :mod:`~srchain.gth.dense`: :func:`small_gth` (NumPy, nothing to compile) and :func:`dense_gth` (one front);
* :mod:`~srchain.gth.banded`: :func:`banded_gth` and :func:`banded_law`, for chains whose moves span a few states
  (1-D lattices, BinaryConnect's law);
* :mod:`~srchain.gth.envelope`: :func:`envelope_law`, banded GTH on each row's own extent (a variable band, as on a
  number format's grid), the same bits as :func:`banded_law`;
* :mod:`~srchain.gth.dissection`: elimination orders, nested dissection on a lattice or a general graph;
* :mod:`~srchain.gth.csr`: the transition graph without self-loops, relabelled in elimination order;
* :mod:`~srchain.gth.multifrontal`: the symbolic phase, the numeric factorisation over the separator tree (each
  node's front is eliminated, its Schur complement passed to the parent) and the back-substitution;
* :mod:`~srchain.gth.sparse`: :func:`sparse_gth`, the three phases with the factorisation in parallel threads.

:mod:`srchain.stationary` is the checked public front end over these.

References
----------
Grassmann, Taksar, Heyman (1985), Regenerative analysis and steady state distributions for Markov chains.
O'Cinneide (1993), Entrywise perturbation theory and error analysis for Markov chains.
"""

from srchain.gth.banded import banded_gth, banded_law, bandwidth
from srchain.gth.dense import dense_gth, small_gth
from srchain.gth.dissection import axis_max_jumps, bfs_levels, graph_nested_dissection, lattice_nested_dissection
from srchain.gth.envelope import envelope_gth, envelope_law, envelope_profile
from srchain.gth.multifrontal import subtree_sizes
from srchain.gth.scaling import law_from_frames, law_from_mant_expo
from srchain.gth.sparse import offdiag, sparse_gth

__all__ = [
    "small_gth",
    "dense_gth",
    "banded_gth",
    "banded_law",
    "bandwidth",
    "envelope_gth",
    "envelope_law",
    "envelope_profile",
    "sparse_gth",
    "offdiag",
    "law_from_mant_expo",
    "law_from_frames",
    "bfs_levels",
    "axis_max_jumps",
    "lattice_nested_dissection",
    "graph_nested_dissection",
    "subtree_sizes",
]
