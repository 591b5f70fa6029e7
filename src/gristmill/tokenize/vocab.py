"""Loading Hugging Face `tokenizers` JSON files and training small byte-level BPE vocabularies.

DCLM trains with the GPT-NeoX-20B tokenizer (50,280 tokens, ``<|endoftext|>`` = 0; DCLM §6).
At CPU scales the vocabulary dominates a tiny model's parameters and step time (training.md
§8.1: "use a small trained BPE (4k-16k) for CPU experiments"), so `train_tokenizer` fits a
byte-level BPE of any size with the same special end-of-text token at id 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from gristmill.core.errors import GristmillError, InputError

#: The end-of-text token of GPT-NeoX / GPT-2 style vocabularies; `train_tokenizer` puts it at id 0.
EOT_TOKEN = "<|endoftext|>"
# End-of-document tokens of other common vocabularies, tried in order when EOT_TOKEN is absent.
_EOT_CANDIDATES = (EOT_TOKEN, "<|end_of_text|>", "</s>", "<eos>", "<|eot_id|>")
# 256 byte symbols + the end-of-text token: the smallest byte-level BPE that can encode anything.
MIN_VOCAB_SIZE = 257


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a `tokenizers` JSON file, naming the file in the error when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"tokenizer file not found: {p}")
    try:
        return Tokenizer.from_file(str(p))
    except Exception as exc:  # tokenizers raises a bare Exception on malformed JSON
        raise InputError(f"{p}: not a Hugging Face tokenizers JSON file ({exc})") from exc


def tokenizer_sha256(path: str | Path) -> str:
    """Content hash of a tokenizer file, recorded in token indexes and run folders."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def eot_id(tokenizer: Tokenizer) -> int:
    """The id of the end-of-document token appended after every document."""
    for token in _EOT_CANDIDATES:
        tid = tokenizer.token_to_id(token)
        if tid is not None:
            return int(tid)
    raise GristmillError(
        f"the tokenizer has no end-of-text token (looked for {', '.join(_EOT_CANDIDATES)})"
    )


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out: str | Path | None = None,
    *,
    min_frequency: int = 2,
) -> Tokenizer:
    """Fit a byte-level BPE (GPT-2 / GPT-NeoX style pre-tokenisation) on ``texts``.

    The vocabulary holds ``<|endoftext|>`` at id 0 (as GPT-NeoX does), the 256 byte symbols and
    ``vocab_size - 257`` merges. Training is deterministic for the same texts in the same order.
    The tokenizer is saved as JSON to ``out`` when given.
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise GristmillError(f"vocab size must be at least {MIN_VOCAB_SIZE} (256 bytes + end-of-text)")
    if min_frequency < 0:
        raise GristmillError(f"min frequency must not be negative, got {min_frequency}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOT_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        tokenizer.save(str(out))
    return tokenizer
