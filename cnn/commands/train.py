"""``srchain train``: one training run of the paper's CNN benchmark (Section 6), logged per epoch."""

from __future__ import annotations

import argparse

OUTPUTS = {"json": "file", "out": "dir"}
HELP = "train one CNN with quantized conv weights (R/SR/BC/big-batch SR-ADAM or full precision) and log flips"


def add_run_options(parser, multi=False):
    """Options shared by ``train`` and ``table1`` (model/method are added by the caller; ``multi``: the grid's
    command, whose ``--workers`` is the sweep's, so the data-loader workers are only ``--loader-workers``)."""
    import argparse

    from srchain.cnn.registry import DATASETS

    from srchain.cli import nonneg_float, nonneg_int, positive_float, positive_int

    g = parser.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default="digits",
        choices=DATASETS,
        help="digits (offline, scikit-learn), cifar10, cifar100 or imagenet",
    )
    g.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder holding cifar-10-batches-py / cifar-100-python, or ImageNet's train/ and val/",
    )
    g.add_argument("--download", action="store_true", help="fetch the official CIFAR tarball into --data-dir")
    g.add_argument(
        "--image-size",
        type=positive_int,
        default=32,
        metavar="PX",
        help="digits only: side the 8x8 digits are resized to",
    )
    g = parser.add_argument_group("training (Section 6, Appendix H)")
    g.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        metavar="E",
        help="epochs (default: 164 CIFAR, 90 ImageNet, 10 digits)",
    )
    g.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        metavar="B",
        help="per-device batch (default 128; big-* methods: --big-batch); global = B x world size",
    )
    g.add_argument(
        "--big-batch",
        type=positive_int,
        default=None,
        metavar="B",
        help="batch of the big-* methods (default 1024; 512 for wrn56-2 and resnet18)",
    )
    g.add_argument("--lr", type=positive_float, default=0.01, help="initial learning rate")
    g.add_argument(
        "--milestones",
        type=nonneg_int,
        nargs="*",
        default=None,
        metavar="EPOCH",
        help="epochs where lr is divided by 1/gamma (default 82 122 CIFAR, 30 60 ImageNet, "
        "0.5 and 0.74 of --epochs on digits)",
    )
    g.add_argument("--gamma", type=positive_float, default=0.1, help="lr factor at each milestone")
    g.add_argument("--weight-decay", type=nonneg_float, default=0.0, help="L2 weight decay (paper: 0)")
    g.add_argument("--momentum", type=nonneg_float, default=0.9, help="momentum of the *-sgd methods")
    g = parser.add_argument_group("quantization")
    g.add_argument(
        "--delta",
        type=positive_float,
        default=1.0,
        metavar="Δ",
        help="grid step Δ: binary weights are ±Δ (Appendix H.3 uses Δ = 1)",
    )
    g.add_argument("--bits", type=positive_int, default=1, help="1: binary ±Δ; b >= 2: ΔZ clipped to ±(2^(b-1)-1)Δ")
    g.add_argument("--scale", default="none", choices=("none", "filter"), help="bc: per-filter scale mean|w_r| (BWN)")
    g.add_argument(
        "--no-clip-latent",
        dest="clip_latent",
        action="store_false",
        help="bc: do not clip the latent weights to [-Δ, Δ]",
    )
    g = parser.add_argument_group("model and hardware")
    g.add_argument("--width", type=positive_float, default=1.0, help="width multiplier of every layer")
    g.add_argument("--k", type=positive_int, default=5, help="window (epochs) of flipped_last_k (Fig. 5c)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train")
    g.add_argument(
        "--amp",
        nargs="?",
        const=True,
        default="auto",
        choices=("off", "fp16", "bf16", "auto", True),
        metavar="{off,fp16,bf16,auto}",
        help="mixed precision: bf16 (autocast, no loss scaling; Ampere or newer GPUs, and CPUs), fp16 "
        "(with a GradScaler), off, or auto (default; CUDA: the faster of fp32 and bf16 for this model, "
        "measured once and cached, recorded in config.json and the log; the CPU: off); a bare --amp keeps its old "
        "meaning: fp16 on CUDA, bf16 on the CPU",
    )
    g.add_argument(
        "--channels-last",
        dest="channels_last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="NHWC memory format for the model and its input (default: on for CUDA, off on the CPU)",
    )
    g.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile(mode='reduce-overhead') the network: CUDA graphs over forward and backward "
        "(minutes of compilation first; for long GPU runs)",
    )
    g.add_argument(
        "--cuda-graph",
        dest="cuda_graph",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="capture the whole step (forward, backward, optimizer, quantize-after-step) once as a CUDA graph "
        "and replay it (default: on for CUDA, except with --compile, --amp fp16 or several processes); "
        "--no-cuda-graph: eager steps",
    )
    g.add_argument(
        "--deterministic",
        action="store_true",
        help="bit-for-bit repeatable CUDA runs (and bit-exact --resume): deterministic cuDNN/cuBLAS "
        "kernels, no autotuning; slower. CPU runs are deterministic anyway",
    )
    g.add_argument(
        "--sync-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="read the losses (the non-finite check) every N steps instead of once per epoch; a "
        "non-finite loss then stops the run within N steps",
    )
    g.add_argument("--eval-batch", type=positive_int, default=500, help="test-set batch size")
    names = ["--loader-workers"] if multi else ["--workers", "--loader-workers"]  # table1's --workers: Dask
    g.add_argument(
        *names, dest="loader_workers", type=nonneg_int, default=8, metavar="N", help="ImageNet data-loader workers"
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="torch intra-op CPU threads (default: torch's choice); --resume needs the same count",
    )
    g.add_argument(
        "--max-memory",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="refuse a run whose estimated memory (data, model, optimizer state, activations) exceeds "
        "this many GiB (default: 80%% of the memory available when the command starts)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cnn.registry import MODELS, method_arg

    from srchain.cli import add_output_options, positive_int

    parser.add_argument("--model", default="vgg9", choices=tuple(MODELS), help="network (Appendix H.1)")
    parser.add_argument(
        "--method",
        default="bc-adam",
        type=method_arg,
        help="adam, bc-adam, sr-adam, big-sr-adam, r-adam (or the -sgd forms); weights in a number format: "
        "r-bf16-adam, sr-bf16-adam, sr8-bf16-adam (8 random bits), bc-bf16-adam (fp32 master, bf16 copy), and "
        "fp16, fp8-e4m3 (fp8), fp8-e5m2 (fp8e5m2), fp4-e2m1 (fp4; per-tensor power-of-two scale) in place of bf16",
    )
    add_run_options(parser)
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="run folder: log.jsonl, checkpoint.pt, config.json (default runs/MODEL-METHOD)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument(
        "--stop-after",
        type=positive_int,
        default=None,
        metavar="E",
        help="stop after epoch E (as if interrupted; continue later with --resume)",
    )
    add_output_options(parser, plot=False)


