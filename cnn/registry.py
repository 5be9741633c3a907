"""Names shared by the command line and the code: models, training methods, datasets (no torch import).

A *method* is ``[big-][r-|sr-|bc-]{adam,sgd}`` (Section 3 and Table 1 of the paper):

* ``adam`` / ``sgd``: full precision, the baseline;
* ``r-adam``: ``w <- Qd(w - step)`` (deterministic rounding, Eq. 3);
* ``sr-adam``: ``w <- Qs(w - step)`` (stochastic rounding, Eq. 5);
* ``bc-adam``: BinaryConnect, latent ``w_r <- w_r - step(grad f(Q(w_r)))`` (Eq. 7);
* ``big-``: the same with the big batch of Appendix H.1 (1024, or 512 for WRN-56-2 and ResNet-18).

With a number format between the rule and the base, ``[big-]{r,sr,srK,bc}-FORMAT-{adam,sgd}`` (FORMAT one of
the core's names ``bf16``, ``fp16``, ``fp8-e4m3``, ``fp8-e5m2``, ``fp4-e2m1`` (e2m1 with a per-tensor power-of-two
scale) or an alias of :data:`srchain.grids.FORMAT_ALIASES` such as ``fp8``, ``fp8e5m2``, ``fp4``: ``sr-fp8-adam``
and ``sr-fp8-e4m3-adam`` are one method, whose name is recorded as the canonical ``sr-fp8-e4m3-adam``; see
:mod:`srchain.cnn.formats`), the conv weights are kept in that format instead of on ΔZ:

* ``r-bf16-adam``: ``w <- Qd(w - step)``, round to nearest even (the format's cast);
* ``sr-bf16-adam``: ``w <- Qs(w - step)``, unbiased stochastic rounding to the two neighbouring values;
* ``sr8-bf16-adam``: the same with k = 8 random bits (k = 1..32), as hardware SR;
* ``bc-bf16-adam``: fp32 master weights ``w_r`` with a rounded copy ``w_b = Qd(w_r)`` that the forward and
  backward passes see (the usual mixed-precision recipe; BinaryConnect's latent/quantized pair).

They start from the model's own initialisation rounded to the format (not Rademacher ±Δ) and ignore ``--delta``
and ``--bits``.
"""

from __future__ import annotations

from dataclasses import dataclass

from srchain.errors import SrchainError

__all__ = [
    "MODELS",
    "METHODS",
    "DATASETS",
    "Method",
    "parse_method",
    "check_model",
    "check_dataset",
    "BIG_BATCH",
    "DEFAULT_BATCH",
    "DATASET_CLASSES",
    "PAPER_MILESTONES",
    "PAPER_EPOCHS",
    "FORMATS",
    "FORMAT_METHODS",
    "canonical_cnn_format",
    "method_arg",
]

#: model name -> one-line description
MODELS = {
    "vgg9": "VGG-9 (Table 2): 7 conv + 2 linear",
    "vgg-bc": "VGG-BC (Table 3): 6 conv + 3 linear, the network of BinaryConnect",
    "resnet56": "ResNet-56 (CIFAR): 55 conv + 1 linear",
    "wrn56-2": "wide ResNet-56 with 2x the filters",
    "resnet18": "ResNet-18 (ImageNet)",
}

#: Appendix H.1: big-batch SR-ADAM uses 1024, except 512 for WRN-56-2 and ResNet-18.
BIG_BATCH = {"vgg9": 1024, "vgg-bc": 1024, "resnet56": 1024, "wrn56-2": 512, "resnet18": 512}
#: Appendix H.1: "The default minibatch size is 128."
DEFAULT_BATCH = 128

DATASETS = ("digits", "cifar10", "cifar100", "imagenet")
DATASET_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}
#: Section 6: lr divided by 10 at epochs 82 and 122 (CIFAR), 30 and 60 (ImageNet, 90 epochs).
PAPER_MILESTONES = {"cifar10": (82, 122), "cifar100": (82, 122), "imagenet": (30, 60)}
PAPER_EPOCHS = {"digits": 10, "cifar10": 164, "cifar100": 164, "imagenet": 90}

RULES = ("fp", "r", "sr", "bc")
BASES = ("adam", "sgd")
#: the canonical method names (the parser accepts any [big-][rule-]base)
METHODS = tuple(
    f"{big}{rule + '-' if rule != 'fp' else ''}{base}" for base in BASES for big in ("", "big-") for rule in RULES
)
#: canonical format name (:data:`srchain.grids.FORMATS`) -> (ml_dtypes name, torch dtype name or None, description)
FORMATS = {
    "bf16": ("bfloat16", "bfloat16", "bfloat16 (8 exponent, 7 mantissa bits)"),
    "fp16": ("float16", "float16", "IEEE half (5 exponent, 10 mantissa bits)"),
    "fp8-e4m3": ("float8_e4m3fn", "float8_e4m3fn", "float8 e4m3fn (no inf, max 448)"),
    "fp8-e5m2": ("float8_e5m2", "float8_e5m2", "float8 e5m2 (max 57344)"),
    "fp4-e2m1": ("float4_e2m1fn", None, "float4 e2m1fn with a per-tensor power-of-two scale, s·{0, ±0.5, ..., ±6}"),
}


