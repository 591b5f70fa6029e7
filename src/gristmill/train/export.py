"""Export a gristmill checkpoint as a Hugging Face `transformers` model.

Our architecture (model.py: pre-norm RMSNorm, per-head qk RMSNorm, SwiGLU, rotate-half RoPE, no
biases, untied embeddings) is exactly the stock Qwen3 decoder with ``num_key_value_heads =
num_attention_heads`` and no sliding window, so the export is a plain ``Qwen3ForCausalLM`` folder
(config.json + model.safetensors + tokenizer files): ``AutoModelForCausalLM.from_pretrained`` and
lm-evaluation-harness (``--model hf``) load it without ``trust_remote_code``. The fused ``qkv`` and
``w12`` projections are split into q/k/v and gate/up; nothing else changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gristmill.core.errors import GristmillError
from gristmill.io.atomic import give_usual_mode
from gristmill.tokenize.vocab import EOT_TOKEN, load_tokenizer, tokenizer_sha256
from gristmill.train import checkpoint as ckpt
from gristmill.train.model import ModelConfig

FORMATS = ("hf",)


def to_hf_state_dict(sd: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Rename (and split) our tensors into Qwen3ForCausalLM's names."""
    d, h = cfg.d_model, cfg.ffn_hidden
    out = {
        "model.embed_tokens.weight": sd["embed.weight"],
        "model.norm.weight": sd["norm.weight"],
        "lm_head.weight": sd["head.weight"],
    }
    for i in range(cfg.n_layers):
        src, dst = f"layers.{i}.", f"model.layers.{i}."
        qkv = sd[src + "attn.qkv.weight"]
        w12 = sd[src + "ffn.w12.weight"]
        out |= {
            dst + "input_layernorm.weight": sd[src + "attn_norm.weight"],
            dst + "self_attn.q_proj.weight": qkv[:d],
            dst + "self_attn.k_proj.weight": qkv[d : 2 * d],
            dst + "self_attn.v_proj.weight": qkv[2 * d :],
            dst + "self_attn.q_norm.weight": sd[src + "attn.q_norm.weight"],
            dst + "self_attn.k_norm.weight": sd[src + "attn.k_norm.weight"],
            dst + "self_attn.o_proj.weight": sd[src + "attn.out.weight"],
            dst + "post_attention_layernorm.weight": sd[src + "ffn_norm.weight"],
            dst + "mlp.gate_proj.weight": w12[:h],
            dst + "mlp.up_proj.weight": w12[h:],
            dst + "mlp.down_proj.weight": sd[src + "ffn.w3.weight"],
        }
    return {k: v.contiguous().clone() for k, v in out.items()}


def hf_config(cfg: ModelConfig, eot: int):
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.ffn_hidden,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        head_dim=cfg.head_dim,
        hidden_act="silu",
        max_position_embeddings=cfg.seq_len,
        rms_norm_eps=cfg.norm_eps,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        attention_bias=False,
        use_sliding_window=False,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
    )


def _export_tokenizer(state: dict[str, Any], out: Path, tokenizer: str | None, seq_len: int) -> str | None:
    """Write tokenizer files next to the model; returns the tokenizer file used (or None when
    no tokenizer was given and the recorded one is gone). An explicit ``tokenizer`` must load."""
    info = state.get("tokenizer") or {}
    path = Path(tokenizer) if tokenizer else Path(info.get("path", ""))
    if not tokenizer and not path.is_file():
        return None
    if not tokenizer and info.get("sha256") and tokenizer_sha256(path) != info["sha256"]:
        raise GristmillError(f"{path} changed since training (sha256 differs); pass --tokenizer explicitly")
    # The end-of-text token is the one the tokens were made with (GPT-NeoX: <|endoftext|>;
    # other vocabularies: </s>, ...), so the exported eos/pad ids equal the config's.
    eot = load_tokenizer(path).id_to_token(int(state.get("eot_id", 0))) or EOT_TOKEN
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token=eot, bos_token=eot,
                                  pad_token=eot, model_max_length=seq_len)
    tok.save_pretrained(str(out))
    return str(path)


def export_checkpoint(checkpoint: str | Path, out: str | Path, fmt: str = "hf", tokenizer: str | None = None) -> Path:
    """Export ``checkpoint`` (a checkpoint folder, or a run folder → latest) to ``out``."""
    if fmt not in FORMATS:
        raise GristmillError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
    given = load_tokenizer(tokenizer) if tokenizer else None  # fails before anything is written
    from transformers import Qwen3ForCausalLM

    src = ckpt.resolve_checkpoint(checkpoint)
    state = ckpt.read_state(src)
    cfg = ModelConfig(**state["model"])
    if given is not None and given.get_vocab_size(with_added_tokens=True) > cfg.vocab_size:
        # Its ids past the model's embedding table would crash generate() later.
        raise GristmillError(
            f"--tokenizer {tokenizer} has {given.get_vocab_size(with_added_tokens=True):,} tokens, "
            f"more than the {cfg.vocab_size:,} the model was trained with; export with the "
            "tokenizer used for its token folder")
    config = hf_config(cfg, int(state.get("eot_id", 0)))
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config)
    model.load_state_dict(to_hf_state_dict(ckpt.load_model_tensors(src), cfg), strict=True, assign=True)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GristmillError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    give_usual_mode(out.glob("*.safetensors"))
    used = _export_tokenizer(state, out, tokenizer, cfg.seq_len)
    (out / "gristmill_export.json").write_text(json.dumps({
        "checkpoint": str(src.resolve()),
        "step": state["step"],
        "tokens_seen": state["tokens_seen"],
        "scale": state.get("scale"),
        "architecture": "Qwen3ForCausalLM",
        "tokenizer": used,
    }, indent=1))
    return out
