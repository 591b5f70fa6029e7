"""Training throughput and MFU: gristmill's training step against a plain PyTorch reference and
against the trainer as it was before the throughput work (issue 13), side by side in one process.

Arms (their steps alternate, round after round, so machine load hits them alike; medians compared):
  * ``plain``: a from-scratch model of the same dimensions with stock modules (separate q/k/v/o
    `nn.Linear`, `nn.RMSNorm`, SwiGLU, RoPE, `F.cross_entropy` + z-loss, AdamW β2 0.95 with
    PyTorch's default implementation, clip 1.0), eager, in the precision gristmill chose;
  * ``before``: gristmill's model as of ``--baseline`` (git), eager, foreach AdamW, bf16 autocast:
    the trainer's defaults before issue 13 (``before-fp32``: the same in float32);
  * ``gristmill``: `Run.train_step` with its defaults (precision and compile chosen by hardware.py
    and the run length, fused AdamW) on a real token folder (memmap reads, masked loss, metrics);
  * ``doc-mask``: the same with ``--doc-mask`` (per-document attention), for its cost.
MFU = (6N + 12·L·d·T)·tokens/s over the peak: a GPU's datasheet bf16 peak, or on CPU the best
measured matmul in the fastest dtype this CPU has (float32 without native bf16), re-measured each
round and the best kept. ``--profile`` prints where each arm's step goes (torch.profiler).

    python benchmarks/train.py [--scale cpu-2m] [--steps 4] [--rounds 2] [--arms plain,before,gristmill]
                               [--profile] [--compile auto|on|off] [--micro-batch N[,N...]]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from gristmill.tokenize import tokenize_corpus, train_tokenizer
from gristmill.train.hardware import cpu_features, measure_matmul_peak
from gristmill.train.model import document_ids, document_mask, flops_per_token
from gristmill.train.scales import get_scale
from gristmill.train.trainer import Run, TrainOptions

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
WIKI = SHARED / "web/more/wikipedia-00000.jsonl.gz"
BASELINE = "551ba1f"  # main before issue 13: eager, foreach AdamW, bf16 autocast by default
PHASES = ("data", "forward", "loss", "forward+loss", "backward", "clip", "optimizer")
KINDS = (  # op name fragments -> kind, first match wins
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "mkldnn")),
    ("attention", ("scaled_dot_product", "flash_attention", "efficient_attention")),
    ("inductor kernels", ("Compiled", "compiled", "cpp_fused", "Torch-Compiled")),
    ("norms", ("rms_norm", "rsqrt", "aten::pow", "aten::mean")),
    ("copies/casts", ("copy_", "_to_copy", "aten::cat", "aten::clone", "contiguous")),
    ("loss (logsumexp, gather)", ("logsumexp", "log_softmax", "nll_loss", "gather", "aten::exp", "aten::amax")),
)


class RefBlock(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.qn, self.kn = nn.RMSNorm(d // heads, eps=1e-5), nn.RMSNorm(d // heads, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        h = self.n1(x)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.heads, D // self.heads).transpose(1, 2)

        def rope(t: torch.Tensor) -> torch.Tensor:
            a, b = t.chunk(2, dim=-1)
            return t * cos.to(t.dtype) + torch.cat([-b, a], dim=-1) * sin.to(t.dtype)

        q = rope(heads(self.qn(self.q(h).view(B, T, self.heads, -1)).view(B, T, D)))
        k = rope(heads(self.kn(self.k(h).view(B, T, self.heads, -1)).view(B, T, D)))
        y = F.scaled_dot_product_attention(q, k, heads(self.v(h)).to(q.dtype), is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class RefModel(nn.Module):
    def __init__(self, vocab: int, d: int, layers: int, heads: int, hidden: int, seq: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.blocks = nn.ModuleList(RefBlock(d, heads, hidden) for _ in range(layers))
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.out = nn.Linear(d, vocab, bias=False)
        hd = d // heads
        inv = 1.0 / 10000 ** (torch.arange(0, hd, 2).float() / hd)
        f = torch.outer(torch.arange(seq).float(), inv)
        self.register_buffer("cos", torch.cat([f, f], -1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat([f, f], -1).sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, self.cos, self.sin)
        return self.out(self.norm(h)).float()


def build_tokens(root: Path, vocab: int, seq_len: int) -> Path:
    with gzip.open(WIKI, "rt") as fh:
        docs = [json.loads(line) for line in itertools.islice(fh, 1500)]
    tok = root / "bpe.json"
    train_tokenizer((d["text"] for d in docs[:500]), vocab, tok)
    src = root / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    tokenize_corpus([str(src)], tok, seq_len, root / "tok", chunks=2)
    return root / "tok"


def baseline_model(commit: str, root: Path) -> type[nn.Module] | None:
    """``Transformer`` of model.py at ``commit`` (None outside a git checkout)."""
    proc = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:src/gristmill/train/model.py"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"(no 'before' arm: git show {commit} failed: {proc.stderr.strip()})")
        return None
    path = root / "model_before.py"
    path.write_text(proc.stdout)
    spec = importlib.util.spec_from_file_location("model_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_before"] = module
    spec.loader.exec_module(module)
    return module.Transformer


def plain_step(model: nn.Module, opt: torch.optim.Optimizer, vocab: int, micro: int, accum: int, seq: int,
               dev: torch.device, dtype: torch.dtype) -> Callable[[], None]:
    """One optimiser step of an eager loop: random tokens, CE + z-loss, clip, AdamW."""

    def step() -> None:
        for _ in range(accum):
            x = torch.randint(0, vocab, (micro, seq + 1), device=dev)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32), record_function("forward"):
                logits = model(x[:, :-1])
            with record_function("loss"):
                lse = torch.logsumexp(logits, -1)
                loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten()) + 1e-4 * lse.square().mean()
            with record_function("backward"):
                (loss / accum).backward()
        with record_function("clip"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        with record_function("optimizer"):
            opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return step


def doc_mask_attention_cost(run: Run, reps: int = 8) -> str:
    """Attention forward+backward alone with the causal kernel and with the document mask of the
    token folder's real rows, interleaved: the doc-mask cost without the noise of whole steps."""
    cfg = run.model_config
    rows, _ = run.data.read_rows("main", 0, run.micro)
    doc = document_ids(torch.from_numpy(rows[:, :-1]), run.data.eot_id)
    q, k, v = (torch.randn(run.micro, cfg.n_heads, cfg.seq_len, cfg.head_dim, requires_grad=True) for _ in range(3))
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(reps + 2):
        for masked in (False, True):
            t = time.perf_counter()
            mask = document_mask(doc) if masked else None
            F.scaled_dot_product_attention(q, k, v, is_causal=not masked, attn_mask=mask).sum().backward()
            if i >= 2:  # the first two are warm-up
                times[masked].append(time.perf_counter() - t)
    causal, masked = (statistics.median(times[m]) for m in (False, True))
    return (f"attention fwd+bwd of one micro-batch ({float(doc.max(1).values.float().mean()) + 1:.1f} documents per "
            f"row): causal {causal * 1e3:,.0f} ms, document mask {masked * 1e3:,.0f} ms, ratio {masked / causal:.2f}x")