def canonical_cnn_format(name: str) -> str:
    """The canonical name (a key of :data:`FORMATS`) of a weight format given by name or alias; raise
    :class:`SrchainError` listing the valid ones (the one table of names is :data:`srchain.grids.FORMAT_ALIASES`)."""
    from srchain.grids import canonical_format

    return canonical_format(name, fixed=False)


#: the format rules of the examples (any FORMAT of srchain.cnn.formats.FORMATS and any srK, K = 1..32, parse too)
FORMAT_METHODS = tuple(f"{rule}-{fmt}-adam" for fmt in FORMATS for rule in ("r", "sr", "sr8", "bc"))
TABLE1_METHODS = ("adam", "bc-adam", "big-sr-adam", "sr-adam", "r-adam")
TABLE1_LABELS = {
    "adam": "ADAM",
    "bc-adam": "BC-ADAM",
    "big-sr-adam": "Big SR-ADAM",
    "sr-adam": "SR-ADAM",
    "r-adam": "R-ADAM",
}


@dataclass(frozen=True)
class Method:
    """A parsed method name: quantization ``rule`` ('fp', 'r', 'sr', 'bc'), ``base`` optimizer, ``big`` batch,
    the number ``fmt`` the weights are kept in (``None``: the grid ΔZ) and SR's random bits ``sr_bits`` (``None``:
    exact SR)."""

    name: str
    rule: str
    base: str
    big: bool
    fmt: str | None = None
    sr_bits: int | None = None

    @property
    def quantized(self) -> bool:
        return self.rule != "fp"


def parse_method(name: str) -> Method:
    """Parse ``[big-][r-|sr-|bc-]{adam,sgd}`` or ``[big-]{r,sr,srK,bc}-FORMAT-{adam,sgd}``; raise
    :class:`SrchainError` for anything else."""
    text = str(name).lower()
    big = text.startswith("big-")
    rest = text[4:] if big else text
    parts = rest.split("-")
    if len(parts) == 1 and parts[0] in BASES:
        return Method(text, "fp", parts[0], big)
    if len(parts) == 2 and parts[0] in RULES[1:] and parts[1] in BASES:
        return Method(text, parts[0], parts[1], big)
    if len(parts) >= 3 and parts[-1] in BASES:
        fmt = _method_format("-".join(parts[1:-1]))
        rule, base, bits = parts[0], parts[-1], None
        if fmt is not None and rule.startswith("sr") and rule[2:].isdigit() and rule[2:] == str(int(rule[2:])):
            bits = int(rule[2:])
            if not 1 <= bits <= 32:
                raise SrchainError(f"method {name!r}: SR takes 1 to 32 random bits, got {bits}; e.g. sr8-{fmt}-{base}")
            rule = "sr"
        if fmt is not None and rule in RULES[1:]:
            canonical = f"{'big-' if big else ''}{parts[0]}-{fmt}-{base}"
            return Method(canonical, rule, base, big, fmt=fmt, sr_bits=bits)
    from srchain.grids import _known_formats

    raise SrchainError(
        f"unknown method {name!r}; use one of {', '.join(METHODS)}, or RULE-FORMAT-BASE with RULE one of r, sr, "
        f"srK (K = 1..32 random bits), bc and FORMAT one of {_known_formats(fixed=False)} (e.g. sr-bf16-adam)"
    )


def _method_format(text: str) -> str | None:
    """The canonical format named by ``text`` inside a method name, or ``None`` if it names none."""
    try:
        return canonical_cnn_format(text)
    except SrchainError:
        return None


def method_arg(name: str) -> str:
    """``argparse`` type of ``--method``: the canonical name, or the parser's one-line error."""
    import argparse

    try:
        return parse_method(name).name
    except SrchainError as exc:  # argparse's wording for a bad name, then what to use
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} ({exc})") from None


def check_model(name: str) -> str:
    """Return the model name or raise :class:`SrchainError` listing the known ones."""
    if name not in MODELS:
        raise SrchainError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")
    return name


def check_dataset(name: str) -> str:
    """Return the dataset name or raise :class:`SrchainError` listing the known ones."""
    if name not in DATASETS:
        raise SrchainError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    return name
