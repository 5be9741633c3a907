"""DistributedDataParallel under torchrun: two CPU processes with the gloo backend (a smoke test)."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available(), reason="torch built without distributed support")
def test_torchrun_two_processes_gloo(tmp_path):
    import socket

    with socket.socket() as sock:  # a free port (torchrun's --master_port 0 hangs with gloo)
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        port,
        "-m",
        "srchain.cli",
        "train",
        "--model",
        "vgg9",
        "--method",
        "sr-adam",
        "--epochs",
        "2",
        "--width",
        "0.125",
        "--image-size",
        "16",
        "--batch",
        "32",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["global_batch"] == 64
    recs = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2]
    assert recs[-1]["test_error"] < 90  # it learned something (chance is 90 %)
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    for k, v in ck["model"].items():
        if "features" in k and k.endswith("weight") and v.dim() == 4:
            assert set(torch.unique(v).tolist()) <= {-1.0, 1.0}
