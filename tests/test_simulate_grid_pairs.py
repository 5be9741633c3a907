"""Two chains in lockstep (srchain.simulate.grid): a chain's path does not depend on the chain beside it.

Chain ``c`` draws from ``SeedSequence(seed).spawn(n)[c]`` whatever ``n``, so its end state and its occupation must
be the same whether it runs alone (the one-chain loop; the general kernel, chain after chain), in a pair (the lockstep
loops, and for exact SR and R under Gaussian noise the fast loop inside the runs of equal gaps) or as the odd chain
left over. Any state shared between the two chains of a pair, or a draw taken in the wrong order, breaks the
equalities (exact, no tolerance)."""

import numpy as np
import pytest

import srchain.simulate.grid as sg
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem


@pytest.mark.parametrize(
    "name, domain, method, bits, noise, alpha",
    [
        ("bf16", (1.0, 8.0), "sr", None, ("gaussian", 2.0), 0.05),
        ("fp8-e4m3", (-4.0, 10.0), "sr", None, ("gaussian", 2.0), 0.3),  # many steps leave their run
        ("fp8-e4m3", (-4.0, 10.0), "r", None, ("gaussian", 2.0), 0.3),
        ("fp16", (1.0, 8.0), "sr", 4, ("gaussian", 2.0), 0.05),
        ("bf16", (-4.0, 10.0), "sr", None, ("laplace", 1.0), 0.05),
        ("fp8-e5m2", (-4.0, 10.0), "bc", None, ("gaussian", 1.0), 0.05),
        ("fp8-e4m3", (-4.0, 10.0), "bc", None, ("laplace", 1.0), 0.05),  # (the lockstep BC loop is Gaussian's only)
    ],
)
def test_chains_run_together_equal_chains_run_alone(name, domain, method, bits, noise, alpha, monkeypatch):
    toy = get_problem("toy").with_domain(domain)
    grid = Grid.of(name, domain)
    nz = make_noise(*noise)
    kw = dict(steps=3000, start=[3.0], seed=4, burn=7, sr_bits=bits)
    runs = [sg.simulate_grid(toy, nz, grid, method, alpha, chains=n, **kw) for n in (1, 2, 3, 4)]
    # chain 0 alone (n = 1) and in a pair (n = 2, 3, 4); chain 2 as the odd chain (n = 3) and in a pair (n = 4)
    assert len({int(r.final[0]) for r in runs}) == 1
    assert runs[2].final[2] == runs[3].final[2]
    # every chain against the general kernel, which runs one chain after the other
    monkeypatch.setattr(sg, "LOCKSTEP", False)
    one_by_one = sg.simulate_grid(toy, nz, grid, method, alpha, chains=4, **kw)
    assert np.array_equal(one_by_one.final, runs[3].final) and np.array_equal(one_by_one.counts, runs[3].counts)
