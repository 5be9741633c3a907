import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def dense_pi(P):
    """Reference stationary law of a small chain: the left null vector of P − I by SVD (independent of srchain)."""
    A = (np.asarray(P.todense() if hasattr(P, "todense") else P) - np.eye(P.shape[0])).T
    _, _, vt = np.linalg.svd(A)
    v = np.abs(vt[-1])
    return v / v.sum()