def config_from_args(args, **over):
    """A :class:`~srchain.cnn.train.TrainConfig` from parsed options."""
    from srchain.cnn.train import TrainConfig

    kw = dict(
        model=getattr(args, "model", "vgg9"),
        method=getattr(args, "method", "bc-adam"),
        dataset=args.dataset,
        data_dir=args.data_dir,
        download=args.download,
        epochs=args.epochs,
        batch=args.batch,
        big_batch=args.big_batch,
        lr=args.lr,
        milestones=None if args.milestones is None else tuple(args.milestones),
        gamma=args.gamma,
        weight_decay=args.weight_decay,
        momentum=args.momentum,
        delta=args.delta,
        bits=args.bits,
        scale=args.scale,
        clip_latent=args.clip_latent,
        width=args.width,
        image_size=args.image_size,
        k=args.k,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        quiet=args.quiet,
        eval_batch=args.eval_batch,
        workers=args.loader_workers,
        threads=args.threads,
        max_memory=args.max_memory,
        sync_every=args.sync_every,
        channels_last=args.channels_last,
        compile=args.compile,
        deterministic=args.deterministic,
        cuda_graph=args.cuda_graph,
    )
    kw.update(over)
    return TrainConfig(**kw)


def run(args: argparse.Namespace) -> int:
    import os

    from srchain.cnn.train import train

    from srchain.io import write_json

    out = args.out or os.path.join("runs", f"{args.model}-{args.method}")
    cfg = config_from_args(args, out=out, resume=args.resume, stop_after=args.stop_after)
    try:
        res = train(cfg)
    finally:
        _shutdown_distributed()
    if res["rank"] != 0:
        return 0
    fin = res["final"]
    if args.json:
        write_json(
            args.json,
            {"command": "train", "config": res["config"], "final": fin, "out": res["out"], "stopped": res["stopped"]},
        )
    if fin is not None:
        state = "stopped" if res["stopped"] else "done"
        print(
            f"{args.model} {args.method}: epoch {fin['epoch']}, train error {fin['train_error']:.2f}%, "
            f"test error {fin['test_error']:.2f}% ({state}; log {os.path.join(out, 'log.jsonl')})"
        )
    return 0


def _shutdown_distributed():
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
