"""Rendering documents to token ids and a loss mask.

Per document the stream is ``tok(prefix) + tok(text) + [EOT]`` (DCLM §6: an end-of-text token
after each document, no BOS; MeCo §1.1: the metadata prefix tokenized on its own). The mask marks
which tokens count as *targets* of the next-token loss: 0 for metadata tokens, 1 for the
document's tokens and its EOT. So the model is never trained to predict metadata, but is trained
to predict the first document token from it (MeCo §1.2).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer


@dataclass
class Rendered:
    """Token ids, loss mask and per-document token counts of a batch of documents."""

    ids: np.ndarray  # uint32, concatenation of every document's tokens
    mask: np.ndarray  # uint8, same length: 1 where the token is a loss target
    lengths: np.ndarray  # int64, tokens per document (prefix + text + EOT)
    prefix_lengths: np.ndarray  # int64, metadata tokens at the start of each document


@dataclass
class Encoded:
    """A batch as `tokenizers` returns it: one Encoding per text, id lists of the prefixes."""

    encodings: list
    prefix_ids: list


def _encode(tokenizer: Tokenizer, texts: Sequence[str]) -> list:
    # encode_batch_fast skips offset tracking (tokenizers >= 0.20); same ids as encode_batch.
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return encode(texts if isinstance(texts, list) else list(texts), add_special_tokens=False)


def encode_batch(tokenizer: Tokenizer, texts: Sequence[str], prefixes: Sequence[str] | None) -> Encoded:
    """Encode ``texts`` and their prefixes (the part that runs in Rust, without the GIL).

    Prefixes repeat across documents of one source, so each distinct prefix is encoded once.
    """
    encodings = _encode(tokenizer, texts)
    if prefixes:
        unique = sorted(set(prefixes))
        encoded = {p: e.ids for p, e in zip(unique, _encode(tokenizer, unique), strict=True)}
        prefix_ids = [encoded[p] for p in prefixes]
    else:
        prefix_ids = [()] * len(encodings)
    return Encoded(encodings, prefix_ids)


def assemble(encoded: Encoded, eot: int) -> Rendered:
    """Lay out ``prefix + text + EOT`` per document as one uint32 stream with its loss mask."""
    n = len(encoded.encodings)
    prefix_len = np.empty(n, dtype=np.int64)
    body_len = np.empty(n, dtype=np.int64)
    # array('I').extend converts a list of ints in C: the cheapest way from the per-document
    # id lists that `tokenizers` hands back to one contiguous uint32 buffer.
    buf = array("I")
    for i, (pids, enc) in enumerate(zip(encoded.prefix_ids, encoded.encodings, strict=True)):
        ids = enc.ids
        buf.extend(pids)
        buf.extend(ids)
        buf.append(eot)
        prefix_len[i] = len(pids)
        body_len[i] = len(ids) + 1
    ids_arr = np.frombuffer(buf, dtype=np.uint32) if len(buf) else np.zeros(0, np.uint32)
    # Segments alternate prefix (mask 0) and body (mask 1).
    seg_len = np.empty(2 * n, dtype=np.int64)
    seg_len[0::2] = prefix_len
    seg_len[1::2] = body_len
    mask = np.repeat(np.tile(np.array([0, 1], dtype=np.uint8), n), seg_len)
    return Rendered(ids=ids_arr, mask=mask, lengths=prefix_len + body_len, prefix_lengths=prefix_len)


def render_batch(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    prefixes: Sequence[str] | None,
    eot: int,
) -> Rendered:
    """Encode ``texts`` (each preceded by its prefix, if any) and append EOT to each."""
    return assemble(encode_batch(tokenizer, texts, prefixes), eot)
