"""The one exception type for mistakes a user can make (bad options, impossible sizes, reducible chains)."""


class SrchainError(ValueError):
    """An error the user caused and can fix; the message says what to change.

    The command line prints it as ``srchain: error: <message>`` on one line and exits with status 2.
    """


class MemoryRefusal(SrchainError):
    """A refusal because a computation's estimated memory exceeds the limit (:func:`srchain.budget.check_memory`).

    The default limit is the memory free at the moment, so the same request can succeed a moment later: code that
    memoises results (the explorer) keeps no result that came from this refusal.
    """
