"""`gristmill train`: the fixed training recipe at a named scale, with a transparent run folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gristmill.cli.tokenize import COOLDOWN_SHARE
from gristmill.core.errors import GristmillError
from gristmill.core.ranges import POSITIVE, SEED, Range
from gristmill.io.lock import folder_lock

_EPILOG = """\
Scales (tokens = 20 x params x multiplier; DCLM's published hyperparameters):
  400M-1x 1B-1x 1B-5x 7B-1x 7B-2x   DCLM competition scales, seq-len 2048, GPT-NeoX vocabulary
  cpu-micro (seq 128, smoke tests) cpu-200k (seq 256, 1k BPE; full budget ~15 min on 2 cores)
  cpu-2m (seq 256, 4k BPE) cpu-10m (seq 512, 8k BPE)   train on a CPU here
The token folder's --seq-len must equal the scale's; the model's vocabulary follows the data.

Run folder:
  config.json          scale, model, schedule, options, code version (git commit, source hash)
  data_manifest.json   the token folder's index and every chunk manifest (the data order)
  metrics.jsonl        per step: loss, ce, lr, grad_norm, tokens, tokens_per_s, mfu, phase, chunk
  events.jsonl         checkpoints, the MeCo phase switch, skipped non-finite steps, resumes
  checkpoints/step-N/  model, optimizer, RNG (safetensors) + state.json (data cursor); one when
                       each data chunk is done (LLM360), at the cooldown switch and at the end
gristmill.tokenize.order.checkpoint_documents(RUN, CKPT) lists the documents a checkpoint saw.

Examples:
  gristmill train --scale cpu-2m --data tokens/ --out runs/a
  gristmill train --scale cpu-2m --data tokens/ --out runs/a --resume
  torchrun --nproc_per_node 2 -m gristmill train --scale cpu-2m --data tokens/ --out runs/ddp
  torchrun --nproc_per_node 8 -m gristmill train --scale 1B-1x --data tokens/ --out runs/1b --fsdp
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="train a model at a named scale on a token folder",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Train DCLM's fixed recipe (decoder-only transformer; AdamW β2 0.95, warmup + cosine to "
        "the minimum rate, clipping at 1.0, z-loss, bf16 autocast) at a named scale, with a run folder "
        "that shows what the model saw and how training went. Multi-process: torchrun (DDP; gloo on CPU, "
        "NCCL on CUDA; --fsdp shards on GPUs).")
    # Scale names are validated at run time so that `gristmill --help` does not import torch.
    p.add_argument("--scale", required=True, metavar="NAME", help="named scale, see below (an unknown name "
                   "lists them all)")
    p.add_argument("--data", required=True, type=Path, metavar="TOKENS", help="token folder from gristmill tokenize")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="RUN", help="run folder (new, or with --resume)")
    p.add_argument("--meco", action="store_true",
                   help="MeCo run on data tokenized with --meco: metadata chunks, then the metadata-free cooldown")
    p.add_argument("--cooldown-fraction", type=COOLDOWN_SHARE.parse, default=None, metavar="F",
                   help="share of steps in the MeCo cooldown (default: the token folder's, 0.1); 0 = none")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's latest checkpoint (same loss curve as an unbroken run)")
    p.add_argument("--max-steps", type=POSITIVE.parse, default=None, metavar="N",
                   help="shorten the run to N steps (warmup and cooldown scaled to it)")
    p.add_argument("--micro-batch", type=POSITIVE.parse, default=None, metavar="N",
                   help="sequences per forward pass per process; gradients accumulate to the global batch")
    p.add_argument("--checkpoint-every", type=POSITIVE.parse, default=None, metavar="N",
                   help="also checkpoint every N steps (besides each chunk)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto = CUDA when available, else CPU (default)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="autocast dtype; auto (default) = bf16 on GPUs and on CPUs with native bf16 matmuls "
                   "(AMX, AVX-512-bf16), fp32 on others (bf16 is slower than fp32 there)")
    p.add_argument("--fsdp", action="store_true", help="shard parameters with FSDP2 (CUDA, under torchrun)")
    p.add_argument("--compile", nargs="?", const="on", default="auto", choices=["auto", "on", "off"],
                   help="torch.compile model and loss (inductor; the compiled code is cached across runs); "
                   "auto (default) = on for runs of 300+ steps, where the gain outweighs the compile")
    p.add_argument("--doc-mask", action="store_true",
                   help="per-document attention: packed documents attend only within themselves (MeCo's "
                   "setting; default off, as DCLM)")
    p.add_argument("--seed", type=SEED.parse, default=124, metavar="S", help="initialisation seed (default 124, as DCLM)")
    p.add_argument("--peak-tflops", type=Range(0.0, low_open=True).parse, default=None, metavar="T",
                   help="peak TFLOP/s per device for MFU (default: GPU datasheet, or a measured matmul on CPU)")
    p.add_argument("--log-every", type=POSITIVE.parse, default=10, metavar="N", help="print a progress line every N steps")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return p


def run(args: argparse.Namespace) -> int:
    # OpenMP threads that spin at barriers lose whole time slices when another process holds a
    # core; sleeping waiters do not (cpu-2m on a shared 2-core machine: 2 threads 11-18 s/step
    # spinning, 8 s sleeping, 1 thread 9 s) and on an idle machine cost a wake-up of microseconds
    # per parallel op, against ops of milliseconds at the CPU scales. libgomp reads this when
    # torch loads, so it only acts before the first import; an explicit value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from gristmill.train.checkpoint import latest_checkpoint
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train

    if args.resume and latest_checkpoint(args.out) is None:
        # Starting over would silently train a new full-length run under the name of the old.
        raise GristmillError(f"{args.out} has no checkpoint to resume from; drop --resume to "
                             "start a new run there")
    if args.cooldown_fraction is not None and not args.meco:
        raise GristmillError("--cooldown-fraction is the share of the MeCo cooldown; it has no "
                             "effect without --meco")

    opts = TrainOptions(
        data=str(args.data), out=str(args.out), meco=args.meco, cooldown_fraction=args.cooldown_fraction,
        resume=args.resume, max_steps=args.max_steps, micro_batch=args.micro_batch,
        checkpoint_every=args.checkpoint_every, device=args.device, precision=args.precision,
        fsdp=args.fsdp, compile=args.compile, doc_mask=args.doc_mask, seed=args.seed, peak_tflops=args.peak_tflops,
        log_every=args.log_every, quiet=args.quiet,
    )
    scale = get_scale(args.scale)
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 holds the run folder's lock
        train(scale, opts)
        return 0
    with folder_lock(args.out, "gristmill train"):
        train(scale, opts)
    return 0
