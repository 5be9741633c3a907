#!/usr/bin/env bash
# Device benchmark of issue 20 (one GPU, many cores): GPU mixing, T_α thread scaling, an 8-worker sweep.
# Run from the repository root with $OUT set (default: a temporary folder); writes $OUT/device_scale.json and
# $OUT/log. Wall budget: BUDGET seconds (default 165) for everything, installs and Numba compiles included.
#   OUT=/tmp/out bash benchmarks/device_scale.sh            # the device run
#   OUT=/tmp/out bash benchmarks/device_scale.sh --tiny     # seconds-long sizes on CPU (checks the script)
set -o pipefail
T0=$(date +%s)
BUDGET=${BUDGET:-165}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$(mktemp -d)}
{
  echo "[device_scale.sh] $(date -u +%FT%TZ) python: $(command -v python3)"
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -5
  if ! python3 -c "import srchain.toy" 2>/dev/null; then  # no writable site-packages, or a setuptools too old
    SRC=$(python3 tools/link_tree.py "$(mktemp -d)/src")  # links to this checkout, with the entry points
    export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH}
    echo "[device_scale.sh] the install failed; srchain from a linked tree, $SRC"
  fi
  python3 -c "import srchain, srchain.problems as p; print('srchain', srchain.__file__, sorted(p.available_problems()))"
  nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>/dev/null || echo "no nvidia-smi"
  LEFT=$(( BUDGET - ($(date +%s) - T0) - 5 ))
  echo "[device_scale.sh] $(( $(date +%s) - T0 )) s spent on setup; ${LEFT} s left for the cases"
  python3 benchmarks/device_scale.py --out "$OUT" --budget "$LEFT" "$@"
  echo "[device_scale.sh] done in $(( $(date +%s) - T0 )) s"
} 2>&1 | tee "$OUT/log"
