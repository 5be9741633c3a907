"""Subcommands of the core (``stationary``, ``mixing``) and what they share."""
