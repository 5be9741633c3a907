"""Digits data, the fixed split and the vectorised augmentation."""

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.data import load_dataset, random_crop_flip  # noqa: E402

from srchain import SrchainError  # noqa: E402


def test_digits_fixed_split_and_shape():
    a, b = load_dataset("digits"), load_dataset("digits", image_size=16)
    assert a.train_x.shape == (1438, 3, 32, 32) and a.test_x.shape == (359, 3, 32, 32)
    assert b.train_x.shape == (1438, 3, 16, 16)
    assert torch.equal(a.train_y, b.train_y) and torch.equal(a.test_y, b.test_y)


def test_crop_is_a_window_of_the_padded_image_and_flip_mirrors():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5) + 1
    g = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, 2, False, g)
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for n in range(2):
        windows = [xp[n, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[n], w) for w in windows)
    f = random_crop_flip(x, 0, True, torch.Generator().manual_seed(1))
    for n in range(2):
        assert torch.equal(f[n], x[n]) or torch.equal(f[n], x[n].flip(2))


def test_crop_offsets_cover_all_positions():
    # 2·pad + 1 = 3 offsets per axis, 9 windows; 2000 draws miss one with probability < 9·(8/9)^2000 ≈ 0
    x = torch.zeros(2000, 1, 3, 3)
    x[:, :, 1, 1] = 1
    out = random_crop_flip(x, 1, False, torch.Generator().manual_seed(0))
    pos = {tuple(torch.nonzero(o[0]).flatten().tolist()) for o in out}
    assert len({p for p in pos if p}) == 9


def test_same_seed_same_batches_and_ranks_split_the_global_batch():
    d = load_dataset("digits", image_size=16)
    a = list(d.batches(100, epoch=3, seed=7))
    b = list(d.batches(100, epoch=3, seed=7))
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))
    r0 = next(d.batches(50, epoch=3, seed=7, rank=0, world=2, augment=False))
    r1 = next(d.batches(50, epoch=3, seed=7, rank=1, world=2, augment=False))
    assert len(r0[1]) == len(r1[1]) == 50
    full = next(d.batches(100, epoch=3, seed=7, augment=False))
    assert sorted(torch.cat([r0[1], r1[1]]).tolist()) == sorted(full[1].tolist())


def test_missing_cifar_folder_is_a_user_error(tmp_path):
    with pytest.raises(SrchainError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(SrchainError, match="not found"):
        load_dataset("cifar10", tmp_path)


def test_cifar_pickles_are_read(tmp_path):
    import pickle

    import numpy as np

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump(
                {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 4))}, fh
            )
    d = load_dataset("cifar10", tmp_path)
    assert d.train_x.shape == (20, 3, 32, 32) and d.train_x.dtype == torch.uint8 and d.flip and d.pad == 4
    x, y = next(d.batches(8, 0, 0))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