def _kind(name: str) -> str:
    for kind, fragments in KINDS:
        if any(f in name for f in fragments):
            return kind
    return "other ops (elementwise, reductions)"


def profile_table(name: str, fn: Callable[[], None], steps: int) -> None:
    """Where a step's time goes: phases (wall, inclusive) and op kinds (self time) per step."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        wall = (time.perf_counter() - started) / steps
    phase_ms: dict[str, float] = defaultdict(float)
    kind_ms: dict[str, float] = defaultdict(float)
    optimizer_ops = 0.0
    for ev in prof.events():
        if ev.name in PHASES:
            phase_ms[ev.name] += ev.cpu_time_total / 1e3 / steps
            continue
        if ev.self_cpu_time_total <= 0:
            continue
        parent = ev.cpu_parent
        while parent is not None and parent.name not in PHASES:
            parent = parent.cpu_parent
        ms = ev.self_cpu_time_total / 1e3 / steps
        if parent is not None and parent.name in ("optimizer", "clip"):
            optimizer_ops += ms
            kind_ms[f"{parent.name} ops"] += ms
        else:
            kind_ms[_kind(ev.name)] += ms
    wall_ms = wall * 1e3
    print(f"\nprofile of {name}: {wall_ms:,.0f} ms/step over {steps} steps")
    print(f"  {'phase (wall, inclusive)':<38} {'ms/step':>9} {'share':>7}")
    for phase in PHASES:
        if phase in phase_ms:
            print(f"  {phase:<38} {phase_ms[phase]:9.1f} {phase_ms[phase] / wall_ms:7.1%}")
    # The phases do not nest; under the profiler their sum can pass the wall time by a little.
    rest = max(0.0, wall_ms - sum(phase_ms.values()))
    print(f"  {'other (metrics, zero_grad, Python)':<38} {rest:9.1f} {rest / wall_ms:7.1%}")
    print(f"  {'op kind (self time)':<38} {'ms/step':>9} {'share':>7}")
    for kind, ms in sorted(kind_ms.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<38} {ms:9.1f} {ms / wall_ms:7.1%}")
    overhead = max(0.0, wall_ms - sum(kind_ms.values()))
    print(f"  {'Python and dispatch (wall - ops)':<38} {overhead:9.1f} {overhead / wall_ms:7.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="cpu-2m")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per arm per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds (peak re-measured, medians over all)")
    ap.add_argument("--arms", default="plain,before,gristmill",
                    help="comma list of plain, before, before-fp32, gristmill, doc-mask")
    ap.add_argument("--micro-batch", default=None,
                    help="sequences per forward pass; a comma list adds one gristmill arm per further value")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    ap.add_argument("--compile", default="on", choices=["auto", "on", "off"],
                    help="gristmill's --compile (default on: the benchmark stands for a long run)")
    ap.add_argument("--baseline", default=BASELINE, help="git commit of the 'before' model")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler breakdown of each arm")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    scale = get_scale(args.scale)
    arms = args.arms.split(",")

    with tempfile.TemporaryDirectory() as tmp:
        tokens = build_tokens(Path(tmp), min(scale.vocab_size, 8192), scale.seq_len)
        fns: dict[str, Callable[[], None]] = {}
        first: dict[str, float] = {}
        runs = []

        micros = [int(v) for v in args.micro_batch.split(",")] if args.micro_batch else [None]

        def add_run(name: str, doc_mask: bool, micro_batch: int | None = micros[0]) -> Run:
            run = Run(scale, TrainOptions(data=str(tokens), out=str(Path(tmp) / name), max_steps=10_000,
                                          micro_batch=micro_batch, device=args.device, precision=args.precision,
                                          compile=args.compile, doc_mask=doc_mask, quiet=True))
            run.prepare()
            t = time.perf_counter()
            run.train_step()
            first[name] = time.perf_counter() - t
            fns[name] = run.train_step
            runs.append(run)
            return run

        run = add_run("gristmill Run.train_step", False)
        if "doc-mask" in arms:
            add_run("gristmill --doc-mask", True)
        for mb in micros[1:]:
            add_run(f"gristmill --micro-batch {mb}", False, mb)
        cfg, dev, micro, accum = run.model_config, run.device, run.micro, run.accum
        dims = (cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.ffn_hidden, cfg.seq_len)
        if "plain" in arms:
            torch.manual_seed(0)
            ref = RefModel(*dims).to(dev)
            opt = torch.optim.AdamW(ref.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.033)
            fns["plain PyTorch reference"] = plain_step(ref, opt, cfg.vocab_size, micro, accum, cfg.seq_len, dev,
                                                        run.amp_dtype)
        before_cls = baseline_model(args.baseline, Path(tmp)) if any(a.startswith("before") for a in arms) else None
        for arm, dtype in (("before", torch.bfloat16), ("before-fp32", torch.float32)):
            if arm in arms and before_cls is not None:
                torch.manual_seed(0)
                old = before_cls(run.model_config).to(dev)
                opt = torch.optim.AdamW(old.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.033, foreach=True)
                label = f"before ({BASELINE if args.baseline == BASELINE else args.baseline}, {'bf16' if dtype == torch.bfloat16 else 'fp32'})"
                fns[label] = plain_step(old, opt, cfg.vocab_size, micro, accum, cfg.seq_len, dev, dtype)
        if "gristmill" not in arms:
            fns.pop("gristmill Run.train_step")
        for name, fn in fns.items():
            if name not in first:  # warm-up (allocator, oneDNN primitives)
                t = time.perf_counter()
                fn()
                first[name] = time.perf_counter() - t

        fast_dtype = run.amp_dtype if dev.type == "cpu" else torch.bfloat16
        peak = run.peak if dev.type == "cuda" else 0.0
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(args.rounds):
            if dev.type == "cpu":
                peak = max(peak, measure_matmul_peak(fast_dtype))
            for _ in range(args.steps):
                for name, fn in fns.items():
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
        attention_cost = doc_mask_attention_cost(run) if "doc-mask" in arms else None
        if args.profile:
            for name, fn in fns.items():
                profile_table(name, fn, max(1, min(2, args.steps)))
        for r in runs:
            r.close()

    tokens_per_step = scale.global_batch * scale.seq_len
    fpt = flops_per_token(cfg)
    feats = cpu_features()
    print(f"\nscale {scale.name}: d={cfg.d_model} L={cfg.n_layers} heads={cfg.n_heads} T={cfg.seq_len} "
          f"vocab={cfg.vocab_size}, {tokens_per_step:,} tokens/step ({micro}x{accum} per step), device {dev}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"cpu {feats['name']!r}: kernels {feats['kernels']}, native bf16 matmul: {feats['bf16_matmul']}; "
          f"gristmill chose precision {run.precision}, compile {'on' if run.compiled else 'off'}")
    peak_src = run.peak_source if dev.type == "cuda" else f"best measured {fast_dtype} matmul over {args.rounds} rounds"
    print(f"peak {peak / 1e12:.3f} TFLOP/s ({peak_src}); {fpt / 1e6:.2f} MFLOP/token; "
          f"{args.rounds}x{args.steps} timed steps per arm, interleaved")
    tps = {name: tokens_per_step / statistics.median(ts) for name, ts in times.items()}
    plain = tps.get("plain PyTorch reference")
    before = next((v for k, v in tps.items() if k.startswith("before (") and "bf16" in k), None)
    print(f"{'arm':<30} {'ms/step':>9} {'(range)':>15} {'tokens/s':>9} {'MFU':>6} {'vs plain':>8} {'vs before':>9} "
          f"{'first step':>10}")
    for name, ts in times.items():
        mfu = fpt * tps[name] / peak if peak and math.isfinite(peak) else float("nan")
        spread = f"{min(ts) * 1000:,.0f}-{max(ts) * 1000:,.0f}"
        vs_plain = f"{tps[name] / plain:7.2f}x" if plain else "       -"
        vs_before = f"{tps[name] / before:8.2f}x" if before else "        -"
        print(f"{name:<30} {statistics.median(ts) * 1000:9,.0f} {spread:>15} {tps[name]:9,.0f} {mfu:6.1%} "
              f"{vs_plain} {vs_before} {first[name]:9.1f}s")
    if attention_cost:
        print(attention_cost)


if __name__ == "__main__":
    main()
