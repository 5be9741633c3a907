#!/usr/bin/env bash
# The CNN benchmark's GPU figures in one run of at most 330 s (installs included): see benchmarks/device_cnn.py.
# Needs python3 with torch (CUDA) and srchain's dependencies importable (dask, distributed, zarr, orjson and
# h5netcdf may come from PYTHONPATH); installs srchain itself from this tree without the network.
#     OUT=/some/folder bash benchmarks/device_cnn.sh      [extra options of device_cnn.py]
set -u -o pipefail
OUT=${OUT:?set OUT to the folder for the results}
BUDGET=${BUDGET:-330}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
START=$(date +%s)
cd "$(dirname "$0")/.."
{
  echo "device_cnn: $(date -u +%FT%TZ) on $(hostname); $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  # srchain: an editable install (offline; setuptools and wheel come with the image); if it fails (pip cannot
  # write the site-packages, or the image's setuptools is older than the build needs), a tree of links to this
  # checkout with the entry points' metadata on PYTHONPATH does the same (tools/link_tree.py)
  if ! python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . ; then
    echo "device_cnn: the editable install failed; using a linked source tree on PYTHONPATH"
    SRC=$(python3 tools/link_tree.py "$(mktemp -d)/src")
    export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
  fi
  (cd /tmp && python3 -c "import srchain.cnn.train, distributed, torch; print('device_cnn: srchain', srchain.__file__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())")
  python3 benchmarks/device_cnn.py --out "$OUT" --budget "$BUDGET" --started $(( $(date +%s) - START )) "$@"
} 2>&1 | tee "$OUT/log"
