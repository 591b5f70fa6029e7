"""Load any gristmill checkpoint or exported Hugging Face model folder as a `LanguageModel`.

The one place where evaluation and the model-based quality scorers get a model from a path, so
that both read checkpoints the same way. Accepted paths:
  * a training run folder (its latest checkpoint) or one ``checkpoints/step-N/`` folder: the
    model is built from ``state.json`` and ``model.safetensors`` (no pickles), the tokenizer is
    the one recorded at tokenization (its sha256 is checked) unless ``tokenizer=`` is given;
  * a Hugging Face model folder (``config.json`` + weights + ``tokenizer.json``, as written by
    ``gristmill export --format hf``, or any local causal LM that ``transformers`` loads without
    remote code), loaded offline with ``AutoModelForCausalLM``.

Numerics. By default the forward pass is the float32 training model in eval mode (the logits the
HF export reproduces to < 1e-4). ``bf16=True`` runs the matmuls under bf16 autocast (norms,
softmax and logits stay float32): measured on a trained cpu-200k model and real Wikipedia rows,
logits then differ from float32 by 0.01 on average (0.13 at most, for logits of mean magnitude
2.8) and the summed log-likelihood of a 100-token span by 0.08 nats median (0.31 max, of ~410):
small next to the differences between datasets that evaluations resolve, but not bit-identical.
It pays only where the hardware multiplies bf16 natively (GPUs, AMX, AVX-512-bf16; see
`gristmill.train.hardware`): on an AVX2-only CPU the same batch took 5x as long in bf16.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer

from gristmill.core.errors import GristmillError
from gristmill.io.run_folder import CONFIG, MODEL_WEIGHTS, read_state, resolve_checkpoint
from gristmill.tokenize.vocab import eot_id, load_tokenizer, tokenizer_sha256
from gristmill.train.checkpoint import load_model_tensors
from gristmill.train.lm import LanguageModel
from gristmill.train.model import KVCache, ModelConfig, Transformer, rope_tables

#: Hugging Face architectures whose logits are the output embedding of the decoder's last hidden
#: state, nothing more (no soft-capping or scaling), so the head can run on chosen positions only.
PLAIN_HEAD_MODELS = frozenset({"qwen3", "qwen2", "llama", "mistral"})


def load_language_model(path: str | Path, *, tokenizer: str | Path | None = None,
                        device: str = "cpu", bf16: bool = False) -> LanguageModel:
    """The model at ``path`` (run folder, checkpoint folder or Hugging Face folder) ready to
    score. ``bf16`` runs the forward pass under bf16 autocast (logits are still float32)."""
    p = Path(path)
    if not p.exists():
        raise GristmillError(f"model not found: {p}")
    dev = torch.device(device)
    if (p / CONFIG).is_file() and "architectures" in _json(p / CONFIG):
        lm = _load_hf(p, tokenizer, dev)
    else:
        lm = _load_checkpoint(p, tokenizer, dev)
    if bf16:
        lm.forward, lm.hidden, lm.head = (_under_bf16(f, dev) for f in (lm.forward, lm.hidden, lm.head))
        lm.autocast = True
    return lm


def _under_bf16(fn: Callable[..., torch.Tensor] | None, device: torch.device) -> Callable[..., torch.Tensor] | None:
    if fn is None:
        return None

    def run(*args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return fn(*args, **kwargs)

    return run


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GristmillError(f"{path}: unreadable JSON ({exc})") from exc


def _checkpoint_tokenizer(ckpt: Path, state: dict, override: str | Path | None) -> Tokenizer:
    if override:
        return load_tokenizer(override)
    info = state.get("tokenizer") or {}
    recorded = Path(info.get("path", ""))
    if not info.get("path") or not recorded.is_file():
        raise GristmillError(
            f"{ckpt}: the tokenizer recorded at training ({recorded or 'none'}) is not there; "
            "pass the tokenizer file explicitly")
    if info.get("sha256") and tokenizer_sha256(recorded) != info["sha256"]:
        raise GristmillError(f"{recorded} changed since training (sha256 differs); pass the tokenizer explicitly")
    return load_tokenizer(recorded)


def _check_vocab(tok: Tokenizer, vocab_size: int, where: Path) -> None:
    if tok.get_vocab_size() > vocab_size:
        raise GristmillError(
            f"{where}: the tokenizer has {tok.get_vocab_size()} tokens but the model only "
            f"{vocab_size}: they do not belong together")


def _load_checkpoint(path: Path, tokenizer: str | Path | None, device: torch.device) -> LanguageModel:
    ckpt = resolve_checkpoint(path)
    if not (ckpt / MODEL_WEIGHTS).is_file():
        raise GristmillError(f"{ckpt}: no {MODEL_WEIGHTS} in this checkpoint folder")
    state = read_state(ckpt)
    cfg = ModelConfig(**state["model"])
    tok = _checkpoint_tokenizer(ckpt, state, tokenizer)
    _check_vocab(tok, cfg.vocab_size, ckpt)
    with torch.device("meta"):
        model = Transformer(cfg)  # no random init of weights that are replaced at once
    try:
        model.load_state_dict(load_model_tensors(ckpt), strict=True, assign=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise GristmillError(f"{ckpt / MODEL_WEIGHTS}: damaged or not this model's weights ({exc})") from exc
    # RoPE tables are non-persistent buffers (still on the meta device): compute them.
    model.rope_cos, model.rope_sin = rope_tables(cfg, cfg.seq_len)
    model.eval().to(device)
    eot = int(state.get("eot_id", eot_id(tok)))
    return LanguageModel(model, tok, eot, cfg.seq_len, cfg.vocab_size, str(ckpt), "gristmill", device, model,
                         hidden=model.hidden, head=model.head, new_cache=lambda: KVCache(cfg.n_layers))


def _load_hf(path: Path, tokenizer: str | Path | None, device: torch.device) -> LanguageModel:
    import transformers
    from transformers import AutoModelForCausalLM

    tok_path = Path(tokenizer) if tokenizer else path / "tokenizer.json"
    tok = load_tokenizer(tok_path)
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise GristmillError(f"{path}: no model weights (*.safetensors) in this Hugging Face folder")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise GristmillError(f"{path}: not a causal language model transformers can load ({exc})") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)
    model.eval().to(device)
    config = model.config
    _check_vocab(tok, config.vocab_size, path)
    eos = getattr(config, "eos_token_id", None)
    eot = int(eos[0] if isinstance(eos, list) else eos) if eos is not None else eot_id(tok)
    max_len = int(getattr(config, "max_position_embeddings", 0) or 2048)

    def forward(tokens: torch.Tensor) -> torch.Tensor:
        return model(tokens, use_cache=False).logits

    lm = LanguageModel(forward, tok, eot, max_len, int(config.vocab_size), str(path), "hf", device, model)
    if getattr(config, "model_type", None) in PLAIN_HEAD_MODELS:
        lm.hidden, lm.head = _hf_hidden(model), model.get_output_embeddings()
    return lm


def _hf_hidden(model: torch.nn.Module) -> Callable[..., torch.Tensor]:
    """The decoder's final hidden states, with rotary positions and a custom attention mask,
    which `transformers` takes as given when it is 4-D: boolean for SDPA attention (True =
    attend, valid in any compute dtype), additive in the model's dtype for the others."""
    decoder = model.get_decoder()
    boolean = getattr(model.config, "_attn_implementation", None) == "sdpa"

    def hidden(tokens: torch.Tensor, *, positions: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        extra: dict[str, torch.Tensor] = {}
        if positions is not None:
            extra["position_ids"] = positions
        if mask is not None and boolean:
            extra["attention_mask"] = mask
        elif mask is not None:
            dtype = next(model.parameters()).dtype
            extra["attention_mask"] = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
                ~mask, torch.finfo(dtype).min)
        return decoder(input_ids=tokens, use_cache=False, **extra).last_hidden_state

    return hidden
