r"""
SR, R and 4-bit SR on the bf16 and fp8 grids
============================================

On a floating-point grid the spacing grows with :math:`|w|`. This example builds the exact chains of SR, R and SR
with 4 random bits on the bf16 and fp8-e4m3 values of [1, 8] for objective (8) (Gaussian noise, σ = 2), and plots
their stationary laws as densities (mass divided by the local spacing) next to SR's α → 0 law π̃, with R's stall
set marked. See :doc:`/formats` for what the numbers mean.
"""

import matplotlib.pyplot as plt
import numpy as np
from srchain.toy.formats import study_format

import srchain as sc

toy = sc.problem("toy", domain=(1.0, 8.0))
noise = sc.noise.gaussian(2.0)
fig, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
for ax, name in zip(axes, ("bf16", "fp8-e4m3"), strict=True):
    grid = sc.Grid.of(name, toy.domain)
    st = study_format(toy, noise, grid, [0.01], sr_bits=4, max_exact_states=0)
    w = grid.points[:, 0]
    width = np.diff(np.concatenate([[w[0]], 0.5 * (w[:-1] + w[1:]), [w[-1]]]))
    for r, c in zip(st.rows, ("C0", "C3", "C2"), strict=True):
        ax.step(w, np.asarray(r["pi"]) / width, where="mid", color=c, label=f"{r['method'].upper()}, α=0.01")
        print(
            f"{name:9s} {r['method']:4s} mass@4.75 {r['mass_at_minimizer']:.3f}  E|w-w*| {r['expected_distance']:.3f}"
        )
    ax.step(w, np.asarray(st.limit["pi"]) / width, "k--", where="mid", lw=1, label="π̃ (SR, α→0)")
    stalls = np.asarray(st.rows[1]["stall_values"])[:, 0]
    ax.plot(stalls, np.zeros_like(stalls), "|", color="crimson", ms=10, label="R's stall set")
    ax.set_title(f"{name}: {grid.size} states in [1, 8]", fontsize=9)
    ax.set_ylabel("π / spacing")
    ax.legend(fontsize=7, ncol=2)
axes[-1].set_xlabel("w")
fig.tight_layout()
