"""srchain.pcg draws exactly NumPy's PCG64 stream: same numbers, same order, same state afterwards."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from srchain import pcg


@njit(cache=True)
def _draw(states, kind, shape, n):
    out = np.empty(n)
    s = pcg.load(states, 0)
    for i in range(n):
        if kind == 0:
            out[i], s = pcg.next_double(s)
        elif kind == 1:
            out[i], s = pcg.standard_normal(s)
        elif kind == 2:
            out[i], s = pcg.standard_exponential(s)
        else:
            out[i], s = pcg.standard_gamma(s, shape)
    pcg.store(states, 0, s)
    return out


@njit(cache=True)
def _raw(states, n):
    out = np.empty(n, dtype=np.uint64)
    s = pcg.load(states, 0)
    for i in range(n):
        out[i], s = pcg.next_uint64(s)
    return out


def _numpy(kind, shape, gen, n):
    return {
        0: lambda: gen.random(n),
        1: lambda: gen.standard_normal(n),
        2: lambda: gen.standard_exponential(n),
        3: lambda: gen.standard_gamma(shape, n),
    }[kind]()


def test_raw_outputs_are_pcg64():
    bg = np.random.PCG64(2024)
    states = pcg.state_of(bg).reshape(1, 4)
    np.testing.assert_array_equal(_raw(states.copy(), 1000), bg.random_raw(1000))


# 10⁶ normals reach the ziggurat's wedges (~0.7% of draws) and its tail layer (~1 in 3900) thousands of times;
# gamma below 1, at 1 and above 1 are three different algorithms.
@pytest.mark.parametrize("kind,shape", [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.3), (3, 1.0), (3, 2.5), (3, 40.0)])
def test_same_numbers_and_final_state_as_numpy(kind, shape):
    n = 1_000_000 if kind in (1, 2) else 200_000
    seq = np.random.SeedSequence(7)
    gen = np.random.Generator(np.random.PCG64(seq))
    states = pcg.state_of(np.random.PCG64(seq)).reshape(1, 4)
    got = _draw(states, kind, shape, n)
    np.testing.assert_array_equal(got, _numpy(kind, shape, gen, n))
    # the stream was consumed exactly as NumPy consumes it
    np.testing.assert_array_equal(states[0], pcg.state_of(gen.bit_generator))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), kind=st.sampled_from([0, 1, 2]))
def test_any_seed(seed, kind):
    seq = np.random.SeedSequence(seed)
    states = pcg.state_of(np.random.PCG64(seq)).reshape(1, 4)
    expected = _numpy(kind, 0.0, np.random.Generator(np.random.PCG64(seq)), 5000)
    np.testing.assert_array_equal(_draw(states, kind, 0.0, 5000), expected)


def test_states_from_seed_do_not_depend_on_count():
    a = pcg.states_from_seed(3, 2)
    b = pcg.states_from_seed(3, 5)
    np.testing.assert_array_equal(a, b[:2])
    assert len({tuple(r) for r in b}) == 5
    child = np.random.SeedSequence(3).spawn(5)[4]
    np.testing.assert_array_equal(b[4], pcg.state_of(np.random.PCG64(child)))


def test_gaussian_draws_are_bounded_as_the_simulator_assumes():
    """srchain.simulate drops the clamp of SR's fixed-point step under Gaussian noise because the ziggurat cannot
    return |z| >= 13.72: its largest value is the tail's r + (−log(1 − u))/r with u at most 1 − 2^-53."""
    from numba.np.random._constants import ziggurat_nor_inv_r, ziggurat_nor_r

    from srchain.simulate.kernels_1d import _ZIGGURAT_MAX

    largest = ziggurat_nor_r - ziggurat_nor_inv_r * np.log1p(-(1.0 - 2.0**-53))
    assert 13.0 < largest < _ZIGGURAT_MAX
