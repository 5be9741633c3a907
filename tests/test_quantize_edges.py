"""The argument checks of srchain.quantize at their edges: α and Δ must be positive and finite, 0 and ±inf and NaN
are refused with SrchainError (every operator, simulator and bound calls these)."""

import math

import pytest

from srchain import SrchainError
from srchain.quantize import check_alpha, check_delta


@pytest.mark.parametrize("check", [check_alpha, check_delta])
@pytest.mark.parametrize("bad", [0.0, -0.0, -1e-300, math.inf, -math.inf, math.nan])
def test_zero_negative_and_non_finite_are_refused(check, bad):
    with pytest.raises(SrchainError):
        check(bad)


@pytest.mark.parametrize("check", [check_alpha, check_delta])
@pytest.mark.parametrize("good", [5e-324, 1e-300, 0.5, 1e300])
def test_positive_finite_values_pass_unchanged(check, good):
    assert check(good) == good
