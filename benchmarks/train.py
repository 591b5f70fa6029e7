"""Training throughput and MFU: gristmill's training step against a plain PyTorch reference.

The reference is written here from scratch with stock modules (separate q/k/v/o `nn.Linear`,
`nn.RMSNorm`, SwiGLU, RoPE, `F.cross_entropy` + z-loss, AdamW β2 0.95, clip 1.0) at the same
dimensions, batch and precision as the named scale. gristmill's step is `Run.train_step` on a real
token folder (data read from memmaps, masked loss, grad-norm, metrics included). Steps of the two
alternate in one process; the median step time of each is compared. MFU = (6N + 12·L·d·T)·tokens/s
over the peak: the GPU datasheet bf16 peak, or on CPU the best measured matmul in the same dtype.

    python benchmarks/train.py [--scale cpu-2m] [--device auto|cpu|cuda] [--steps 10]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gristmill.tokenize import tokenize_corpus, train_tokenizer
from gristmill.train.model import flops_per_token
from gristmill.train.scales import get_scale
from gristmill.train.trainer import Run, TrainOptions

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WIKI = SHARED / "web/more/wikipedia-00000.jsonl.gz"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", default="cpu-2m")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    scale = get_scale(args.scale)

    with tempfile.TemporaryDirectory() as tmp:
        tokens = build_tokens(Path(tmp), min(scale.vocab_size, 8192), scale.seq_len)
        run = Run(scale, TrainOptions(data=str(tokens), out=str(Path(tmp) / "run"), max_steps=10_000,
                                      micro_batch=args.micro_batch, device=args.device,
                                      precision=args.precision, compile=args.compile, quiet=True))
        run.prepare()
        cfg = run.model_config
        dev = run.device
        torch.manual_seed(0)
        ref = RefModel(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.ffn_hidden, cfg.seq_len).to(dev)
        ref_fwd = torch.compile(ref) if args.compile else ref
        opt = torch.optim.AdamW(ref.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.033)
        micro, accum = run.micro, run.accum
        amp_dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32

        def ref_step() -> None:
            for _ in range(accum):
                x = torch.randint(0, cfg.vocab_size, (micro, cfg.seq_len + 1), device=dev)
                with torch.autocast(dev.type, dtype=amp_dtype, enabled=args.precision == "bf16"):
                    logits = ref_fwd(x[:, :-1])
                lse = torch.logsumexp(logits, -1)
                loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten()) + 1e-4 * lse.square().mean()
                (loss / accum).backward()
            torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def ours_step() -> None:
            run.train_step()

        times: dict[str, list[float]] = {"plain PyTorch reference": [], "gristmill Run.train_step": []}
        for _ in range(3):  # warm-up (allocator, oneDNN/cuBLAS kernels, compile)
            ref_step()
            ours_step()
        for _ in range(args.steps):
            for name, fn in (("plain PyTorch reference", ref_step), ("gristmill Run.train_step", ours_step)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        run.close()

    tokens_per_step = scale.global_batch * scale.seq_len
    fpt = flops_per_token(cfg)
    print(f"scale {scale.name}: d={cfg.d_model} L={cfg.n_layers} heads={cfg.n_heads} T={cfg.seq_len} "
          f"vocab={cfg.vocab_size}, {tokens_per_step:,} tokens/step ({micro}x{accum} per step), "
          f"{args.precision}, device {dev}, {torch.get_num_threads()} threads")
    print(f"peak {run.peak / 1e12:.3f} TFLOP/s ({run.peak_source}); {fpt / 1e6:.2f} MFLOP/token")
    base = None
    for name, ts in times.items():
        med = statistics.median(ts)
        tps = tokens_per_step / med
        base = base or tps
        mfu = fpt * tps / run.peak if run.peak and math.isfinite(run.peak) else float("nan")
        print(f"{name:<26} {med * 1000:8.1f} ms/step  {tps:>12,.0f} tokens/s  MFU {mfu:6.1%}  "
              f"ratio {tps / base:.3f}x")


if __name__ == "__main__":
    main()
