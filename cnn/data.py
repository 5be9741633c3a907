"""Datasets and the paper's augmentation (He et al. [25]: 4-pixel padding + random 32×32 crop, horizontal flip,
per-channel normalisation), written as vectorised torch ops on whole batches.

* ``digits`` (default, offline): scikit-learn's bundled 8×8 handwritten digits (1797 images), resized
  bilinearly to ``image_size`` (32) with the gray level copied to 3 channels; a fixed 80/20 split (1438 train /
  359 test) drawn once with seed 0, independent of ``--seed``. Augmentation: random crop only (flipping
  digits changes them).
* ``cifar10`` / ``cifar100``: the official python-pickle batches in ``--data-dir`` (``cifar-10-batches-py`` /
  ``cifar-100-python``); ``--download`` fetches the official tarball with urllib.
* ``imagenet``: ``torchvision.datasets.ImageFolder`` on ``DATA_DIR/train`` and ``DATA_DIR/val`` (torchvision
  is needed only here).

In-memory sets yield batches from :meth:`InMemoryData.batches`: the epoch's order is a permutation drawn from a
``torch.Generator`` seeded by ``(seed, epoch)`` (so a resumed run sees exactly the same batches), and each global
batch of ``batch × world`` samples is split between the ranks of a DistributedDataParallel run.

On the training device: the images are copied there once (zero-padded by ``pad`` pixels, uint8 kept as uint8), the
epoch's permutation once per epoch, and each augmented batch is then **one gather** (sample, crop window and flip
in a single advanced index) followed by the conversion to float and the normalisation, so a step issues about a
dozen small kernels and never waits for the host. The values are exactly those of :func:`random_crop_flip` on the
selected images (same draws from the same generator, same arithmetic), so CPU results do not depend on the path.
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from srchain.errors import SrchainError

__all__ = ["InMemoryData", "FolderData", "load_dataset", "random_crop_flip", "epoch_generator", "crop_flip_gather"]

CIFAR_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def epoch_generator(seed: int, *keys, device="cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded from ``numpy.random.SeedSequence([seed, *keys])`` (same keys, same draws)."""
    s = int(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]).generate_state(1, np.uint64)[0] >> 1)
    g = torch.Generator(device=device)
    g.manual_seed(s)
    return g


