"""LLM360's memorization score over every (checkpoint, data chunk) pair of a run.

Definition (Biderman et al. 2023, as LLM360 Analysis360 implements it; training.md §2.2): for a
training sequence S, prompt the model with S[0:k] and decode l tokens greedily (G);
``score = (1/l) Σ_i 1[S_{k+i} = G_{k+i}]``, a position-wise match; a sequence is fully memorized
(k-extractible) when score = 1. k = l = 32 (``cont_len`` in code); per chunk ``samples`` sequences (LLM360: 1,000,
``shuffle(seed=42)``), each the first k + l tokens of a stored training row.

The run's data order says which rows a checkpoint had read (its data cursor per phase), so each
(checkpoint, chunk) pair carries ``seen``: the share of its sampled rows that the checkpoint
had trained on. Chunks not seen yet are the control (their score is the floor of generic
predictability). Canaries planted by ``gristmill tokenize --canaries`` are the other control:
each has a known text, and the data order gives the step at which each of its copies was read;
canaries of the same generator that were never planted (``control N``) give their floor. Rows
holding canaries are not sampled as chunk rows, so chunk scores measure ordinary data.
Rows whose continuation holds tokens that are not loss targets (padding, MeCo metadata) are not
sampled, as those tokens were never trained on as targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.errors import GristmillError
from gristmill.evaluate.runner import run_checkpoints
from gristmill.evaluate.stats import mean_se
from gristmill.io.atomic import write_atomic
from gristmill.io.run_folder import read_run_config, read_state
from gristmill.tokenize.canaries import CANARY_FILE, canary_texts
from gristmill.tokenize.order import DataOrder, document_table_path, read_document_table
from gristmill.tokenize.shards import TokenDataset
from gristmill.tokenize.vocab import load_tokenizer
from gristmill.train.lm import LanguageModel
from gristmill.train.load_model import load_language_model

K = L = 32
SAMPLES = 1000
SAMPLE_SEED = 42
OUTPUT = Path("analysis") / "memorization.json"
CONTROL_CANARIES = 4  # never-planted canaries scored beside the planted ones


@dataclass
class Probe:
    """Sequences whose continuation a checkpoint is asked to reproduce."""

    label: str  # "chunk N" or "canary N"
    prompts: np.ndarray  # (n, k)
    targets: np.ndarray  # (n, cont_len)
    phase: str
    positions: np.ndarray  # row of each sequence (or copy) in its phase's stream


def _canary_part(data: TokenDataset) -> int | None:
    """The input part (file) of the token folder that holds planted canaries, if any."""
    return next((p["part"] for p in data.index["inputs"] if Path(p["path"]).name == CANARY_FILE), None)


def chunk_probes(data: TokenDataset, samples: int, k: int, cont_len: int, seed: int = SAMPLE_SEED) -> list[Probe]:
    """Per chunk, up to ``samples`` rows (seeded by chunk number) whose first k + l tokens hold
    only loss targets after the prompt. Rows holding canaries are left to the canary probes."""
    if k + cont_len > data.window:
        raise GristmillError(f"k + l = {k + cont_len} exceeds the token folder's rows of {data.window} tokens")
    canary_part = _canary_part(data)
    order = DataOrder(data) if canary_part is not None else None
    probes = []
    for phase in ("main", "cooldown"):
        bounds = data.chunk_bounds(phase)
        for i, chunk in enumerate(data.phase_chunks(phase)):
            tokens, mask = data.read_rows(phase, int(bounds[i]), chunk.sequences)
            ok = mask[:, k : k + cont_len].all(axis=1)
            if order is not None:
                spans = order.spans(chunk.number)
                ok[spans[spans[:, 1] == canary_part, 0]] = False
            rng = np.random.default_rng([seed, chunk.number])
            rows = np.sort(rng.permutation(np.flatnonzero(ok))[:samples])
            probes.append(Probe(f"chunk {chunk.number}", tokens[rows, :k], tokens[rows, k : k + cont_len], phase,
                                int(bounds[i]) + rows))
    return probes


def canary_probes(data: TokenDataset, k: int, cont_len: int, controls: int = CONTROL_CANARIES) -> list[Probe]:
    """One probe per planted canary (its first k + l tokens, and the stream row of each copy),
    then ``controls`` canaries from the same generator that were never planted: the unseen
    control, which scores the floor of the model's guessing on such text."""
    info = data.index.get("canaries")
    if not info:
        return []
    order = DataOrder(data)
    part = _canary_part(data)
    tok = load_tokenizer(data.tokenizer_path)
    count = info["count"]
    texts = canary_texts(tok, count + controls, info["seed"])
    if texts[:count] != info["texts"]:
        raise GristmillError(f"{data.root}: the canaries cannot be regenerated (tokenizer or generator changed)")
    ids = [e.ids[: k + cont_len] for e in tok.encode_batch(texts, add_special_tokens=False)]
    copies: dict[int, list[tuple[str, int]]] = {i: [] for i in range(count)}
    for phase in ("main", "cooldown"):
        bounds = data.chunk_bounds(phase)
        for ci, chunk in enumerate(data.phase_chunks(phase)):
            spans = order.spans(chunk.number)
            mine = spans[(spans[:, 1] == part) & (spans[:, 3] == 0)]  # where each copy begins
            if not len(mine):
                continue
            table = read_document_table(document_table_path(data.root, part, phase))
            for row, line in mine[:, [0, 2]].tolist():
                canary = int(table[line]["id"].split("-")[1])
                copies[canary].append((phase, int(bounds[ci]) + row))
    probes = []
    for i, seq in enumerate(ids):
        if len(seq) < k + cont_len:
            raise GristmillError(f"canary {i} has only {len(seq)} tokens (needs {k + cont_len})")
        where = copies.get(i, [])
        phase = where[0][0] if where else "main"
        label = f"canary {i}" if i < count else f"control {i - count}"
        probes.append(Probe(label, np.array([seq[:k]]), np.array([seq[k:]]), phase,
                            np.array([p for ph, p in where if ph == phase], dtype=np.int64)))
    return probes


