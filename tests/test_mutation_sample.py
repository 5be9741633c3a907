"""A short mutation-testing sample run with the suite: hand-planted bugs in the science must make their tests fail.

Each entry of ``PLANTED`` in ``tools/mutation.py`` is a small bug a careless change could make (a bound loosened by
2×, a tie at ε decided the wrong way, flip totals that count linear layers, BC stepping the binary instead of the
latent weights, the batch folded in as σ/B). Here the mutated source of the module is executed into a fresh namespace
and its functions and class members are patched over the real module's for the duration of one test; the named test
is then called and must fail. (The full run, with mutants enumerated from the AST and applied in a copy of the
tree, is ``python tools/mutation.py``.)
"""

import importlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("_srchain_mutation_tool", ROOT / "tools" / "mutation.py")
tool = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = tool  # dataclasses look their module up while the file executes
_spec.loader.exec_module(tool)


def _module_name(file: str) -> str:
    p = Path(file).with_suffix("")
    parts = list(p.parts)
    if parts[0] in ("toy", "cnn"):
        parts = ["srchain", *parts]
    return ".".join(parts)


def _patch_in(monkeypatch, file: str, old: str, new: str) -> None:
    """Execute the mutated source of ``file`` and patch its functions and class members into the real module."""
    name = _module_name(file)
    real = importlib.import_module(name)
    src = (ROOT / file).read_text()
    assert src.count(old) == 1, f"the planted text is not found once in {file}: {old!r}"
    ns = {"__name__": name, "__file__": str(ROOT / file), "__package__": name.rpartition(".")[0]}
    exec(compile(src.replace(old, new), str(ROOT / file), "exec"), ns)
    for attr, obj in ns.items():
        if isinstance(obj, types.FunctionType) and obj.__module__ == name and hasattr(real, attr):
            monkeypatch.setattr(real, attr, obj)
        elif getattr(getattr(obj, "py_func", None), "__module__", None) == name and hasattr(real, attr):
            # a Numba kernel compiled from the mutated source. Numba's cache is keyed by the file's stamp and the
            # function's bytecode (not its constants), so a planted bug must change an operator or a name, not a
            # constant alone, and must sit in the kernel the test calls (or in a Python function above it): a
            # kernel that only calls a mutated one loads its cached, unmutated code
            monkeypatch.setattr(real, attr, obj)
        elif inspect.isclass(obj) and obj.__module__ == name and inspect.isclass(getattr(real, attr, None)):
            target = getattr(real, attr)
            for member, value in vars(obj).items():
                if isinstance(value, (types.FunctionType, property, staticmethod, classmethod)):
                    monkeypatch.setattr(target, member, value)


def _test_function(nodeid: str):
    path, func = nodeid.split("::")
    mod = importlib.import_module(path[:-3].replace("/", "."))
    return getattr(mod, func)


@pytest.mark.parametrize("file,old,new,nodeid,kwargs", tool.PLANTED, ids=[p[3].split("::")[1] for p in tool.PLANTED])
def test_planted_bug_is_caught(monkeypatch, file, old, new, nodeid, kwargs):
    test = _test_function(nodeid)
    if file.startswith("cnn/"):
        pytest.importorskip("torch")
    _patch_in(monkeypatch, file, old, new)
    with pytest.raises(AssertionError):
        test(**kwargs)


def test_the_unmutated_tests_pass():
    # the same tests without the mutants: a failure above is the mutant's doing, not a broken test
    for _, _, _, nodeid, kwargs in tool.PLANTED:
        if nodeid.startswith("tests/cnn/") and importlib.util.find_spec("torch") is None:
            continue
        if "histogram" in nodeid:
            continue  # a simulation (≈10 s): it runs in its own file
        _test_function(nodeid)(**kwargs)


def test_mutants_are_enumerated_and_applied_exactly():
    # every mutant of bounds.py replaces exactly its `before` text, and the mutated module still parses
    mutants = tool.enumerate_mutants("srchain/bounds.py", None)
    assert len(mutants) > 50
    text = (ROOT / "srchain/bounds.py").read_text()
    for m in mutants:
        mutated = m.apply(text)
        assert mutated != text
        compile(mutated, "bounds.py", "exec")
    assert len({m.key for m in mutants}) == len(mutants)