def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero-padding by ``pad`` pixels and (optionally) a horizontal flip with probability 1/2.

    One gather for the whole batch: image ``n`` is cut at offsets ``(oy_n, ox_n) ∈ [0, 2·pad]²``.
    """
    n, c, h, w = x.shape
    dev = x.device
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, :, None]  # n, h, 1
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, :]  # n, 1, w
        idx = torch.arange(n, device=dev)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)  # n, c, h, w
    if flip:
        m = torch.rand(n, generator=generator, device=dev) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    return x.contiguous()


def crop_flip_gather(
    padded: torch.Tensor, idx: torch.Tensor, pad: int, flip: bool, generator, channels_last: bool = False, consts=None
) -> torch.Tensor:
    """Images ``idx`` of ``padded`` (``N, C, H + 2·pad, W + 2·pad``, already zero-padded), each cut at a random
    offset ``(oy, ox) ∈ [0, 2·pad]²`` and, when ``flip``, mirrored with probability 1/2: one gather.

    The draws (``oy``, ``ox``, then the flip coins) and therefore the result equal
    ``random_crop_flip(images[idx], pad, flip, generator)``. With ``channels_last`` the result is laid out NHWC
    (a ``channels_last`` tensor) at no extra cost. ``consts`` caches the index ramps between calls.
    """
    n = idx.shape[0]
    c, h, w = padded.shape[1], padded.shape[2] - 2 * pad, padded.shape[3] - 2 * pad
    dev = padded.device
    if consts is None:
        consts = _gather_consts(c, h, w, dev)
    ar_h, ar_w, rev_w, ch = consts
    if pad > 0:
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
        rows = oy[:, None] + ar_h  # n, h
    else:
        ox = None
        rows = ar_h.expand(n, h)
    if flip:
        m = torch.rand(n, generator=generator, device=dev) < 0.5
        cols = torch.where(m[:, None], rev_w, ar_w)  # n, w (mirrored where m)
        cols = cols if ox is None else cols + ox[:, None]
    else:
        cols = ar_w.expand(n, w) if ox is None else ox[:, None] + ar_w
    if channels_last:  # index as n, h, w, c
        x = padded[idx[:, None, None, None], ch[None, None, None, :], rows[:, :, None, None], cols[:, None, :, None]]
        return x.permute(0, 3, 1, 2)
    return padded[idx[:, None, None, None], ch[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


def _gather_consts(c, h, w, device):
    return (
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        torch.arange(w - 1, -1, -1, device=device),
        torch.arange(c, device=device),
    )


@dataclass
class InMemoryData:
    """A dataset held in memory: images (float in [0, 1] or uint8), labels, per-channel mean and std."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    pad: int = 4
    flip: bool = True

    def __post_init__(self):
        x = self._float(self.train_x)
        self.mean = x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
        self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1)

    @staticmethod
    def _float(x):
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    @property
    def image_shape(self):
        return tuple(self.train_x.shape[1:])

    def n_train_steps(self, batch: int, world: int = 1) -> int:
        n, g = len(self.train_y), batch * world
        steps = -(-n // g)
        if n % g and (n % g) < 2 * world:  # BatchNorm needs >= 2 samples per rank: drop a tiny tail
            steps -= 1
        return max(steps, 1)

    def _on(self, device) -> dict:
        """The tensors a batch is cut from, on ``device`` (copied there once and cached): the training images
        zero-padded by ``pad`` (in their stored dtype), labels, test images, mean and std."""
        device = torch.device(device)
        cache = self.__dict__.setdefault("_device_cache", {})
        key = str(device)
        if key not in cache:
            p = self.pad
            padded = F.pad(self.train_x, (p, p, p, p)) if p > 0 else self.train_x
            n, c, h, w = self.train_x.shape
            cache[key] = {
                "padded": padded.to(device),
                "train_y": self.train_y.to(device),
                "test_x": self.test_x.to(device),
                "test_y": self.test_y.to(device),
                "mean": self.mean.to(device),
                "std": self.std.to(device),
                "consts": _gather_consts(c, h, w, device),
            }
        return cache[key]

    def _normalise(self, x, d):
        return (self._float(x) - d["mean"]) / d["std"]

    def batches(
        self,
        batch: int,
        epoch: int,
        seed: int,
        device="cpu",
        rank: int = 0,
        world: int = 1,
        augment: bool = True,
        channels_last: bool = False,
    ):
        """Yield ``(x, y)`` training batches of epoch ``epoch`` for this rank (order from ``(seed, epoch)``).

        Everything happens on ``device``: one gather per batch (:func:`crop_flip_gather`), then float and the
        normalisation; no host synchronisation.
        """
        d = self._on(device)
        dev = d["padded"].device
        order = torch.randperm(len(self.train_y), generator=epoch_generator(seed, epoch, 0)).to(dev)
        aug = epoch_generator(seed, epoch, 1, rank, device=dev.type)
        p = self.pad
        augment = augment and bool(self.pad or self.flip)
        g = batch * world
        for s in range(self.n_train_steps(batch, world)):
            idx = order[s * g : (s + 1) * g]
            idx = idx[rank::world] if world > 1 else idx
            if augment:
                x = crop_flip_gather(d["padded"], idx, p, self.flip, aug, channels_last, d["consts"])
            else:
                x = d["padded"][idx][:, :, p : d["padded"].shape[2] - p, p : d["padded"].shape[3] - p]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
            yield self._normalise(x, d), d["train_y"][idx]

    def test_batches(self, batch: int, device="cpu", channels_last: bool = False):
        """Yield ``(x, y)`` test batches in order, normalised, without augmentation."""
        d = self._on(device)
        for s in range(0, len(self.test_y), batch):
            x = d["test_x"][s : s + batch]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield self._normalise(x, d), d["test_y"][s : s + batch]


def load_digits(image_size: int = 32) -> InMemoryData:
    """scikit-learn's 8×8 digits, resized to ``image_size``, 3 channels, fixed 80/20 split (seed 0)."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError:  # pragma: no cover
        raise SrchainError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    d = _load()
    x = torch.tensor(d.images, dtype=torch.float32).div_(16.0)[:, None]  # n, 1, 8, 8 in [0, 1]
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.clamp_(0, 1).repeat(1, 3, 1, 1).contiguous()
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    n_test = len(y) // 5
    te, tr = perm[:n_test], perm[n_test:]
    return InMemoryData("digits", x[tr], y[tr], x[te], y[te], 10, pad=max(1, image_size // 8), flip=False)


#: MD5 of the official tarballs, as published on https://www.cs.toronto.edu/~kriz/cifar.html
CIFAR_MD5 = {"cifar10": "c58f30108f718f92721af3b95e74349a", "cifar100": "eb9058c3a382ffc7106e4002c42a8d85"}


def _cifar_folder(name: str, data_dir, download: bool) -> Path:
    if data_dir is None:
        raise SrchainError(
            f"--dataset {name} needs --data-dir DIR (the folder holding {CIFAR_FOLDERS[name]}, "
            "or where --download should put it)"
        )
    root = Path(data_dir).expanduser()
    sub = CIFAR_FOLDERS[name]
    if root.exists() and not root.is_dir():
        raise SrchainError(f"--data-dir {root} is not a directory")
    for cand in (root / sub, root):
        if (cand / ("test_batch" if name == "cifar10" else "test")).is_file():
            return cand
    if not download:
        if not root.exists():
            raise SrchainError(
                f"data folder {root} does not exist; create it and pass --download, or point "
                f"--data-dir at the folder holding {sub}"
            )
        raise SrchainError(f"{name} not found in {root} (expected {root / sub}); pass --download or fix --data-dir")
    import urllib.request

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SrchainError(f"cannot create --data-dir {root}: {exc.strerror or exc}") from None
    url = CIFAR_URLS[name]
    tmp = root / (Path(url).name + ".part")
    try:
        urllib.request.urlretrieve(url, tmp)  # noqa: S310 - fixed https URL of the official dataset
        _check_md5(tmp, CIFAR_MD5[name], url)
        _extract_tarball(tmp, root, sub)
    except OSError as exc:
        raise SrchainError(f"cannot download {url}: {exc}; download it by hand into {root}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return root / sub


def _check_md5(path: Path, expected: str, url: str) -> None:
    """Refuse a download whose MD5 is not the published one (before anything is extracted from it)."""
    import hashlib

    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != expected:
        raise SrchainError(
            f"the download of {url} has MD5 {h.hexdigest()}, not the published {expected}; "
            "it is corrupt or not the official file, so nothing was extracted; try again or "
            "download it by hand"
        )


def _extract_tarball(tar_path: Path, root: Path, sub: str) -> None:
    """Extract only regular files and folders below ``sub``: no absolute paths, ``..``, links or devices."""
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            for m in members:
                parts = Path(m.name).parts
                if (
                    m.name.startswith(("/", "\\"))
                    or ".." in parts
                    or not parts
                    or parts[0] != sub
                    or not (m.isfile() or m.isdir())
                ):
                    raise SrchainError(
                        f"refusing to extract {tar_path.name}: member {m.name!r} is not a plain "
                        f"file or folder inside {sub}/"
                    )
            try:
                tar.extractall(root, members=members, filter="data")
            except TypeError:  # pragma: no cover - Python without extraction filters; members were checked
                tar.extractall(root, members=members)
    except (tarfile.TarError, EOFError) as exc:
        raise SrchainError(f"cannot extract {tar_path.name}: {exc}") from None


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches and nothing else: a dict of bytes keys, lists of ints and bytes, and
    NumPy arrays. Any other global (the way a pickle runs code) is refused before it is looked up."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
            ("builtins", "bytes"),
            ("builtins", "bytearray"),
            ("builtins", "dict"),
            ("builtins", "list"),
            ("__builtin__", "bytes"),
            ("__builtin__", "bytearray"),
            ("__builtin__", "dict"),
            ("__builtin__", "list"),
        }
    )

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise SrchainError(
                f"refusing to read {self.path}: it asks for {module}.{name}, which a CIFAR batch "
                "never holds (a pickle that names other objects can run code); use the official "
                "files"
            )
        return super().find_class(module, name)


def _unpickle(path: Path):
    """Read one CIFAR python batch with :class:`_BatchUnpickler`; anything unexpected is one SrchainError."""
    try:
        with open(path, "rb") as fh:
            up = _BatchUnpickler(fh, encoding="bytes")
            up.path = path
            obj = up.load()
    except SrchainError:
        raise
    except OSError as exc:
        raise SrchainError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - a broken pickle raises many types; all mean "not a batch"
        raise SrchainError(
            f"{path} is not a CIFAR python batch ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
        ) from None
    return obj


def _batch_arrays(batch, path, key: bytes, classes: int):
    """The ``(n, 3072)`` uint8 images and ``n`` labels of one batch, checked."""
    if not isinstance(batch, dict) or b"data" not in batch or key not in batch:
        raise SrchainError(f"{path} is not a CIFAR python batch (expected a dict with b'data' and {key!r})")
    x = batch[b"data"]
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072):
        raise SrchainError(
            f"{path}: b'data' must be a uint8 array of shape (n, 3072), got "
            f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
        )
    try:
        y = np.asarray(batch[key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise SrchainError(f"{path}: {key!r} must be a list of integer labels") from None
    if y.shape != (x.shape[0],):
        raise SrchainError(f"{path}: {len(x)} images but labels of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise SrchainError(f"{path}: labels must lie in 0..{classes - 1}, found {y.min()}..{y.max()}")
    return x, y


def load_cifar(name: str, data_dir, download: bool = False) -> InMemoryData:
    """CIFAR-10/100 from the official python-pickle batches (uint8 kept in memory, 32×32×3)."""
    folder = _cifar_folder(name, data_dir, download)
    if name == "cifar10":
        train = [folder / f"data_batch_{i}" for i in range(1, 6)]
        test = [folder / "test_batch"]
        key, classes = b"labels", 10
    else:
        train, test = [folder / "train"], [folder / "test"]
        key, classes = b"fine_labels", 100
    for p in train + test:
        if not p.is_file():
            raise SrchainError(f"{p} is missing; {folder} must hold the complete {CIFAR_FOLDERS[name]} folder")

    def stack(paths):
        parts = [_batch_arrays(_unpickle(p), p, key, classes) for p in paths]
        x = np.concatenate([a for a, _ in parts]).reshape(-1, 3, 32, 32)
        y = np.concatenate([b for _, b in parts])
        if len(y) < 2:
            raise SrchainError(
                f"{folder} holds {len(y)} image(s) in {', '.join(p.name for p in paths)}; need at least 2"
            )
        return torch.from_numpy(x), torch.from_numpy(y)

    trx, try_ = stack(train)
    tex, tey = stack(test)
    return InMemoryData(name, trx, try_, tex, tey, classes, pad=4, flip=True)


def load_imagenet(data_dir):
    """ImageNet as two ``torchvision.datasets.ImageFolder`` (``train/``, ``val/``) with He et al.'s transforms."""
    if data_dir is None:
        raise SrchainError("--dataset imagenet needs --data-dir DIR holding train/ and val/ ImageFolders")
    if not Path(data_dir).expanduser().is_dir():
        raise SrchainError(f"ImageNet folder {data_dir} does not exist; pass --data-dir holding train/ and val/")
    try:
        from torchvision import datasets, transforms
    except ImportError:
        raise SrchainError("--dataset imagenet needs torchvision: pip install torchvision") from None
    root = Path(data_dir).expanduser()
    for part in ("train", "val"):
        if not (root / part).is_dir():
            raise SrchainError(f"{root / part} does not exist; --data-dir must hold train/ and val/ ImageFolders")
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train = datasets.ImageFolder(
        root / "train",
        transforms.Compose(
            [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm]
        ),
    )
    val = datasets.ImageFolder(
        root / "val",
        transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm]),
    )
    return FolderData("imagenet", train, val, len(train.classes))