def _seen(positions: np.ndarray, cursor: int, total: int) -> np.ndarray:
    """Whether each stream row had been read by a run whose data cursor is ``cursor``."""
    return np.full(len(positions), cursor >= total) | (positions < cursor)


def memorization_matrix(lm: LanguageModel, probes: list[Probe], cont_len: int,
                        progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Position-wise matches (n, cont_len) of greedy continuations, all probes decoded in one batch."""
    prompts = np.concatenate([p.prompts for p in probes])
    decoded = lm.greedy_continue(prompts, cont_len, progress=progress)
    targets = np.concatenate([p.targets for p in probes])
    matches = decoded == targets
    out, at = [], 0
    for p in probes:
        out.append(matches[at : at + len(p.prompts)])
        at += len(p.prompts)
    return out


def _record(probe: Probe, matches: np.ndarray, seen: np.ndarray) -> dict[str, Any]:
    score = matches.mean(axis=1) if len(matches) else np.zeros(0)
    return {"label": probe.label, "phase": probe.phase, "token_match": mean_se(score),
            "full_match": mean_se((score == 1.0).astype(np.float64)),
            "seen": float(seen.mean()) if len(seen) else 0.0, "copies": len(probe.positions),
            "copies_seen": None if probe.label.startswith("chunk") else int(seen.sum())}


def analyze_memorization(run: Path, *, samples: int = SAMPLES, k: int = K, cont_len: int = L, device: str = "cpu",
                         bf16: bool = False, progress: Callable[[str], Callable[[int], None]] | None = None
                         ) -> dict[str, Any]:
    """Memorization of every checkpoint of ``run`` on every chunk (and canary) of its data."""
    if samples < 1 or k < 1 or cont_len < 1:
        raise GristmillError("--samples, -k and -l must be at least 1")
    config = read_run_config(run)
    data = TokenDataset(config["data"]["path"])
    started = time.perf_counter()
    chunks = chunk_probes(data, samples, k, cont_len)
    canaries = canary_probes(data, k, cont_len)
    probes = chunks + canaries
    totals = {p: data.phase_rows(p) for p in ("main", "cooldown")}
    results = []
    for ckpt in run_checkpoints(run):
        state = read_state(ckpt)
        lm = load_language_model(ckpt, device=device, bf16=bf16)
        tick = progress(f"{ckpt.name}: {sum(len(p.prompts) for p in probes):,} sequences") if progress else None
        matches = memorization_matrix(lm, probes, cont_len, tick)
        records = []
        for p, m in zip(probes, matches, strict=True):
            cursor = int(state["cursor"][p.phase])
            seen = _seen(p.positions, cursor, totals[p.phase])
            records.append(_record(p, m, seen))
        results.append({"checkpoint": ckpt.name, "step": state["step"], "tokens_seen": state["tokens_seen"],
                        "cursor": state["cursor"], "chunks": records[: len(chunks)],
                        "canaries": records[len(chunks) :]})
    return {"format": "gristmill-memorization/1", "run": str(run), "k": k, "l": cont_len, "samples": samples,
            "sample_seed": SAMPLE_SEED, "data": str(data.root), "checkpoints": results,
            "seconds": round(time.perf_counter() - started, 3)}


def write_memorization(run: Path, doc: dict[str, Any]) -> Path:
    import json

    out = run / OUTPUT
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, (json.dumps(doc, indent=1) + "\n").encode())
    return out
