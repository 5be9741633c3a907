import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def deadline():
    """Bound a test that starts a Dask cluster: SIGALRM after 240 s."""
    import signal

    def _timeout(*_):
        raise TimeoutError("cluster test took longer than 240 s")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
