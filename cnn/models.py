"""The paper's five networks (Appendix H.1), with a width multiplier for small CPU versions.

* ``vgg9``: Table 2 -- conv 64, 64, pool, 128, 128, pool, 256, 256, 256, pool; linear 4096→256→classes;
  BatchNorm + ReLU after every conv and after the first linear layer.
* ``vgg-bc``: Table 3 -- conv 128, 128, pool, 256, 256, pool, 512, 512, pool; linear 8192→1024→1024→classes
  (the BinaryConnect network, with softmax + cross-entropy instead of the SVM / squared hinge loss).
* ``resnet56`` / ``wrn56-2``: the CIFAR ResNet of He et al. [25] (3 stages × 9 basic blocks, 16/32/64 filters,
  parameter-free shortcuts, so 55 conv + 1 linear); WRN-56-2 doubles every stage's filters.
* ``resnet18``: the ImageNet ResNet-18 of He et al. (7×7 stem, 4 stages × 2 blocks, 1×1 projection shortcuts).

Convolutions carry no bias (BatchNorm follows), so the conv weights are exactly the quantized parameters.
``width`` multiplies every conv/hidden width (rounded); a width that would leave a layer with no channels is
refused. The first linear layer's size follows the input size, so 16×16 or 32×32 inputs both work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from srchain.cnn.registry import check_model
from torch import nn

__all__ = ["build_model", "conv_weights", "named_layers", "VGG", "CifarResNet", "ResNet18"]


def _w(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


class VGG(nn.Module):
    """A VGG-like net: ``cfg`` lists conv widths and ``'M'`` (2×2 max pooling); ``hidden`` the hidden linears."""

    def __init__(self, cfg, hidden, num_classes=10, width=1.0, in_channels=3, image_size=32):
        super().__init__()
        layers, c, size = [], in_channels, image_size
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                out = _w(v, width)
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                c = out
        self.features = nn.Sequential(*layers)
        feat = c * max(size, 1) ** 2
        head = []
        for h in hidden:
            h = _w(h, width)
            head += [nn.Linear(feat, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
            feat = h
        head.append(nn.Linear(feat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride, projection):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in
        self.shortcut = None
        if projection and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            sc = self.shortcut(x)
        elif self.stride != 1 or self.pad:
            # option A of He et al.: subsample and zero-pad the channels (no parameters)
            sc = x[:, :, :: self.stride, :: self.stride]
            sc = F.pad(sc, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        else:
            sc = x
        return F.relu(out + sc)


def _global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean over the spatial dimensions, ``N×C×1×1``. On CUDA under ``torch.use_deterministic_algorithms`` it is
    ``x.mean((2, 3))`` (the backward of ``adaptive_avg_pool2d`` has no deterministic CUDA kernel); elsewhere
    ``adaptive_avg_pool2d``, so CPU results do not change."""
    if x.is_cuda and torch.are_deterministic_algorithms_enabled():
        return x.mean((2, 3), keepdim=True)
    return F.adaptive_avg_pool2d(x, 1)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 inputs (He et al. [25], option-A shortcuts); ``k`` widens every stage."""

    def __init__(self, n=9, k=1, num_classes=10, width=1.0, in_channels=3):
        super().__init__()
        widths = [_w(16 * k, width), _w(32 * k, width), _w(64 * k, width)]
        c0 = _w(16, width)
        self.conv1 = nn.Conv2d(in_channels, c0, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        blocks, c = [], c0
        for i, w in enumerate(widths):
            for j in range(n):
                blocks.append(_BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1, projection=False))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(_global_avg_pool(x), 1))


class ResNet18(nn.Module):
    """ResNet-18 for ImageNet (He et al. [25]): 7×7 stem, max pool, 4 stages × 2 basic blocks."""

    def __init__(self, num_classes=1000, width=1.0, in_channels=3):
        super().__init__()
        c0 = _w(64, width)
        self.conv1 = nn.Conv2d(in_channels, c0, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        blocks, c = [], c0
        for i, w in enumerate([64, 128, 256, 512]):
            w = _w(w, width)
            for j in range(2):
                blocks.append(_BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1, projection=True))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.blocks(x)
        return self.fc(torch.flatten(_global_avg_pool(x), 1))


#: the narrowest layer (channels or hidden units) of each model at width 1: ``round(width · this)`` must be >= 1
NARROWEST = {"vgg9": 64, "vgg-bc": 128, "resnet56": 16, "wrn56-2": 16, "resnet18": 64}
#: the widest layer of each model at width 1 (for a cheap lower bound on its size, before anything is built)
WIDEST = {"vgg9": 256, "vgg-bc": 1024, "resnet56": 64, "wrn56-2": 128, "resnet18": 512}


def check_width(name: str, width: float) -> None:
    """Raise :class:`SrchainError` unless ``width`` gives every layer of ``name`` at least one channel."""
    from srchain.errors import SrchainError

    check_model(name)
    if not (isinstance(width, (int, float)) and width > 0 and width < float("inf")):
        raise SrchainError(f"--width must be a finite number > 0, got {width!r}")
    c = NARROWEST[name]
    if int(round(c * width)) < 1:
        raise SrchainError(
            f"--width {width:g} leaves {name}'s {c}-channel layers with 0 channels; use --width >= {1 / c:g}"
        )


def build_model(
    name: str, num_classes: int = 10, width: float = 1.0, image_size: int = 32, in_channels: int = 3
) -> nn.Module:
    """Build one of :data:`srchain.cnn.registry.MODELS`.

    Raises
    ------
    SrchainError
        For an unknown name, a width ≤ 0 or one that leaves a layer with no channels.
    """
    from srchain.errors import SrchainError

    check_width(name, width)
    if name == "vgg9":
        if image_size < 8:
            raise SrchainError("vgg9 needs --image-size >= 8 (three 2x2 poolings)")
        return VGG([64, 64, "M", 128, 128, "M", 256, 256, 256, "M"], [256], num_classes, width, in_channels, image_size)
    if name == "vgg-bc":
        if image_size < 8:
            raise SrchainError("vgg-bc needs --image-size >= 8 (three 2x2 poolings)")
        return VGG(
            [128, 128, "M", 256, 256, "M", 512, 512, "M"], [1024, 1024], num_classes, width, in_channels, image_size
        )
    if name == "resnet56":
        return CifarResNet(9, 1, num_classes, width, in_channels)
    if name == "wrn56-2":
        return CifarResNet(9, 2, num_classes, width, in_channels)
    return ResNet18(num_classes, width, in_channels)


def named_layers(model: nn.Module):
    """``[(paper_name, module)]`` for every Conv2d and Linear, in order: ``conv_1, …, linear_1, …`` (Fig. 4)."""
    out, nc, nl = [], 0, 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nc += 1
            out.append((f"conv_{nc}", m))
        elif isinstance(m, nn.Linear):
            nl += 1
            out.append((f"linear_{nl}", m))
    return out


def conv_weights(model: nn.Module):
    """The weights that are quantized: every Conv2d's weight (Appendix H.1: linear layers stay real)."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
