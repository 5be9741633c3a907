"""Reference computations for the tests, independent of srchain's solvers."""

import numpy as np


def dense_pi(P):
    """Stationary law of a small chain: the left null vector of P − I by SVD."""
    A = (np.asarray(P.todense() if hasattr(P, "todense") else P) - np.eye(P.shape[0])).T
    _, _, vt = np.linalg.svd(A)
    v = np.abs(vt[-1])
    return v / v.sum()
