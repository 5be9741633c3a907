"""Dense GTH in a chosen order (srchain.gth.dense): the states with few predecessors first, the array permuted in
place. The law must be the permuted chain's bit for bit, in the caller's labels, and the chain's law to GTH's
entrywise accuracy in any order; a zero pivot must name the state in the caller's labels."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain.gth import dense_gth
from srchain.gth.dense import FEW, dense_gth_rates, few_predecessors_first, permute_in_place
from srchain.gth.scaling import ZeroPivot


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.permutations(range(n))), st.integers(0, 2**32 - 1))
def test_permute_in_place_is_fancy_indexing(perm, seed):
    """Every permutation (identity, fixed points, one long cycle, many short ones): the rows moved along cycles
    with one row saved, then the columns, give ``F[order][:, order]``."""
    order = np.array(perm, dtype=np.int64)
    F = np.random.default_rng(seed).random((order.size, order.size))
    want = F[order][:, order]
    permute_in_place(F, order)
    assert np.array_equal(F, want)


def test_few_predecessors_first_keeps_each_groups_order():
    assert few_predecessors_first(np.array([50, 3, 50, FEW, FEW + 1, 0])).tolist() == [1, 3, 5, 0, 2, 4]
    # nothing to move: none or all have few predecessors, or those that have lead already
    assert few_predecessors_first(np.array([50, 60, 70])) is None
    assert few_predecessors_first(np.array([1, 2, 3])) is None
    assert few_predecessors_first(np.array([1, 2, 30, 40])) is None


def _chain(n, seed):
    """A random irreducible chain whose second half (a path: each state reached only from its neighbours) sends
    its moves everywhere while the first half moves only among itself and to the path's ends: the states of the
    path have 2 or 3 predecessors, the others many."""
    rng = np.random.default_rng(seed)
    h = n // 2
    A = np.zeros((n, n))
    A[:h, h:] = rng.random((h, n - h))  # the path's states move to every other state
    A[h:, h:] = rng.random((n - h, n - h))
    A *= 10.0 ** rng.uniform(-8.0, 0.0, (n, n))  # rates over many orders of magnitude
    for i in range(h - 1):  # as likely as all its other moves together: π falls by ~2 per state along the path
        A[i, i + 1] = A[i + 1, i] = (n - h) * rng.random()
    A[h:, 0] = A[h:, h - 1] = 0.0
    A[h, 0] = A[h + 1, h - 1] = rng.random()  # so the path is reached, at its ends only
    np.fill_diagonal(A, 0.0)
    A += np.diag(rng.random(n))
    A = A[::-1, ::-1]  # the path last, so that the order changes
    return sp.csr_matrix(A / A.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("threads", [1, 2])
def test_the_law_in_any_order(threads):
    P = _chain(700, seed=3)
    off = P.copy()
    off.setdiag(0)
    off.eliminate_zeros()
    order = few_predecessors_first(np.bincount(off.indices, minlength=700))
    assert order is not None and order.tolist() == list(range(350, 700)) + list(range(350))  # the path first
    F = P.toarray()
    np.fill_diagonal(F, 0.0)
    pi = dense_gth_rates(F, threads, order=order)
    # the bits of the permuted chain's law, in the caller's labels
    want = np.empty(700)
    want[order] = dense_gth(P[order][:, order], threads=1)
    assert np.array_equal(pi, want)
    # and the chain's law in its own order to GTH's entrywise accuracy (a few hundred ulps on 700 states)
    natural = dense_gth(P, threads=1)
    assert np.max(np.abs(pi - natural) / natural) < 1e-12
    assert pi.min() < 1e-20 * pi.max()  # (the law does span many orders of magnitude)


def test_a_zero_pivot_names_the_state_in_the_callers_labels():
    """State 0 leads nowhere but to itself (it is absorbing): eliminated in any order, it is the zero pivot met, and
    the error names it as 0 whichever position the order gives it."""
    n = 12
    F = np.ones((n, n))
    F[0, :] = 0.0
    np.fill_diagonal(F, 0.0)
    order = np.r_[np.arange(1, 6), 0, np.arange(6, n)]
    with pytest.raises(ZeroPivot, match="out of state 0 "):
        dense_gth_rates(F.copy(), 1, order=order)


def test_thin_first_names_a_zero_pivot_in_the_callers_labels():
    """srchain.gth.thin.ThinFirst numbers states by position (thin first); a zero pivot (here: a core state that
    leads nowhere) is reported in the caller's labels."""
    from srchain.gth.thin import ThinFirst, add_thin

    labels = np.array([10, 11, 12, 13, 14, 15])
    tf = ThinFirst(6, 2, ring=3, labels=labels)
    tf.ring[:2] = 1.0  # the two thin states move to every core state
    for i, j, x in ((0, 1, 0.5), (1, 0, 0.5), (2, 0, 1.0), (5, 1, 1.0)):  # and to each other; the core's ends to them
        assert add_thin(tf.ocol, tf.oval, tf.ocnt, tf.irow, tf.icnt, i, j, x)
    tf.C[:] = 1.0 - np.eye(4)
    tf.C[1] = 0.0  # position 3 leads nowhere
    assert tf.eliminate(2)
    with pytest.raises(ZeroPivot, match="out of state 13 "):
        tf.law(threads=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), unique=True, max_size=12), st.integers(0, 3))
def test_a_thin_rows_list_is_sorted_by_column_with_its_values(cols, extra):
    """`_sort_list` (the thin elimination's per-row lists, fill appended at the end): the first m entries come out
    in column order, each value still with its column, and the slots after them untouched."""
    from srchain.gth.thin import _sort_list

    m = len(cols)
    col = np.array(cols + list(range(-extra, 0)), dtype=np.int64)
    val = np.concatenate([np.asarray(cols, dtype=np.float64) * 0.5 + 1.0, np.full(extra, -7.0)])
    _sort_list(col, val, m)
    assert col[:m].tolist() == sorted(cols)
    assert np.array_equal(val[:m], col[:m] * 0.5 + 1.0)
    assert col[m:].tolist() == list(range(-extra, 0)) and np.all(val[m:] == -7.0)
