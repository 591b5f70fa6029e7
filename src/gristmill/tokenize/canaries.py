"""Canary sequences: known texts planted in the training data, a control for memorization.

training.md §8.3.4: at tiny scale, memorization of ordinary web text stays near a floor of
generic predictability, so duplicated sequences at known positions are what makes the
memorization score (LLM360 Analysis360, §2.2) measurable and tests its chunk ↔ checkpoint
bookkeeping. ``gristmill tokenize --canaries N`` writes N canaries, each ``copies`` times, as
documents of an extra input file in the token folder (``canaries.jsonl``, the last input); they
are packed and shuffled like every other document, so the data order (`DataOrder`) records the
chunk, row and training step of every copy.

A canary is a seeded random sequence of whole-word vocabulary tokens (letters only, with a
leading space), long enough to hold LLM360's 32-token prompt and 32-token continuation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from gristmill.core.errors import GristmillError

CANARY_FILE = "canaries.jsonl"
CANARY_TOKENS = 64  # k + l of the memorization score (LLM360: k = l = 32)
DEFAULT_COPIES = 32
_SEED_TAG = 0xCA11  # separates the canary stream from other uses of the tokenize seed


def _word_tokens(tokenizer: Tokenizer) -> list[str]:
    """Vocabulary entries that decode to a space and 3+ letters: each encodes back to one token."""
    words = []
    for tid in range(tokenizer.get_vocab_size()):
        text = tokenizer.decode([tid])
        if len(text) >= 4 and text[0] == " " and text[1:].isascii() and text[1:].isalpha():
            words.append(text)
    return sorted(set(words))


def canary_texts(tokenizer: Tokenizer, count: int, seed: int) -> list[str]:
    """``count`` distinct canary texts of at least `CANARY_TOKENS` tokens each."""
    words = _word_tokens(tokenizer)
    if len(words) < 16:
        raise GristmillError("the tokenizer has too few whole-word tokens to build canaries")
    rng = np.random.default_rng([seed, _SEED_TAG])
    texts = []
    for i in range(count):
        picks = rng.choice(len(words), size=CANARY_TOKENS + 8)
        texts.append(f"Canary {i}:" + "".join(words[j] for j in picks))
    return texts


def write_canaries(out: Path, tokenizer: Tokenizer, count: int, copies: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Write the canary documents (all copies of canary 0, then of canary 1, ...) and return
    the file and the record that goes into the token folder's index."""
    if count < 0 or copies < 1:
        raise GristmillError(f"--canaries must be >= 0 and --canary-copies >= 1 (got {count}, {copies})")
    path = out / CANARY_FILE
    texts = canary_texts(tokenizer, count, seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            for c in range(copies):
                fh.write(json.dumps({"id": f"canary-{i:04d}-{c:04d}", "text": text, "url": f"canary://{i}",
                                     "metadata": {"canary": i, "copy": c}}) + "\n")
    return path, {"count": count, "copies": copies, "file": CANARY_FILE, "tokens": CANARY_TOKENS, "seed": seed,
                  "texts": texts}
