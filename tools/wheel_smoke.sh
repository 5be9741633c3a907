#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel (not editable) into a fresh virtual environment, and smoke-test
# it from outside the source tree, so that a packaging mistake (a package missing from [tool.setuptools], a data
# file left out, an entry point naming a module that is not shipped) fails here and not in a user's install.
#
#   tools/wheel_smoke.sh            # build into a temporary folder, test, clean up
#   KEEP=1 tools/wheel_smoke.sh     # keep the folder (its path is printed) to look at the sdist, wheel and venv
#
# `python -m build` builds the sdist first and then the wheel from the unpacked sdist, so a file the wheel build
# needs but the sdist lacks fails the build itself. Needs the `build` package (the `test` extra has it).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
PY=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/srchain-wheel.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "wheel_smoke: working in $WORK" || trap 'rm -rf "$WORK"' EXIT
step() { printf 'wheel_smoke: [%4d s] %s\n' "$SECONDS" "$*"; }
fail() { printf 'wheel_smoke: FAILED: %s\n' "$*" >&2; exit 1; }

step "building the sdist, then the wheel from it"
"$PY" -m build --outdir "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; fail "python -m build"; }
SDIST=$(ls "$WORK"/dist/srchain-*.tar.gz)
WHEEL=$(ls "$WORK"/dist/srchain-*.whl)
step "built $(basename "$SDIST") and $(basename "$WHEEL")"

# what must be in each: the sdist carries the licence, the README (the long description) and every source folder;
# the wheel carries every package of [tool.setuptools] and the PEP 561 marker, and no tests
"$PY" - "$SDIST" "$WHEEL" "$SRC/pyproject.toml" <<'PYEOF'
import sys, tarfile, zipfile
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
sdist, wheel, pyproject = sys.argv[1:]
cfg = tomllib.load(open(pyproject, "rb"))["tool"]["setuptools"]
with tarfile.open(sdist) as t:
    names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
need = {"pyproject.toml", "README.md", "LICENSE", "srchain/__init__.py", "toy/__init__.py", "cnn/__init__.py"}
missing = sorted(need - names)
assert not missing, f"the sdist lacks {missing}"
with zipfile.ZipFile(wheel) as z:
    files = set(z.namelist())
pkgs = [p.replace(".", "/") + "/__init__.py" for p in cfg["packages"]]
missing = sorted(set(pkgs) - files)
assert not missing, f"the wheel lacks {missing}"
assert "srchain/py.typed" in files, "the wheel lacks srchain/py.typed"
assert not any(f.startswith("tests/") for f in files), "the wheel ships the tests"
lic = [f for f in files if f.endswith(".dist-info/licenses/LICENSE") or f.endswith(".dist-info/LICENSE")]
assert lic, "the wheel's metadata has no LICENSE"
print(f"wheel_smoke: the sdist has {len(names)} files, the wheel {len(files)} ({len(pkgs)} packages, py.typed, LICENSE)")
PYEOF

step "installing the wheel into a fresh venv (torch==2.13.0 first: the CPU build, no CUDA pulled)"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip >"$WORK/pip.log" 2>&1
# --no-compile: no .pyc for the thousands of files of torch and SciPy up front; what the smoke test imports is
# compiled when it is imported
"$VPY" -m pip install -q --no-compile torch==2.13.0 >>"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; fail "pip install torch"; }
step "torch installed"
"$VPY" -m pip install -q --no-compile "$WHEEL[cnn]" >>"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; fail "pip install the wheel"; }

step "smoke test from outside the source tree"
mkdir -p "$WORK/run" && cd "$WORK/run"
export PATH="$WORK/venv/bin:$PATH" PYTHONPATH="" PYTHONNOUSERSITE=1
SITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
srchain --help >help.txt || fail "srchain --help"
for cmd in stationary mixing simulate figure2 bigbatch convex explore train table1 plot; do
    grep -q "$cmd" help.txt || fail "srchain --help does not list $cmd"
done
srchain --version
srchain stationary --alpha 0.1 >stationary.txt || { cat stationary.txt; fail "srchain stationary --alpha 0.1"; }
grep -Eq "^ *0\.1 +[0-9]" stationary.txt || fail "srchain stationary printed no row for alpha 0.1"
head -4 stationary.txt
set +e
srchain stationary --alpha -1 2>err.txt; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "^srchain: error:" err.txt || fail "a bad --alpha did not give one line and exit status 2"
"$VPY" - "$SITE" <<'PYEOF'
import sys
from importlib import metadata
site = sys.argv[1]
import srchain, srchain.toy, srchain.cnn, srchain.cnn.train  # torch comes in with the last one
for mod in (srchain, srchain.toy, srchain.cnn):
    assert mod.__file__.startswith(site), f"{mod.__name__} imported from {mod.__file__}, not from the installed wheel"
for group in ("srchain.commands", "srchain.problems"):
    eps = metadata.entry_points(group=group)
    assert eps, f"no entry points in {group}"
    for ep in eps:
        ep.load()
import srchain as sc
assert "toy" in sc.available_problems()
print(f"wheel_smoke: srchain {srchain.__version__} from {site}: toy, cnn and every entry point import")
PYEOF
step "ok"
