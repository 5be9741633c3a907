"""The one exception type for mistakes a user can make (bad options, impossible sizes, reducible chains)."""


class SrchainError(ValueError):
    """An error the user caused and can fix; the message says what to change.

    The command line prints it as ``srchain: error: <message>`` on one line and exits with status 2.
    """


class NotMixed(SrchainError):
    """The exact ε-mixing time was given up at ``max_steps``: the chain had not mixed by step ``steps`` (the largest
    power of 2 computed, at most ``max_steps``; certified ``d(steps) > ε``), so ``M_ε > steps``."""

    def __init__(self, eps: float, max_steps: int, steps: int):
        super().__init__(
            f"the chain has not mixed to eps={eps:g} after {max_steps} steps; raise max_steps or use the spectral "
            "bounds"
        )
        self.steps = int(steps)


class MemoryRefusal(SrchainError):
    """A refusal because a computation's estimated memory exceeds the limit (:func:`srchain.budget.check_memory`).

    The default limit is the memory free at the moment, so the same request can succeed a moment later: code that
    memoises results (the explorer) keeps no result that came from this refusal.
    """
