"""srchain: stochastic rounding as a Markov chain.

Exact, fast computations for "Training Quantized Nets: A Deeper Understanding" (Li, De, Xu, Studer, Samet,
Goldstein, NeurIPS 2017): quantizers (Eq. 3, 5), the SR transition operator T_α (Eq. 6), its small-α limit
T̃_α (Eq. 9), stationary laws (Theorem 5), mixing times (Eq. 10, Theorem 6), simulators and bounds.
"""
from srchain.errors import SrchainError

__version__ = "0.1.0"
__all__ = ["SrchainError", "__version__"]
