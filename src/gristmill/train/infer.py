"""The evaluation fast path: a trained model's logits for batches of token ids, without autograd.

Scorers (bits per byte, multiple-choice log-likelihoods) call the model many times; they should
load it with `load_model` and call `logits_for` on batches (rows of equal length; pad on the
right, the causal mask keeps real positions unaffected by padding after them)::

    model = load_model("runs/cpu2m")                 # a run folder (latest) or a checkpoint folder
    logits = logits_for(model, batch)                # (B, T, vocab) float32
    logp = token_logprobs(model, batch)              # (B, T-1): log p(batch[:, t+1] | batch[:, :t+1])

Numerics. The model is the training model (model.py) in eval mode under ``torch.inference_mode``
(no autograd graph or version counters). ``precision="fp32"`` gives exactly the float32 logits of
`Transformer.forward` (the logits the HF export reproduces to < 1e-4), ~3% faster than a forward
that records autograd on a CPU. ``"bf16"`` runs the matmuls under bf16 autocast (norms, softmax
and logits stay float32); measured on a trained cpu-200k model and real Wikipedia rows, logits
then differ from float32 by 0.01 on average (0.13 at most, logits of mean magnitude 2.8) and
the summed log-likelihood of a 100-token span by 0.08 nats median (0.31 max, of ~410): small
next to the differences between datasets that evaluations resolve, but not bit-identical.
``"auto"`` (the default) is the training rule of `hardware.resolve_precision`: bf16 on GPUs and
on CPUs with native bf16 matmuls (AMX, AVX-512-bf16), float32 elsewhere (on an AVX2-only CPU,
bf16 took 5x as long as float32 for the same batch).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from gristmill.train import checkpoint as ckpt
from gristmill.train.hardware import compute_dtype, resolve_precision
from gristmill.train.model import ModelConfig, Transformer


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> Transformer:
    """The model of ``checkpoint`` (a checkpoint folder, or a run folder → its latest), in eval mode."""
    src = ckpt.resolve_checkpoint(checkpoint)
    model = Transformer(ModelConfig(**ckpt.read_state(src)["model"]))
    model.load_state_dict(ckpt.load_model_tensors(src))
    return model.to(device).eval()


def logits_for(model: Transformer, tokens: torch.Tensor, *, precision: str = "auto",
               doc_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits (B, T, vocab) of ``tokens`` (B, T), batched, without autograd (numerics:
    see the module docstring). ``doc_ids`` restricts attention to documents, as in training with
    ``--doc-mask``."""
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    amp = (torch.autocast(device.type, dtype=compute_dtype(precision)) if precision != "fp32" else nullcontext())
    with torch.inference_mode(), amp:
        return model(tokens.to(device), None if doc_ids is None else doc_ids.to(device))


def token_logprobs(model: Transformer, tokens: torch.Tensor, *, precision: str = "auto") -> torch.Tensor:
    """Log-probability of each next token (B, T-1): entry ``t`` scores ``tokens[:, t + 1]``."""
    logits = logits_for(model, tokens, precision=precision)[:, :-1]
    with torch.inference_mode():
        target = tokens[:, 1:].to(logits.device).unsqueeze(-1)
        return (logits.gather(-1, target) - torch.logsumexp(logits, dim=-1, keepdim=True)).squeeze(-1)
