"""How scored token sequences are laid out in batches: context windows for long sequences,
length-sorted batches, and rows that hold one prefix with several continuations.

A question's choices share their prompt. Scoring each ``prompt + choice`` alone runs the prompt
once per choice; a shared-prefix row runs it once: ``prefix + c1[:-1] + c2[:-1] + ...``, each
continuation's rotary positions restarting right after the prefix, and an attention mask in
which a continuation sees the prefix and its own earlier tokens only. Every prediction then has
exactly the context it has alone (the keys and values of the prefix are the same numbers), so the
log-likelihoods equal full-sequence scoring up to float summation order. This is the
tree-attention layout of speculative decoding and of lm-evaluation-harness's prefix caching
without a key/value cache, so it needs only the model's hidden states (`Transformer.hidden`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

#: A group to score: a prefix and the continuations that follow it.
Group = tuple[Sequence[int], Sequence[Sequence[int]]]


def windows(n: int, max_len: int) -> Iterator[tuple[int, int]]:
    """Token ranges [a, b) of at most ``max_len + 1`` ids (``max_len`` predictions each),
    overlapping by one id so that each of tokens 1..n-1 is predicted once."""
    a = 0
    while a < n - 1:
        b = min(n, a + max_len + 1)
        yield a, b
        a = b - 1


def length_batches(items: list[tuple[int, int, int]], batch_tokens: int) -> Iterator[list[tuple[int, int, int]]]:
    """Longest items ``(key, a, b)`` first, each batch holding at most ``batch_tokens`` padded
    ids (and at least one item), so similar lengths share a batch and padding stays small."""
    order = sorted(items, key=lambda t: (-(t[2] - t[1]), t[0], t[1]))
    batch: list[tuple[int, int, int]] = []
    width = 0
    for item in order:
        width = max(width, item[2] - item[1])
        if batch and width * (len(batch) + 1) > batch_tokens:
            yield batch
            batch, width = [], item[2] - item[1]
        batch.append(item)
    if batch:
        yield batch


@dataclass
class SharedRow:
    """One packed row: group ``group``'s prefix and its continuations ``first .. first+len-1``."""

    group: int
    prefix: Sequence[int]
    continuations: list[Sequence[int]]
    first: int

    @property
    def length(self) -> int:
        return len(self.prefix) + sum(len(c) - 1 for c in self.continuations)


def shared_rows(groups: Sequence[Group], members: Sequence[int], row_cap: int) -> list[SharedRow]:
    """The rows of the given groups: each group's continuations in order, a new row whenever the
    next one would take the row past ``row_cap`` tokens (a row always takes one)."""
    rows = []
    for g in members:
        prefix, conts = groups[g]
        row = SharedRow(g, prefix, [], 0)
        for j, c in enumerate(conts):
            if row.continuations and row.length + len(c) - 1 > row_cap:
                rows.append(row)
                row = SharedRow(g, prefix, [], j)
            row.continuations.append(c)
        rows.append(row)
    return rows


@dataclass
class SharedBatch:
    """Model inputs for a batch of shared-prefix rows and where its predictions are read."""

    ids: torch.Tensor  # (B, T)
    positions: torch.Tensor  # (B, T) rotary positions
    mask: torch.Tensor  # (B, 1, T, T), True where a query may attend a key
    at: torch.Tensor  # (N, 2) (row, column) of each wanted prediction, continuation after continuation
    targets: torch.Tensor  # (N,) the token each of them predicts


def shared_batch(rows: Sequence[SharedRow], pad_id: int) -> SharedBatch:
    """Pack rows (padded to the longest). Segment 0 is the prefix, segment j+1 continuation j's
    tokens but its last (which is only predicted); a key is visible to a query at or after it in
    segment 0 or in the query's own segment. No query sees padding; a padding query sees
    itself, so no softmax row is empty."""
    width = max(r.length for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    segment = torch.full((len(rows), width), -1, dtype=torch.long)
    at: list[tuple[int, int]] = []
    targets: list[int] = []
    for r, row in enumerate(rows):
        p = len(row.prefix)
        ids[r, :p] = torch.as_tensor(list(row.prefix), dtype=torch.long)
        positions[r, :p] = torch.arange(p)
        segment[r, :p] = 0
        start = p
        for j, c in enumerate(row.continuations, 1):
            body = len(c) - 1
            ids[r, start : start + body] = torch.as_tensor(list(c[:-1]), dtype=torch.long)
            positions[r, start : start + body] = torch.arange(p, p + body)
            segment[r, start : start + body] = j
            at += [(r, p - 1)] + [(r, start + t) for t in range(body)]
            targets += list(c)
            start += body
    query, key = segment.unsqueeze(-1), segment.unsqueeze(-2)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    visible = ((key == 0) | (key == query)) & (key >= 0) & causal
    visible |= torch.eye(width, dtype=torch.bool)
    return SharedBatch(ids, positions, visible.unsqueeze(1), torch.tensor(at, dtype=torch.long),
                       torch.tensor(targets, dtype=torch.long))
