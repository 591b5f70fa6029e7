"""A decoder-only transformer as trained by DCLM with OpenLM (reference/dclm.md §7.1,
training.md §7), in the style of nanoGPT's single model file.

Pre-norm blocks, qk-norm, SwiGLU, rotary position embeddings (base 10,000), no biases anywhere,
untied input/output embeddings, depth-scaled init, logits in float32 and a z-loss.

Two deliberate differences from open_lm, so that `export.py` maps the model onto the stock
`transformers` Qwen3 architecture (which lm-evaluation-harness loads without remote code):
  * norms are RMSNorm (gain only) instead of open_lm's gain-only LayerNorm;
  * qk-norm normalises each head (over head_dim, as Qwen3/OLMoE-style per-head norms) instead of
    open_lm's single norm over the full ``n_heads * head_dim`` projection.
RoPE uses the "rotate half" layout, the one `transformers` uses, so no weight permutation is needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    """Shape of the model. ``ffn_hidden = 0`` means open_lm's SwiGLU width 256*ceil(8d/3/256)."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    ffn_hidden: int = 0
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.ffn_hidden == 0:
            self.ffn_hidden = 256 * math.ceil(8 * self.d_model / 3 / 256)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


def count_params(cfg: ModelConfig, *, embedding: bool = True) -> int:
    """Parameters of a model of this shape (with or without the input embedding)."""
    d, h, hd = cfg.d_model, cfg.ffn_hidden, cfg.head_dim
    per_layer = 4 * d * d + 3 * d * h + 2 * d + 2 * hd
    total = cfg.n_layers * per_layer + d + cfg.vocab_size * d  # + final norm + output head
    return total + (cfg.vocab_size * d if embedding else 0)


def flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token, PaLM appendix B / nanoGPT: 6N + 12·L·d·T (N without embeddings)."""
    return 6.0 * count_params(cfg, embedding=False) + 12.0 * cfg.n_layers * cfg.d_model * cfg.seq_len


class RMSNorm(nn.Module):
    """Gain-only RMS normalisation in float32, as `transformers`' Qwen3RMSNorm computes it.

    Through ``F.rms_norm`` on a float32 input and weight: one fused kernel (mixed dtypes, bf16
    input with the float32 gain, fall off it to five eager ops and a warning). Qwen3RMSNorm rounds
    the normalised input back to the input dtype before the gain; here it stays float32, which is
    identical in float32 and one rounding more exact under bf16 autocast. The output is float32 in
    both (a float32 gain promotes it).
    """

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps)


def rope_tables(cfg: ModelConfig, length: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, device=device).float() / cfg.head_dim)
    freqs = torch.outer(torch.arange(length, device=device).float(), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, Dh) queries/keys; "rotate half" layout as in `transformers`."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


def document_ids(tokens: torch.Tensor, eot_id: int) -> torch.Tensor:
    """The document number of each position of packed rows (B, T), counted from 0 per row.

    The tokenizer lays documents out as ``prefix + text + EOT`` (tokenize/render.py), so an EOT
    belongs to the document it ends and the next position starts a new one: a position's number
    is the count of EOTs strictly before it.
    """
    eot = (tokens == eot_id).to(torch.int32)
    return eot.cumsum(-1, dtype=torch.int32) - eot


def document_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """Block-diagonal causal mask (B, 1, T, T), True where a query may attend a key: keys of its
    own document at or before it (MeCo trains so, with flash-attn varlen: reference/training.md §1.2).
    The diagonal is always allowed, so no row is empty and softmax never sees all -inf."""
    T = doc_ids.shape[-1]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    return ((doc_ids.unsqueeze(-1) == doc_ids.unsqueeze(-2)) & causal).unsqueeze(1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)  # fused, as open_lm in_proj
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None = None, cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).unbind(2)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            if "k" in cache:
                if T != 1:
                    raise ValueError("a key/value cache extends by one token at a time")
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # Causal attention across packed documents, as DCLM trains ("little impact" of masking);
        # one decoded token (queries fewer than keys) sees every cached position.
        causal = mask is None and k.shape[2] == T
        y = F.scaled_dot_product_attention(q, k, v.to(q.dtype), attn_mask=mask, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.w12 = nn.Linear(cfg.d_model, 2 * cfg.ffn_hidden, bias=False)  # gate and up, fused
        self.w3 = nn.Linear(cfg.ffn_hidden, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None = None, cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, cache)
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg, cfg.seq_len)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """open_lm init: truncated normal (±3σ), σ = 1/√d; output projections further divided
        by √(2·(layer+1)) ("depth-scaled", Zhang et al. 2019), w3 with σ = 1/√hidden."""

        def trunc(w: torch.Tensor, std: float) -> None:
            nn.init.trunc_normal_(w, std=std, a=-3 * std, b=3 * std)

        std = self.cfg.d_model**-0.5
        trunc(self.embed.weight, std)
        trunc(self.head.weight, std)
        for i, layer in enumerate(self.layers):
            depth = (2 * (i + 1)) ** -0.5
            trunc(layer.attn.qkv.weight, std)
            trunc(layer.attn.out.weight, std * depth)
            trunc(layer.ffn.w12.weight, std)
            trunc(layer.ffn.w3.weight, self.cfg.ffn_hidden**-0.5 * depth)
        for m in self.modules():
            if isinstance(m, RMSNorm):
                m.weight.fill_(1.0)
        cos, sin = rope_tables(self.cfg, self.cfg.seq_len, self.rope_cos.device)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)

    def forward(self, tokens: torch.Tensor, doc_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) in float32 for token ids (B, T).

        ``doc_ids`` (B, T), from `document_ids`, restricts attention to each position's own
        document (per-document attention, `document_mask`); None attends across the packed row.
        Logits are the same for any batch size.
        """
        mask = document_mask(doc_ids) if doc_ids is not None else None
        return self.head(self.hidden(tokens, mask=mask)).float()

    def hidden(self, tokens: torch.Tensor, *, positions: torch.Tensor | None = None,
               mask: torch.Tensor | None = None, cache: KVCache | None = None) -> torch.Tensor:
        """The final-norm hidden states (B, T, d) that `head` maps to logits.

        Scoring uses it to run the head only where a prediction is wanted, and to score several
        continuations of one prefix in a single row: ``positions`` (B, T) are each token's
        rotary positions (default 0..T-1) and ``mask`` (B, 1, T, T) says which keys each query
        sees (default causal), so a continuation packed after another still sits right after
        the prefix and never attends to its sibling (`gristmill.train.packing`). Greedy
        decoding passes a ``cache``: the prompt first, then one token at a time, each at the
        position after the cached ones.
        """
        T = tokens.shape[1]
        start = cache.length if cache is not None else 0
        if positions is not None:
            cos, sin = self.rope_cos[positions].unsqueeze(1), self.rope_sin[positions].unsqueeze(1)
        elif self.rope_cos.shape[0] >= start + T:
            cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        elif cache is None:
            cos, sin = rope_tables(self.cfg, T, tokens.device)
        else:
            raise ValueError(f"a cached sequence may not pass the {self.rope_cos.shape[0]} positions of the model")
        x = self.embed(tokens)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache.layers[i] if cache is not None else None)
        if cache is not None:
            cache.length += T
        return self.norm(x)


class KVCache:
    """Keys and values of the positions run so far, per layer, for greedy decoding."""

    def __init__(self, n_layers: int) -> None:
        self.layers: list[dict[str, torch.Tensor]] = [{} for _ in range(n_layers)]
        self.length = 0


def lm_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    z_loss: float,
    denominator: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked cross-entropy plus z-loss (open_lm ``CrossEntropyLossWithZLoss``: z·logsumexp²).

    Only targets with ``mask == 1`` count, for both terms: masked positions (MeCo metadata,
    padding) add nothing to the loss. (open_lm averages the z-term over all positions; here it
    follows the mask so that metadata positions are fully inert.) The sums are divided by
    ``denominator`` (the number of counted targets in the whole global batch, so gradient
    accumulation and data parallelism give the same update), by default this batch's count.

    Returns ``(loss, ce_sum, z_sum)``.
    """
    lse = torch.logsumexp(logits, dim=-1)
    target_logit = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    m = mask.to(logits.dtype)
    ce_sum = ((lse - target_logit) * m).sum()
    z_sum = (lse.square() * m).sum()
    if denominator is None:
        denominator = m.sum().clamp(min=1.0)
    return (ce_sum + z_loss * z_sum) / denominator, ce_sum.detach(), z_sum.detach()
