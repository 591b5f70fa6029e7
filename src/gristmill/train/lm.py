"""A trained language model as a scorer: encode text with the model's tokenizer and score token
sequences in length-sorted batches (`gristmill.train.load_model` builds one from a path).

Evaluation (`gristmill eval`, memorization analysis) and the model-based quality scorers
(perplexity, top-k mean logit, AskLLM; DCLM paper §4.3 / Table 4) all score through this class.

Scoring is forward-only under ``torch.inference_mode``. Sequences longer than the model's
context are scored in consecutive windows that overlap by one token, so every token but the
first is predicted exactly once (each window restarts its context). Where the model exposes its
final hidden states (gristmill checkpoints; Hugging Face architectures in
`gristmill.train.load_model.PLAIN_HEAD_MODELS`), the output head and the softmax run only at the
positions a score needs, and a question's choices share one row whose prefix runs once
(`gristmill.train.packing`); on ARC-Easy zero-shot that is 2.9x fewer tokens through the model
(``benchmarks/eval.py``). Greedy decoding of gristmill checkpoints keeps a key/value cache.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from gristmill.core.errors import GristmillError
from gristmill.train.packing import (
    Group,
    SharedRow,
    length_batches,
    shared_batch,
    shared_rows,
    windows,
)

#: Fewest groups of one prefix length worth a cached (shared-prefix) batch of their own.
MIN_SHARED_GROUPS = 16
#: Most logits materialised at once when the head runs on selected positions (128 MiB of float32).
LOGIT_BUDGET = 1 << 25
#: Most attention-mask entries (rows x width²) in one shared-prefix batch: attention with an explicit
#: mask holds a score per entry and head, so long rows go a few at a time.
MASK_BUDGET = 1 << 22
#: A reduction of one batch: ``(logits (B, T, V) float32, targets (B, T)) -> (B, T, ...)``.
Reduce = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def target_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position."""
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def target_is_greedy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether the target is the arg-max token at each position (greedy decoding's choice)."""
    return logits.argmax(dim=-1) == targets


@dataclass
class LanguageModel:
    """A causal LM with its tokenizer. ``forward`` maps token ids (B, T) to float32 logits."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    tokenizer: Tokenizer
    eot_id: int
    max_len: int
    vocab_size: int
    source: str
    kind: str  # "gristmill" or "hf"
    device: torch.device
    module: torch.nn.Module
    autocast: bool = False  # the forward runs under bf16 autocast (load_language_model(bf16=True))
    #: (tokens, positions=, mask=) -> final hidden states, and hidden -> logits: where the model
    #: exposes them (gristmill checkpoints, plain-head HF exports), the head runs only on the
    #: positions a score needs and a question's choices share one row (`gristmill.train.packing`).
    hidden: Callable[..., torch.Tensor] | None = None
    head: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: A fresh key/value cache that ``hidden(..., cache=)`` fills (greedy decoding), if the model has one.
    new_cache: Callable[[], object] | None = None

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (no special tokens added)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Float32 logits for a (B, T) batch of ids, T <= ``max_len``, without autograd."""
        with torch.inference_mode():
            return self.forward(tokens.to(self.device)).float()

    def score(self, sequences: Sequence[Sequence[int]], reduce: Reduce = target_logprobs, *,
              batch_tokens: int = 16384, progress: Callable[[int], None] | None = None,
              tails: Sequence[int] | None = None) -> list[np.ndarray]:
        """``reduce`` applied at every predicted position of every sequence: for a sequence of
        n ids, an array with n-1 rows (row i is about token i+1 given tokens 0..i). Sequences
        are batched by length (at most ``batch_tokens`` padded tokens a batch) and returned in
        input order; ``progress`` is called with the number of sequences finished.

        ``tails`` (for sequences that fit one context window): only the last ``tails[i]``
        predictions of sequence i are wanted, so ``reduce`` (a softmax over the vocabulary)
        runs on those positions only and the result has ``tails[i]`` rows."""
        if any(len(s) < 2 for s in sequences):
            raise GristmillError("every scored sequence needs at least 2 tokens")
        if tails is not None and any(len(s) > self.max_len + 1 or not 0 < t < len(s)
                                     for s, t in zip(sequences, tails, strict=True)):
            raise GristmillError("tails need sequences of at most max_len + 1 tokens and 0 < tail < length")
        spans = [list(windows(len(s), self.max_len)) for s in sequences]
        flat = [(i, a, b) for i, ws in enumerate(spans) for a, b in ws]
        parts: dict[tuple[int, int], np.ndarray] = {}
        remaining = [len(ws) for ws in spans]
        for batch in length_batches(flat, batch_tokens):
            width = max(b - a for _, a, b in batch)
            ids = torch.full((len(batch), width), self.eot_id, dtype=torch.long)
            for row, (i, a, b) in enumerate(batch):
                ids[row, : b - a] = torch.as_tensor(sequences[i][a:b], dtype=torch.long)
            inputs, targets = ids[:, :-1].to(self.device), ids[:, 1:].to(self.device)
            if tails is not None:
                t = max(tails[i] for i, _, _ in batch)
                ends = torch.tensor([b - a - 1 for _, a, b in batch], device=self.device)
                pos = (ends[:, None] - t + torch.arange(t, device=self.device)).clamp(min=0)
                out = self._reduce_at(inputs, pos, targets.gather(1, pos), reduce)
            else:
                with torch.inference_mode():
                    out = reduce(self.forward(inputs).float(), targets).cpu().numpy()
            finished = 0
            for row, (i, a, b) in enumerate(batch):
                parts[i, a] = out[row, t - tails[i] :] if tails is not None else out[row, : b - a - 1]
                remaining[i] -= 1
                finished += remaining[i] == 0
            if progress and finished:
                progress(finished)
        return [np.concatenate([parts[i, a] for a, _ in ws]) for i, ws in enumerate(spans)]

    def _reduce_at(self, inputs: torch.Tensor, pos: torch.Tensor, targets: torch.Tensor, reduce: Reduce) -> np.ndarray:
        """``reduce`` at columns ``pos`` (B, t) of each row of ``inputs`` (B, T): through the
        hidden states and the head on those positions only, where the model has them."""
        with torch.inference_mode():
            if self.hidden is None:
                logits = self.forward(inputs).float()
                logits = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
                return reduce(logits, targets).cpu().numpy()
            h = self.hidden(inputs)
            h = h.gather(1, pos[..., None].expand(-1, -1, h.shape[-1]))
            values = self._reduce_hidden(h.reshape(-1, h.shape[-1]), targets.reshape(-1), reduce)
            return values.reshape(*pos.shape, *values.shape[1:])

    def _reduce_hidden(self, h: torch.Tensor, targets: torch.Tensor, reduce: Reduce) -> np.ndarray:
        """``reduce`` over the logits of hidden states (N, d), at most `LOGIT_BUDGET` logits at once."""
        step = max(1, LOGIT_BUDGET // self.vocab_size)
        out = [reduce(self.head(h[lo : lo + step]).float()[None], targets[lo : lo + step][None])[0].cpu().numpy()
               for lo in range(0, len(h), step)]
        return np.concatenate(out) if out else np.zeros((0,))

    def score_shared(self, groups: Sequence[Group], reduce: Reduce = target_logprobs, *, batch_tokens: int = 16384,
                     progress: Callable[[int], None] | None = None) -> list[list[np.ndarray]]:
        """For each ``(prefix, continuations)`` group, ``reduce`` at the positions that predict
        each continuation's tokens (one row per continuation token), equal to scoring every
        ``prefix + continuation`` alone. Where every sequence of a group fits the context, its
        prefix runs once: in one shared-prefix row for models that expose hidden states
        (gristmill checkpoints, `gristmill.train.packing`), or through a key/value cache
        (Hugging Face models; groups with the same prefix length and number of continuations
        share a batch). Other groups score each full sequence. ``progress`` gets finished groups."""
        out: list[list[np.ndarray]] = [[] for _ in groups]
        buckets: dict[tuple[int, int], list[int]] = {}
        plain, packed = [], []
        for i, (prefix, conts) in enumerate(groups):
            fits = len(prefix) >= 1 and all(c and len(prefix) + len(c) - 1 <= self.max_len for c in conts)
            if fits and len(conts) > 1 and len(prefix) > 1 and self.hidden is not None:
                packed.append(i)
            elif fits and len(conts) > 1 and self.kind == "hf" and not self.autocast:
                buckets.setdefault((len(prefix), len(conts)), []).append(i)
            else:
                plain.append(i)
        # A cached batch holds groups of one prefix length only; small buckets would mean many
        # tiny forward passes, slower than scoring their full sequences in length-sorted batches.
        for key in [k for k, members in buckets.items() if len(members) < MIN_SHARED_GROUPS]:
            plain += buckets.pop(key)
        if plain:
            plain.sort()
            seqs = [list(groups[i][0]) + list(c) for i in plain for c in groups[i][1]]
            fit = all(len(q) <= self.max_len + 1 for q in seqs)
            lens = [len(c) for i in plain for c in groups[i][1]]
            rows = iter(self.score(seqs, reduce, batch_tokens=batch_tokens, tails=lens if fit else None))
            for i in plain:
                out[i] = [next(rows)[-len(c) :] for c in groups[i][1]]
            if progress:
                progress(len(plain))
        if packed:
            self._score_packed(groups, packed, reduce, out, batch_tokens, progress)
        for (plen, n), members in sorted(buckets.items()):
            cmax = max(len(c) for i in members for c in groups[i][1])
            per = max(1, batch_tokens // (plen + n * cmax))
            for lo in range(0, len(members), per):
                batch = members[lo : lo + per]
                self._score_cached(groups, batch, n, cmax, reduce, out)
                if progress:
                    progress(len(batch))
        return out

    def _score_packed(self, groups: Sequence[Group], members: list[int], reduce: Reduce,
                      out: list[list[np.ndarray]], batch_tokens: int, progress: Callable[[int], None] | None) -> None:
        """Shared-prefix rows (a row's continuations take at most ``max_len + 1`` tokens)."""
        rows = [r for i in members for r in shared_rows(groups, [i], len(groups[i][0]) + self.max_len + 1)]
        for i in members:
            out[i] = [np.zeros(0)] * len(groups[i][1])
        left = {i: len(groups[i][1]) for i in members}
        batches = length_batches([(k, 0, r.length) for k, r in enumerate(rows)], batch_tokens)
        for chosen in (part for b in batches for part in _by_mask_budget([rows[k] for k, _, _ in b])):
            packed = shared_batch(chosen, self.eot_id)
            with torch.inference_mode():
                h = self.hidden(packed.ids.to(self.device), positions=packed.positions.to(self.device),
                                mask=packed.mask.to(self.device))
                h = h[packed.at[:, 0].to(self.device), packed.at[:, 1].to(self.device)]
                values = self._reduce_hidden(h, packed.targets.to(self.device), reduce)
            at, finished = 0, 0
            for row in chosen:
                for j, c in enumerate(row.continuations, row.first):
                    out[row.group][j] = values[at : at + len(c)]
                    at += len(c)
                left[row.group] -= len(row.continuations)
                finished += left[row.group] == 0
            if progress and finished:
                progress(finished)

    def _score_cached(self, groups, batch: list[int], n: int, cmax: int, reduce: Reduce,
                      out: list[list[np.ndarray]]) -> None:
        prefix = torch.tensor([list(groups[i][0]) for i in batch], dtype=torch.long, device=self.device)
        conts = torch.full((len(batch) * n, cmax), self.eot_id, dtype=torch.long)
        for r, c in enumerate(c for i in batch for c in groups[i][1]):
            conts[r, : len(c)] = torch.as_tensor(list(c), dtype=torch.long)
        conts = conts.to(self.device)
        with torch.inference_mode():
            first = self.module(prefix, use_cache=True)
            head = first.logits[:, -1:].float().repeat_interleave(n, dim=0)
            if cmax > 1:
                cache = first.past_key_values
                cache.batch_repeat_interleave(n)
                # transformers >= 5 names the argument `cache` (past_key_values is deprecated).
                name = "cache" if "cache" in inspect.signature(self.module.forward).parameters else "past_key_values"
                rest = self.module(conts[:, :-1], **{name: cache}, use_cache=False).logits.float()
                head = torch.cat([head, rest], dim=1)
            rows = reduce(head, conts).cpu().numpy()
        r = 0
        for i in batch:
            out[i] = [rows[r + j, : len(c)] for j, c in enumerate(groups[i][1])]
            r += n

    def greedy_continue(self, prompts: Sequence[Sequence[int]] | np.ndarray, steps: int, *,
                        batch_tokens: int = 16384, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Greedy decoding (``num_beams=1, do_sample=False``): the ``steps`` arg-max tokens that
        follow each prompt, as an (n, steps) array. Prompts share one length. Models with a
        key/value cache (gristmill checkpoints) run the prompt once and then one token a step,
        as ``generate`` does; others run the whole sequence again each step, keeping at most
        ``max_len`` tokens of context. ``progress`` gets finished prompts."""
        ids = torch.as_tensor(np.asarray(prompts, dtype=np.int64))
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise GristmillError("greedy decoding needs prompts of one length, at least one token each")
        rows = max(1, batch_tokens // (ids.shape[1] + steps))
        cached = self.new_cache is not None and self.hidden is not None and ids.shape[1] + steps - 1 <= self.max_len
        out = torch.empty((ids.shape[0], steps), dtype=torch.long)
        with torch.inference_mode():
            for lo in range(0, ids.shape[0], rows):
                seq = ids[lo : lo + rows].to(self.device)
                if cached:
                    out[lo : lo + len(seq)] = self._decode_cached(seq, steps).cpu()
                else:
                    for s in range(steps):
                        nxt = self._last_logits(seq[:, -self.max_len :]).argmax(dim=-1)
                        out[lo : lo + len(seq), s] = nxt.cpu()
                        seq = torch.cat([seq, nxt[:, None]], dim=1)
                if progress:
                    progress(len(seq))
        return out.numpy()

    def _decode_cached(self, prompts: torch.Tensor, steps: int) -> torch.Tensor:
        cache = self.new_cache()
        h = self.hidden(prompts, cache=cache)[:, -1]
        picked = []
        for s in range(steps):
            nxt = self.head(h).argmax(dim=-1)
            picked.append(nxt)
            if s + 1 < steps:
                h = self.hidden(nxt[:, None], cache=cache)[:, -1]
        return torch.stack(picked, dim=1)

    def _last_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of the last position of each row (the head runs there only, where it can)."""
        if self.hidden is None:
            return self.forward(tokens)[:, -1]
        return self.head(self.hidden(tokens)[:, -1])


def _by_mask_budget(rows: list[SharedRow]) -> Iterator[list[SharedRow]]:
    """``rows`` (of similar lengths) in pieces of at most `MASK_BUDGET` mask entries (at least one row)."""
    width = max(r.length for r in rows)
    per = max(1, MASK_BUDGET // (width * width))
    for lo in range(0, len(rows), per):
        yield rows[lo : lo + per]
