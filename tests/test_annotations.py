"""The public API is annotated: every name in ``srchain.__all__`` and every command's ``configure``/``run``.

mypy (``[tool.mypy]`` in pyproject.toml) checks the annotations that exist; it does not ask for them. This test
does: a public function, method or property of a public class, or function of a public module (``sc.noise``,
``sc.bounds``, the callable modules ``sc.stationary`` and ``sc.simulate``) with an unannotated parameter or return
fails here with its name.
"""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import srchain


def _functions(name, obj):
    """(qualified name, function) for ``obj`` and what it exposes publicly."""
    if isinstance(obj, types.ModuleType):
        names = getattr(obj, "__all__", None) or [n for n in vars(obj) if not n.startswith("_")]
        for n in names:
            v = getattr(obj, n)
            if getattr(v, "__module__", None) == obj.__name__ and (inspect.isfunction(v) or inspect.isclass(v)):
                yield from _functions(f"{name}.{n}", v)
        if callable(obj):  # a callable module (srchain._callable): its function
            yield f"{name}()", type(obj).__call__.__wrapped__
    elif inspect.isclass(obj):
        for n, v in vars(obj).items():
            if n.startswith("_") and n != "__init__":
                continue
            f = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v.fget if isinstance(v, property) else v
            if inspect.isfunction(f) and f.__qualname__.startswith(obj.__qualname__ + "."):
                yield f"{name}.{n}", f
    elif inspect.isfunction(obj):
        yield name, obj


def _missing(f) -> list[str]:
    f = inspect.unwrap(f)
    ann = f.__annotations__
    params = list(inspect.signature(f).parameters)
    out = [p for i, p in enumerate(params) if p not in ann and not (i == 0 and p in ("self", "cls"))]
    if "return" not in ann and f.__name__ != "__init__":
        out.append("return")
    return out


def _public_api():
    for name in srchain.__all__:
        obj = getattr(srchain, name)
        yield from _functions(name, obj)


def test_the_walk_sees_the_api():
    # guards the test below against passing vacuously
    names = {q for q, _ in _public_api()}
    for expected in (
        "transition_matrix",
        "stationary()",
        "Lattice.from_domain",
        "noise.GaussianNoise.cdf",
        "bounds.theorem1",
        "simulate()",
        "open_results",
        "qs",
    ):
        assert expected in names, expected
    assert len(names) > 100


def test_every_public_name_is_annotated():
    bad = {q: m for q, f in _public_api() if (m := _missing(f))}
    assert not bad, f"unannotated parameters or returns in the public API: {bad}"


@pytest.mark.parametrize(
    "module",
    ["srchain.commands.stationary", "srchain.commands.mixing"]
    + [f"srchain.toy.commands.{n}" for n in ("simulate", "figure2", "bigbatch", "convex", "explore")]
    + [f"srchain.cnn.commands.{n}" for n in ("train", "table1", "plot")],
)
def test_command_entry_points_are_annotated(module):
    m = importlib.import_module(module)
    for fn in (m.configure, m.run):
        assert not _missing(fn), f"{module}.{fn.__name__}: {_missing(fn)} unannotated"
