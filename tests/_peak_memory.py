"""The peak memory of a call, measured in a fresh process (Linux): shared by the tests of the memory estimates."""

import inspect
import os
import subprocess
import sys

import pytest


def grown(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), bytes)``: the call's result and how far the peak resident set (VmHWM) rose above the
    resident set at its start (the peak restarted through /proc/self/clear_refs, so earlier peaks, such as a Numba
    compilation's, do not hide it)."""
    import re

    def status(field):
        with open("/proc/self/status") as f:
            return 1024 * int(re.search(field + r":\s*(\d+) kB", f.read()).group(1))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM restarts from the resident set now
    before = status("VmRSS")
    out = fn(*args, **kwargs)
    return out, status("VmHWM") - before


def run_measured(script: str, timeout: float = 600) -> list[str]:
    """The words ``script`` prints, run in a fresh Python where :func:`grown` is defined; the test is skipped where
    /proc/self/clear_refs is missing."""
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to restart the peak resident set")
    source = inspect.getsource(grown) + script
    out = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=timeout, check=True)
    return out.stdout.split()
