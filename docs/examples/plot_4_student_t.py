r"""
Theorem 5's rate: Student-t noise
=================================

Theorem 5 says :math:`\pi_\alpha \to \tilde\pi` as :math:`\alpha \to 0`; it does not say how fast. The rate is
set by the tails of the gradient noise. With Gaussian noise the SR chain *is* its limit
:math:`\tilde T_\alpha = I - \alpha\,\mathrm{diag}(\tilde U\mathbf 1) + \alpha\tilde U` up to a tail of
:math:`\Phi(-\Delta/(\alpha\sigma))`, so :math:`\pi_\alpha = \tilde\pi` to rounding error below
:math:`\alpha_0`. With Student-t noise of :math:`\nu` degrees of freedom, moves of more than one cell have
probability :math:`\sim(\alpha/\Delta)^\nu`, so :math:`T_\alpha = I + \alpha\,(A + O(\alpha^{\nu-1}))` and

.. math::

   \mathrm{TV}(\pi_\alpha, \tilde\pi) \propto \alpha^{\nu - 1}.

This example measures the exponent on objective (8), :math:`\Delta = 0.5`, with exact transition matrices (no
entries dropped, ``tol=0``) and exact stationary laws.
"""

import matplotlib.pyplot as plt
import numpy as np

import srchain as sc

toy = sc.problem("toy")
lat = sc.Lattice.from_domain(0.5, toy.domain)
alphas = np.array([1e-2, 3e-3, 1e-3, 3e-4, 1e-4])

curves = {}
for label, noise in [
    ("Student-t, ν = 3", sc.noise.student_t(3.0, 1.0)),
    ("Student-t, ν = 2.5", sc.noise.student_t(2.5, 1.0)),
    ("Gaussian, σ = 1", sc.noise.gaussian(1.0)),
]:
    pi_limit = sc.stationary(sc.limit_chain(toy, noise, lat)).pi
    tvs = np.array(
        [sc.tv(sc.stationary(sc.transition_matrix(toy, noise, lat, a, tol=0.0)).pi, pi_limit) for a in alphas]
    )
    curves[label] = tvs
    if np.all(tvs > 1e-13):
        slope = np.polyfit(np.log(alphas), np.log(tvs), 1)[0]
        print(f"{label:20s} TV = {np.array2string(tvs, precision=2)}  log-log slope {slope:.3f}")
    else:
        print(f"{label:20s} TV = {np.array2string(tvs, precision=2)}  (at rounding error)")

fig, ax = plt.subplots(figsize=(6, 4))
for label, tvs in curves.items():
    ax.loglog(alphas, np.maximum(tvs, 1e-18), "o-", label=label)
ax.loglog(alphas, curves["Student-t, ν = 3"][0] * (alphas / alphas[0]) ** 2, "k:", lw=0.8, label=r"$\propto\alpha^2$")
ax.set_xlabel(r"$\alpha$")
ax.set_ylabel(r"TV$(\pi_\alpha, \tilde\pi)$")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# What it found: the slopes are close to :math:`\nu - 1`: about 2 for :math:`\nu = 3` and 1.5 for
# :math:`\nu = 2.5` (the test suite pins 1.998 and 1.499 with ±0.05), while with Gaussian noise the distance is at
# rounding error for every :math:`\alpha` here. Heavy tails slow the approach to :math:`\tilde\pi` but do not
# change the conclusion: the limit law exists, is positive everywhere and does not depend on :math:`\alpha`.
