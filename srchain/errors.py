"""The one exception type for mistakes a user can make (bad options, impossible sizes, reducible chains)."""


class SrchainError(ValueError):
    """An error the user caused and can fix; the message says what to change.

    The command line prints it as ``srchain: error: <message>`` on one line and exits with status 2.
    """
