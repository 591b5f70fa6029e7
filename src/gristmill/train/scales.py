"""Named training scales: DCLM's competition scales and CPU scales that train here.

DCLM (reference/dclm.md §7, App. F, ``training/configs/*.json``): tokens = 20 × params ×
multiplier with the published parameter counts of the open_lm configs (vocab 50,432), AdamW
β2 0.95, linear warmup, cosine decay to 3e-5, gradient clipping 1.0, bf16, z-loss.

CPU scales (training.md §8.1): a small byte-level BPE vocabulary (the LM head dominates tiny
models), d ≤ 256, T = 128-512. Measured with benchmarks/train.py and full runs on the project's
2-core AMD EPYC (AVX2, so float32; compiled) while other jobs kept its load average at 8-13:
``cpu-200k`` (3.8M tokens, 932 steps) trains its full budget in 13 minutes end to end (9.5k
tokens/s, 4 of the 13 minutes a cold compile), the scale for experiments with several arms and
seeds; ``cpu-2m`` (42M tokens, 5,124 steps) runs at 0.8-1.3k tokens/s there (9-14 hours) and
``cpu-10m`` (186M tokens) at 0.2-0.35k tokens/s (a week): shorten them with --max-steps, or use
an idle or bigger machine. ``cpu-micro`` is for smoke tests and demos. Their optimiser settings
follow DCLM's small scales (peak 3e-3, wd 0.033, final 3e-5) with a warmup of ~5% of steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from gristmill.core.errors import GristmillError
from gristmill.train.model import ModelConfig, count_params

#: Chinchilla-style token budget per parameter used by DCLM for its 1x scales.
TOKENS_PER_PARAM = 20
#: DCLM pads GPT-NeoX's 50,280-token vocabulary to 50,432 embedding rows.
DCLM_VOCAB = 50_432


@dataclass(frozen=True)
class Scale:
    """A fixed training recipe. ``params`` is the parameter count the token budget is based on."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    vocab_size: int  # the vocabulary the recipe assumes (the data's tokenizer sets the real one)
    params: int
    multiplier: float
    global_batch: int  # sequences per optimiser step
    lr: float
    min_lr: float
    weight_decay: float
    warmup: int  # steps
    z_loss: float
    fsdp: bool = False
    source: str = ""

    @property
    def tokens(self) -> int:
        return int(TOKENS_PER_PARAM * self.params * self.multiplier)

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def total_steps(self) -> int:
        return math.ceil(self.tokens / self.tokens_per_step)

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model for data with ``vocab_size`` tokens, rows padded to a multiple of 64."""
        padded = 64 * math.ceil(vocab_size / 64)
        return ModelConfig(padded, self.d_model, self.n_layers, self.n_heads, self.seq_len)

    def to_dict(self) -> dict:
        return asdict(self) | {"tokens": self.tokens, "total_steps": self.total_steps}


def _dclm(name: str, d: int, layers: int, heads: int, params: int, mult: float, batch: int,
          lr: float, wd: float, warmup: int, z: float) -> Scale:
    return Scale(name, d, layers, heads, 2048, DCLM_VOCAB, params, mult, batch, lr, 3e-5, wd,
                 warmup, z, fsdp=True, source="DCLM App. F / training/configs (dclm.md §7.2)")


def _cpu(name: str, vocab: int, d: int, layers: int, heads: int, seq: int, batch: int) -> Scale:
    params = count_params(ModelConfig(vocab, d, layers, heads, seq))
    steps = math.ceil(TOKENS_PER_PARAM * params / (batch * seq))
    warmup = max(10, round(0.05 * steps))
    return Scale(name, d, layers, heads, seq, vocab, params, 1.0, batch, 3e-3, 3e-5, 0.033,
                 warmup, 1e-4, source="CPU scale (training.md §8.1)")


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        # name, d, L, heads, published params, multiplier, batch, lr, wd, warmup, z-loss
        _dclm("400M-1x", 1024, 24, 8, 411_616_256, 1, 512, 3e-3, 0.033, 2000, 1e-4),
        _dclm("1B-1x", 2048, 24, 16, 1_439_795_200, 1, 256, 3e-3, 0.033, 5000, 1e-4),
        _dclm("1B-5x", 2048, 24, 16, 1_439_795_200, 5, 256, 3e-3, 0.033, 5000, 1e-4),
        _dclm("7B-1x", 4096, 32, 32, 6_889_410_560, 1, 2048, 2e-3, 0.05, 5000, 5e-6),
        _dclm("7B-2x", 4096, 32, 32, 6_889_410_560, 2, 2048, 2e-3, 0.05, 5000, 5e-6),
        _cpu("cpu-micro", 512, 64, 2, 4, 128, 16),
        _cpu("cpu-200k", 1024, 48, 2, 3, 256, 16),
        _cpu("cpu-2m", 4096, 128, 4, 4, 256, 32),
        _cpu("cpu-10m", 8192, 256, 6, 4, 512, 32),
    )
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise GristmillError(f"unknown scale {name!r} (choose {', '.join(SCALES)})")
    return SCALES[name]
