"""The training loop: DCLM's fixed recipe with LLM360-style transparency (reference/dclm.md §7,
training.md §1-2).

One run folder holds everything needed to show what the model saw and how training went::

    config.json          scale, model shape, schedule, world size, device, seed, code version
    data_manifest.json   the token folder's index and every chunk manifest (the data order)
    metrics.jsonl        one line per step: loss, ce, lr, pre-clip grad norm, tokens seen,
                         tokens/s, MFU, data phase, chunk, skipped
    events.jsonl         checkpoints, phase switches, skipped steps, resumes
    checkpoints/step-N/  safetensors model + optimizer + RNG, state.json with the data cursor

Optimisation: AdamW (β = 0.9, 0.95, ε 1e-8; decay on ≥2-D weights), linear warmup, cosine to the
minimum rate (open_lm ``cosine_lr``), gradient clipping at 1.0, bf16 autocast on CPU and CUDA,
z-loss. A checkpoint is written whenever a data chunk is completed (LLM360: ``ckpt_i`` has seen
chunks 0..i), at the MeCo cooldown switch and at the end. MeCo cooldown (§1.3) is a switch of
data phase at ``(1 - cooldown_fraction) × total steps``; the learning-rate schedule continues.
Steps with a non-finite loss or gradient norm are skipped (no update) and logged.
Multi-process: ``torchrun --nproc_per_node N gristmill train ...`` (DDP; gloo on CPU, NCCL on
CUDA; ``--fsdp`` shards with FSDP2 on GPUs). Every rank reads the whole global batch's mask so the
loss is normalised by the global count of target tokens, making 1 and N processes equivalent.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function

from gristmill.core.errors import GristmillError
from gristmill.core.version import code_version
from gristmill.io.atomic import write_atomic
from gristmill.tokenize.shards import TokenDataset
from gristmill.train import checkpoint as ckpt
from gristmill.train.distributed import Dist, resolve_device
from gristmill.train.hardware import (
    PRECISIONS,
    compute_dtype,
    cpu_features,
    peak_flops,
    resolve_precision,
)
from gristmill.train.model import Transformer, document_ids, flops_per_token, lm_loss
from gristmill.train.scales import SCALES, Scale
from gristmill.train.schedule import cooldown_start, lr_at

ADAM_BETAS = (0.9, 0.95)  # DCLM/open_lm; MeCo: beta2 0.95 "important for avoiding loss spikes"
ADAM_EPS = 1e-8
GRAD_CLIP = 1.0
DEFAULT_SEED = 124  # DCLM's open_lm runs use seed 124
MAX_CONSECUTIVE_SKIPS = 20
#: ``--compile auto`` compiles runs of at least this many steps: on 2 CPU cores a compile takes
#: ~1 minute cold (seconds from the cache) and saves more than that within a few hundred steps.
COMPILE_AUTO_MIN_STEPS = 300


@dataclass
class TrainOptions:
    """Everything of a run besides the scale (written to config.json)."""

    data: str
    out: str
    meco: bool = False
    cooldown_fraction: float | None = None  # default: the token folder's MeCo setting (0.1)
    resume: bool = False
    max_steps: int | None = None  # shortens the schedule to this many steps (warmup scaled)
    micro_batch: int | None = None  # sequences per forward pass per process
    checkpoint_every: int | None = None  # extra checkpoints every N steps
    device: str = "auto"
    precision: str = "auto"  # bf16 where the hardware multiplies bf16 natively (hardware.py)
    fsdp: bool = False
    compile: str = "auto"  # "on", "off", or "auto": on for runs of >= COMPILE_AUTO_MIN_STEPS steps
    doc_mask: bool = False  # per-document attention (block-diagonal causal mask from EOTs)
    seed: int = DEFAULT_SEED
    peak_tflops: float | None = None
    log_every: int = 10
    quiet: bool = False


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # open_lm: no weight decay on parameters with fewer than 2 dimensions (norm gains).
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_options(opts: TrainOptions) -> None:
    """Reject option values that would otherwise be silently replaced by defaults or crash later."""
    for name in ("max_steps", "micro_batch", "checkpoint_every", "log_every"):
        value = getattr(opts, name)
        if value is not None and value < 1:
            raise GristmillError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if opts.precision not in PRECISIONS:
        raise GristmillError(f"unknown precision {opts.precision!r} ({', '.join(PRECISIONS)})")
    if opts.compile not in ("auto", "on", "off"):
        raise GristmillError(f"--compile must be auto, on or off, got {opts.compile!r}")
    if opts.cooldown_fraction is not None and not 0.0 <= opts.cooldown_fraction < 1.0:
        raise GristmillError(f"--cooldown-fraction must be in [0, 1), got {opts.cooldown_fraction}")


def _forward_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor,
                  doc_ids: torch.Tensor | None, z_loss: float,
                  denominator: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return lm_loss(model(x, doc_ids), y, m, z_loss, denominator)


class Run:
    """One training run (also the unit the tests drive step by step)."""

    def __init__(self, scale: Scale, opts: TrainOptions) -> None:
        self.scale, self.opts = scale, opts
        _check_options(opts)
        self.dist = Dist("cuda" if opts.device == "cuda" or (opts.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = resolve_device(opts.device, self.dist.local_rank)
        if scale.fsdp and self.device.type == "cpu":
            # A DCLM scale on CPU would run for years (and one 400M step of 512 x 2048 tokens
            # needs ~200 GB of logits alone); refuse up front instead of appearing to hang.
            raise GristmillError(
                f"scale {scale.name} ({scale.params / 1e6:,.0f}M parameters, {scale.tokens / 1e9:,.1f}B tokens, "
                f"{scale.tokens_per_step:,} tokens per step) is a GPU scale; on CPU use "
                f"{', '.join(n for n, s in SCALES.items() if not s.fsdp)}"
            )
        self.out = Path(opts.out)
        self.data = TokenDataset(opts.data)
        if self.data.seq_len != scale.seq_len:
            raise GristmillError(
                f"scale {scale.name} trains on sequences of {scale.seq_len} tokens but {opts.data} "
                f"was tokenized with --seq-len {self.data.seq_len}"
            )
        data_meco = self.data.meco.get("mode", "none") != "none"
        if opts.meco and not data_meco:
            raise GristmillError(f"--meco needs data tokenized with --meco (index of {opts.data} has mode none)")
        if data_meco and not opts.meco:
            raise GristmillError(
                f"{opts.data} carries MeCo metadata; pass --meco (with --cooldown-fraction 0 for no cooldown)"
            )
        frac = opts.cooldown_fraction
        if frac is None:
            frac = float(self.data.meco.get("cooldown_fraction", 0.1)) if opts.meco else 0.0
        if opts.meco and frac > 0 and self.data.phase_rows("cooldown") == 0:
            raise GristmillError(f"{opts.data} has no cooldown chunks; tokenize with --cooldown-fraction > 0")
        self.cooldown_fraction = frac if opts.meco else 0.0

        self.total_steps = opts.max_steps if opts.max_steps is not None else scale.total_steps
        # A shortened run keeps the recipe's shape: warmup scaled by the same factor.
        self.warmup = max(1, round(scale.warmup * self.total_steps / scale.total_steps)) if opts.max_steps else scale.warmup
        self.cooldown_step = cooldown_start(self.total_steps, self.cooldown_fraction)
        world = self.dist.world
        if scale.global_batch % world:
            raise GristmillError(f"global batch {scale.global_batch} is not divisible by {world} processes")
        self.per_rank = scale.global_batch // world
        self.micro = min(opts.micro_batch or self.per_rank, self.per_rank)
        if self.per_rank % self.micro:
            raise GristmillError(f"--micro-batch {self.micro} must divide the {self.per_rank} sequences per process")
        self.accum = self.per_rank // self.micro

        torch.manual_seed(opts.seed)
        self.model_config = scale.model_config(self.data.vocab_size)
        self.model = Transformer(self.model_config).to(self.device)
        self.train_model: torch.nn.Module = self.model
        if opts.fsdp:
            if self.device.type != "cuda":
                raise GristmillError("--fsdp needs CUDA devices (use DDP on CPU)")
            from torch.distributed.fsdp import fully_shard

            for layer in self.model.layers:
                fully_shard(layer)
            fully_shard(self.model)
        elif world > 1:
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        # The fused AdamW kernel (CPU and CUDA) does the update in one pass over each tensor
        # instead of foreach's ~10 passes over all moments.
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model, scale.weight_decay), lr=scale.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
            fused=True,
        )
        self.compiled = opts.compile == "on" or (opts.compile == "auto" and self.total_steps >= COMPILE_AUTO_MIN_STEPS)
        # Model and loss compile as one graph: inductor fuses the elementwise work of norms,
        # RoPE, SwiGLU and the float32 logsumexp that eager PyTorch does in separate passes.
        self.forward_loss = torch.compile(_forward_loss) if self.compiled else _forward_loss
        self.compile_seconds: float | None = None
        self.precision = resolve_precision(opts.precision, self.device)
        self.amp_dtype = compute_dtype(self.precision)
        self.flops_per_token = flops_per_token(self.model_config)
        self.peak, self.peak_source = peak_flops(self.device, self.amp_dtype, opts.peak_tflops)

        self.step = 0
        self.tokens_seen = 0
        self.cursor = {"main": 0, "cooldown": 0}
        self.consecutive_skips = 0

    # ----------------------------------------------------------------------------- bookkeeping
    @property
    def is_main(self) -> bool:
        return self.dist.rank == 0

    def phase_of(self, step: int) -> str:
        return "cooldown" if step >= self.cooldown_step else "main"

    def chunks_completed(self, phase: str) -> int:
        """Chunks of ``phase`` fully consumed so far (counting repeated epochs)."""
        bounds = self.data.chunk_bounds(phase)
        total = int(bounds[-1])
        if total == 0:
            return 0
        epochs, pos = divmod(self.cursor[phase], total)
        return epochs * (len(bounds) - 1) + int(np.searchsorted(bounds[1:], pos, side="right"))

    def current_chunk(self, phase: str) -> int:
        """Number (as in the token folder) of the chunk the next row of ``phase`` comes from."""
        chunks = self.data.phase_chunks(phase)
        bounds = self.data.chunk_bounds(phase)
        pos = self.cursor[phase] % max(1, int(bounds[-1]))
        return chunks[int(np.searchsorted(bounds, pos, side="right")) - 1].number

    def tokenizer_record(self) -> dict[str, Any]:
        """The tokenizer as recorded at tokenization, with ``path`` pointing at the token
        folder's own copy (what export loads)."""
        return self.data.index["tokenizer"] | {"path": str(self.data.tokenizer_path.resolve())}

    def config_record(self) -> dict[str, Any]:
        return {
            "scale": self.scale.to_dict(),
            "model": self.model_config.to_dict(),
            "options": asdict(self.opts),
            "schedule": {
                "total_steps": self.total_steps,
                "warmup": self.warmup,
                "lr": self.scale.lr,
                "min_lr": self.scale.min_lr,
                "cooldown_start": self.cooldown_step,
                "cooldown_fraction": self.cooldown_fraction,
                "tokens_per_step": self.scale.tokens_per_step,
            },
            "parallel": {"world_size": self.dist.world, "micro_batch": self.micro, "grad_accum": self.accum,
                         "fsdp": self.opts.fsdp},
            "data": {"path": str(Path(self.opts.data).resolve()), "index_sha256": hashlib.sha256(
                (Path(self.opts.data) / "index.json").read_bytes()).hexdigest(), "tokenizer": self.tokenizer_record()},
            "code": code_version("train", "tokenize"),
            "environment": {"torch": torch.__version__, "python": platform.python_version(),
                            "device": str(self.device), "threads": torch.get_num_threads(),
                            "cpu": cpu_features(), "precision": self.precision, "compiled": self.compiled,
                            "doc_mask": self.opts.doc_mask,
                            "peak_flops": self.peak, "peak_source": self.peak_source},
        }

    def _write_json(self, name: str, obj: Any) -> None:
        write_atomic(self.out / name, json.dumps(obj, indent=1).encode())

    def _event(self, **fields: Any) -> None:
        if self.is_main:
            with open(self.out / "events.jsonl", "a") as fh:
                fh.write(json.dumps({"step": self.step, "time": round(time.time(), 3)} | fields) + "\n")

    # ------------------------------------------------------------------------------- prepare
    def prepare(self) -> None:
        """Create the run folder, or restore the latest checkpoint with --resume."""
        latest = ckpt.latest_checkpoint(self.out)
        if latest is not None and not self.opts.resume:
            raise GristmillError(f"{self.out} already holds a run; pass --resume or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        record = self.config_record()
        if latest is not None:
            try:
                previous = json.loads((self.out / "config.json").read_text())
            except (OSError, ValueError) as exc:
                raise GristmillError(f"cannot resume {self.out}: unreadable config.json ({exc})") from exc
            for key in ("scale", "model", "schedule"):
                if previous[key] != record[key]:
                    raise GristmillError(f"cannot resume {self.out}: its {key} differs from this command's")
            if previous["data"]["index_sha256"] != record["data"]["index_sha256"]:
                # The cursor indexes rows of the original token folder; other data would break
                # the data order (and the exact-resume guarantee).
                raise GristmillError(f"cannot resume {self.out}: it trained on other data than {self.opts.data} "
                                     "(index.json differs)")
            state = ckpt.restore(self.model, self.optimizer, latest)
            self.step, self.tokens_seen, self.cursor = state["step"], state["tokens_seen"], state["cursor"]
            self._truncate_metrics()
            self._event(event="resume", checkpoint=latest.name)
            return
        if self.is_main:
            self._write_json("config.json", record)
            manifests = [self.data.chunk_manifest(c.number) for c in self.data.chunks]
            self._write_json("data_manifest.json", {"index": self.data.index, "chunks": manifests})
            for name in ("metrics.jsonl", "events.jsonl"):
                (self.out / name).write_text("")
        self.dist.barrier()

    def _truncate_metrics(self) -> None:
        """Drop metric lines past the restored step (written after the checkpoint, before a kill)."""
        if not self.is_main:
            return
        path = self.out / "metrics.jsonl"
        kept = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                if json.loads(line)["step"] < self.step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError):
                break  # a line cut by the kill
        path.write_text("".join(k + "\n" for k in kept))

    # ---------------------------------------------------------------------------------- step
    def train_step(self) -> dict[str, Any]:
        """One optimiser step on the next global batch; returns its metrics line."""
        started = time.perf_counter()
        phase = self.phase_of(self.step)
        scale = self.scale
        chunk = self.current_chunk(phase)
        with record_function("data"):
            rows, mask = self.data.read_rows(phase, self.cursor[phase], scale.global_batch)
        denominator = float(mask[:, 1:].sum())
        lo = self.dist.rank * self.per_rank
        rows_t = torch.from_numpy(rows[lo : lo + self.per_rank])
        mask_t = torch.from_numpy(mask[lo : lo + self.per_rank])
        amp = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype != torch.float32 else nullcontext()
        ce_sum = z_sum = 0.0
        denominator_t = torch.tensor(max(denominator, 1.0), dtype=torch.float32, device=self.device)
        for i in range(self.accum):
            sl = slice(i * self.micro, (i + 1) * self.micro)
            x = rows_t[sl, :-1].to(self.device, non_blocking=True)
            y = rows_t[sl, 1:].to(self.device, non_blocking=True)
            m = mask_t[sl, 1:].to(self.device, non_blocking=True)
            doc = document_ids(x, self.data.eot_id) if self.opts.doc_mask else None
            sync = nullcontext()
            if isinstance(self.train_model, torch.nn.parallel.DistributedDataParallel) and i < self.accum - 1:
                sync = self.train_model.no_sync()
            with sync:
                with amp, record_function("forward+loss"):
                    loss, ce, z = self.forward_loss(self.train_model, x, y, m, doc, scale.z_loss, denominator_t)
                with record_function("backward"):
                    # DDP averages gradients over ranks; each rank's loss is a share of the global sum.
                    (loss * self.dist.world).backward()
            ce_sum += float(ce)
            z_sum += float(z)
        ce_sum, z_sum = self.dist.sum([ce_sum, z_sum])
        denom = max(denominator, 1.0)
        loss_value = (ce_sum + scale.z_loss * z_sum) / denom
        with record_function("clip"):
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()
        grad_norm = float(grad_norm)
        lr = lr_at(self.step, scale.lr, scale.min_lr, self.warmup, self.total_steps)
        skipped = not (math.isfinite(loss_value) and math.isfinite(grad_norm))
        if skipped:
            self.consecutive_skips += 1
            self._event(event="skipped", reason="non-finite loss or gradient", loss=str(loss_value),
                        grad_norm=str(grad_norm))
            if self.consecutive_skips > MAX_CONSECUTIVE_SKIPS:
                raise GristmillError(f"{self.consecutive_skips} consecutive non-finite steps at step {self.step}; stopping")
        else:
            self.consecutive_skips = 0
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with record_function("optimizer"):
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.cursor[phase] += scale.global_batch
        step_tokens = scale.global_batch * scale.seq_len
        self.tokens_seen += step_tokens
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        if self.compiled and self.compile_seconds is None:
            # The first step compiles forward and backward (or loads them from inductor's cache).
            self.compile_seconds = seconds
            self._event(event="compiled", first_step_seconds=round(seconds, 2))
        tps = step_tokens / seconds
        metrics = {
            "step": self.step,
            "loss": loss_value if not skipped else None,
            "ce": ce_sum / denom if not skipped else None,
            "lr": lr,
            "grad_norm": grad_norm if math.isfinite(grad_norm) else None,
            "tokens": self.tokens_seen,
            "tokens_per_s": round(tps, 1),
            "mfu": round(self.flops_per_token * tps / (self.peak * self.dist.world), 5) if self.peak else None,
            "phase": phase,
            "chunk": chunk,
            "skipped": skipped,
        }
        self.step += 1
        return metrics

    # ------------------------------------------------------------------------------ checkpoint
    def save(self, reason: str) -> None:
        model_sd, optim_tensors, groups = ckpt.gather_state(self.model, self.optimizer)
        if self.is_main:
            state = {
                "step": self.step,
                "tokens_seen": self.tokens_seen,
                "cursor": self.cursor,
                "chunks_completed": {p: self.chunks_completed(p) for p in ("main", "cooldown")},
                "phase": self.phase_of(max(0, self.step - 1)),
                "reason": reason,
                "scale": self.scale.name,
                "model": self.model_config.to_dict(),
                "tokenizer": self.tokenizer_record(),
                "eot_id": self.data.eot_id,
            }
            path = ckpt.save_checkpoint(self.out, self.step, model_sd, optim_tensors, groups, state)
            self._event(event="checkpoint", path=str(path.relative_to(self.out)), reason=reason,
                        chunks_completed=state["chunks_completed"])
        self.dist.barrier()

    # ------------------------------------------------------------------------------------ loop
    def run(self) -> dict[str, Any]:
        """Train to the end of the schedule; returns the last metrics line."""
        self.prepare()
        if self.step >= self.total_steps and self.is_main and not self.opts.quiet:
            print(f"{self.out} already finished its {self.total_steps} steps; nothing to do", flush=True)
        last: dict[str, Any] = {}
        metrics_path = self.out / "metrics.jsonl"
        with open(metrics_path, "a") if self.is_main else nullcontext() as fh:
            while self.step < self.total_steps:
                if self.step == self.cooldown_step and self.step > 0 and self.cooldown_fraction > 0:
                    self._event(event="phase", phase="cooldown")
                phase = self.phase_of(self.step)
                before = self.chunks_completed(phase)
                last = self.train_step()
                if fh is not None:
                    fh.write(json.dumps(last) + "\n")
                    fh.flush()
                if self.is_main and not self.opts.quiet and (self.step % self.opts.log_every == 0 or self.step == 1):
                    loss = f"{last['loss']:.4f}" if last["loss"] is not None else "skipped"
                    print(f"step {last['step']:>7} loss {loss} lr {last['lr']:.2e} "
                          f"gnorm {last['grad_norm'] or float('nan'):.3f} tok/s {last['tokens_per_s']:,.0f} "
                          f"phase {last['phase']} chunk {last['chunk']}", flush=True)
                    if self.step == 1 and self.compiled:
                        print(f"(step 0 included torch.compile: {self.compile_seconds:.0f} s; cached for "
                              "later runs of this shape)", flush=True)
                reasons = []
                if self.chunks_completed(phase) > before:
                    reasons.append("chunk")
                if self.step == self.cooldown_step and self.cooldown_fraction > 0:
                    reasons.append("cooldown-switch")
                if self.opts.checkpoint_every and self.step % self.opts.checkpoint_every == 0:
                    reasons.append("interval")
                if self.step == self.total_steps:
                    reasons.append("final")
                if reasons:
                    self.save("+".join(reasons))
        return last

    def close(self) -> None:
        self.dist.close()


def train(scale: Scale, opts: TrainOptions) -> dict[str, Any]:
    """Run (or resume) a training run to completion; returns the last metrics line."""
    torch.set_flush_denormal(True)  # denormal softmax tails slow CPU matmuls ~10× (training.md §8.1)
    run = Run(scale, opts)
    try:
        return run.run()
    finally:
        run.close()
