"""Shared helpers of the CNN tests (small models on the offline digits, CPU)."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def small_cfg(tmp_path):
    """A factory of tiny TrainConfigs: VGG-9 at width 1/8 on 16x16 digits, quiet, one thread-friendly size."""
    from srchain.cnn.train import TrainConfig

    def make(**kw):
        base = dict(
            model="vgg9",
            method="sr-adam",
            dataset="digits",
            epochs=1,
            width=0.125,
            image_size=16,
            batch=64,
            quiet=True,
            device="cpu",
            out=str(tmp_path / "run"),
        )
        base.update(kw)
        return TrainConfig(**base)

    return make


@pytest.fixture
def stopped_run(small_cfg, tmp_path):
    """The folder of a 2-epoch bc-adam run interrupted after epoch 1 (its checkpoint is what --resume reads)."""
    from srchain.cnn.train import train

    train(small_cfg(method="bc-adam", epochs=2, stop_after=1, threads=1, out=str(tmp_path / "run")))
    return tmp_path / "run"


# Tiny models gain nothing from intra-op threads, and on a shared 2-core machine spinning OpenMP threads make
# them many times slower; one thread keeps the suite's time steady.
torch.set_num_threads(1)
