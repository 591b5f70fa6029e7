"""Rendering documents to token ids and a loss mask.

Per document the stream is ``tok(prefix) + tok(text) + [EOT]`` (DCLM §6: an end-of-text token
after each document, no BOS; MeCo §1.1: the metadata prefix tokenized on its own). The mask marks
which tokens count as *targets* of the next-token loss: 0 for metadata tokens, 1 for the
document's tokens and its EOT. So the model is never trained to predict metadata, but is trained
to predict the first document token from it (MeCo §1.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from tokenizers import Tokenizer

#: Documents encoded per `encode_batch` call (tokenizers parallelises within a batch).
BATCH_DOCS_DEFAULT = 512


@dataclass
class Rendered:
    """Token ids, loss mask and per-document token counts of a batch of documents."""

    ids: np.ndarray  # uint32, concatenation of every document's tokens
    mask: np.ndarray  # uint8, same length: 1 where the token is a loss target
    lengths: np.ndarray  # int64, tokens per document (prefix + text + EOT)


def _encode(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    # encode_batch_fast skips offset tracking (tokenizers >= 0.20); same ids as encode_batch.
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return [e.ids for e in encode(list(texts), add_special_tokens=False)]


def render_batch(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    prefixes: Sequence[str] | None,
    eot: int,
) -> Rendered:
    """Encode ``texts`` (each preceded by its prefix, if any) and append EOT to each.

    Prefixes repeat across documents of one source, so each distinct prefix is encoded once.
    """
    doc_ids = _encode(tokenizer, texts)
    n = len(doc_ids)
    eot_piece = (eot,)
    if prefixes:
        unique = sorted(set(prefixes))
        encoded = dict(zip(unique, _encode(tokenizer, unique), strict=True))
        prefix_ids = [encoded[p] for p in prefixes]
    else:
        prefix_ids = [[] for _ in range(n)]
    prefix_len = np.fromiter((len(p) for p in prefix_ids), dtype=np.int64, count=n)
    body_len = np.fromiter((len(d) for d in doc_ids), dtype=np.int64, count=n) + 1
    lengths = prefix_len + body_len
    total = int(lengths.sum())
    pieces = chain.from_iterable(zip(prefix_ids, doc_ids, [eot_piece] * n, strict=True))
    ids = np.fromiter(chain.from_iterable(pieces), dtype=np.uint32, count=total)
    # Segments alternate prefix (mask 0) and body (mask 1).
    seg_len = np.empty(2 * n, dtype=np.int64)
    seg_len[0::2] = prefix_len
    seg_len[1::2] = body_len
    seg_val = np.tile(np.array([0, 1], dtype=np.uint8), n)
    mask = np.repeat(seg_val, seg_len)
    return Rendered(ids=ids, mask=mask, lengths=lengths)