class FolderData:
    """Image folders read by ``torch.utils.data.DataLoader`` workers, with the same interface as
    :class:`InMemoryData`. Each epoch's order comes from a ``DistributedSampler`` seeded by ``seed`` and
    ``set_epoch(epoch)``; worker seeds from a generator seeded by ``(seed, epoch)``.
    """

    def __init__(self, name, train, test, num_classes, workers: int = 8):
        self.name, self.train, self.test, self.num_classes, self.workers = name, train, test, num_classes, workers

    def n_train_steps(self, batch: int, world: int = 1) -> int:
        return max(len(self.train) // (batch * world), 1)

    def batches(self, batch, epoch, seed, device="cpu", rank=0, world=1, augment=True, channels_last=False):
        from torch.utils.data import DataLoader, DistributedSampler

        sampler = DistributedSampler(self.train, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        sampler.set_epoch(epoch)
        loader = DataLoader(
            self.train,
            batch_size=batch,
            sampler=sampler,
            num_workers=self.workers,
            pin_memory=True,
            drop_last=True,
            generator=epoch_generator(seed, epoch, 3, rank),
            persistent_workers=False,
        )
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for x, y in loader:
            yield x.to(device, non_blocking=True, memory_format=fmt), y.to(device, non_blocking=True)

    def test_batches(self, batch, device="cpu", channels_last=False):
        from torch.utils.data import DataLoader

        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for x, y in DataLoader(self.test, batch_size=batch, shuffle=False, num_workers=self.workers):
            yield x.to(device, non_blocking=True, memory_format=fmt), y.to(device, non_blocking=True)


def load_dataset(name: str, data_dir=None, download: bool = False, image_size: int = 32):
    """Load ``digits``, ``cifar10``, ``cifar100`` (:class:`InMemoryData`) or ``imagenet`` (two ImageFolders)."""
    if name == "digits":
        return load_digits(image_size)
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_dir, download)
    if name == "imagenet":
        return load_imagenet(data_dir)
    raise SrchainError(f"unknown dataset {name!r}; use digits, cifar10, cifar100 or imagenet")
