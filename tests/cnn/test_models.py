"""The five networks of Appendix H.1: layer counts, parameter counts, output shapes."""

import pytest

torch = pytest.importorskip("torch")

from srchain.cnn.models import build_model, conv_weights, named_layers  # noqa: E402

from srchain import SrchainError  # noqa: E402

# Appendix H.1: conv / FC parameters in millions (VGG-9 1.7/1.1, VGG-BC 4.6/9.4, ResNet-56 0.84/0.0006,
# WRN-56-2 3.4/0.001, ResNet-18 11.2/0.5) and layer counts (Tables 2-3, "55 conv and one linear").
PAPER = {
    "vgg9": (1.7, 1.1, 7, 2),
    "vgg-bc": (4.6, 9.4, 6, 3),
    "resnet56": (0.84, 0.0006, 55, 1),
    "wrn56-2": (3.4, 0.001, 55, 1),
    "resnet18": (11.2, 0.5, 20, 1),
}


def _unit(printed: float) -> float:
    """One unit of the last digit the paper prints (0.84 -> 0.01, 0.0006 -> 0.0001): its rounding tolerance."""
    text = repr(printed)
    return 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


@pytest.mark.parametrize("name", list(PAPER))
def test_full_width_sizes_match_the_paper(name):
    classes = 1000 if name == "resnet18" else 10
    m = build_model(name, num_classes=classes)
    conv_m, fc_m, n_conv, n_fc = PAPER[name]
    conv = sum(w.numel() for w in conv_weights(m)) / 1e6
    fc = sum(mod.weight.numel() for _, mod in named_layers(m) if isinstance(mod, torch.nn.Linear)) / 1e6
    assert conv == pytest.approx(conv_m, abs=_unit(conv_m))
    assert fc == pytest.approx(fc_m, abs=_unit(fc_m))
    names = [n for n, _ in named_layers(m)]
    assert sum(n.startswith("conv_") for n in names) == n_conv
    assert sum(n.startswith("linear_") for n in names) == n_fc


@pytest.mark.parametrize("name", ["vgg9", "vgg-bc", "resnet56", "wrn56-2", "resnet18"])
def test_small_width_forward_shape(name):
    m = build_model(name, num_classes=10, width=0.125, image_size=16)
    m.eval()
    assert m(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_bad_model_and_width():
    with pytest.raises(SrchainError, match="unknown model"):
        build_model("alexnet")
    with pytest.raises(SrchainError, match="width"):
        build_model("vgg9", width=0)
