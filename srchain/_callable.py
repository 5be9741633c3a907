"""Modules that are also the function they are named after (``sc.stationary(P)`` and ``srchain.stationary.tv``).

``srchain.stationary`` is both a module and the package's ``stationary`` function: importing a submodule sets the
package attribute of the same name to the module, so the two cannot be told apart by name. The module is made
callable instead, and calling it calls the function.
"""

from __future__ import annotations

import sys
import types


def make_callable(module_name: str, fn) -> None:
    """Make ``sys.modules[module_name]`` callable as ``fn`` (its docstring and signature stay ``fn``'s)."""
    module = sys.modules[module_name]

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return fn(*args, **kwargs)

    CallableModule.__call__.__doc__ = fn.__doc__
    CallableModule.__call__.__wrapped__ = fn  # type: ignore[attr-defined]
    module.__class__ = CallableModule
