"""`gristmill train`: the fixed training recipe at a named scale, with a transparent run folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="train a model at a named scale on a token folder",
        description="Train DCLM's fixed recipe (AdamW β2 0.95, warmup + cosine, clip 1.0, z-loss, bf16) at a "
        "named scale. The run folder gets config.json, data_manifest.json, metrics.jsonl (per step), "
        "events.jsonl and a safetensors checkpoint per data chunk. Multi-process: torchrun "
        "--nproc_per_node N gristmill train ... (DDP; --fsdp on GPUs).")
    # Scale names are validated at run time so that `gristmill --help` does not import torch.
    p.add_argument("--scale", required=True, help="named scale: 400M-1x, 1B-1x, 1B-5x, 7B-1x, 7B-2x "
                   "(DCLM) or cpu-micro, cpu-2m, cpu-10m (CPU); an unknown name lists them all")
    p.add_argument("--data", required=True, type=Path, metavar="TOKENS", help="token folder from gristmill tokenize")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="RUN", help="run folder")
    p.add_argument("--meco", action="store_true", help="MeCo run: metadata data, then the metadata-free cooldown")
    p.add_argument("--cooldown-fraction", type=float, default=None,
                   help="share of steps in the MeCo cooldown (default: the token folder's, 0.1)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    p.add_argument("--max-steps", type=int, default=None,
                   help="shorten the run to N steps (warmup and cooldown scaled to it)")
    p.add_argument("--micro-batch", type=int, default=None, help="sequences per forward pass per process")
    p.add_argument("--checkpoint-every", type=int, default=None, help="also checkpoint every N steps")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="autocast dtype (default bf16)")
    p.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP2 (CUDA, under torchrun)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--seed", type=int, default=124, help="initialisation seed (DCLM: 124)")
    p.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s for MFU (default: GPU datasheet "
                   "or a measured matmul on CPU)")
    p.add_argument("--log-every", type=int, default=10, help="print a progress line every N steps")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train

    opts = TrainOptions(
        data=str(args.data), out=str(args.out), meco=args.meco, cooldown_fraction=args.cooldown_fraction,
        resume=args.resume, max_steps=args.max_steps, micro_batch=args.micro_batch,
        checkpoint_every=args.checkpoint_every, device=args.device, precision=args.precision,
        fsdp=args.fsdp, compile=args.compile, seed=args.seed, peak_tflops=args.peak_tflops,
        log_every=args.log_every, quiet=args.quiet,
    )
    train(get_scale(args.scale), opts)
    return 0
