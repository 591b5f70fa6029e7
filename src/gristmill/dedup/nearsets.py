"""Near-duplicate evaluation sets with known ground truth, built from real documents.

`build_near_duplicates` takes distinct real texts and adds, deterministically for a seed:

* ``exact``: verbatim copies of an original;
* ``edit-<r>``: copies where each word was, with probability ``r``, replaced by another word
  of the same document, deleted, or followed by an inserted word (line breaks kept);
* ``page``: distinct bodies wrapped in a per-site header and footer (boilerplate lines shared
  by every page of a site, the case BFF removes paragraph by paragraph).

Originals and pages are distinct documents (to keep); exact copies and copies at the
``duplicate_rates`` are duplicates (each cluster should keep one copy, any one); copies at other
rates are reported but not scored. `score` turns the surviving documents of a dedup run into
precision, recall and per-kind removal rates, without assuming which copy survives.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from gristmill.dedup.shingles import document_sets, jaccard, minhash_document_shingles


@dataclass(frozen=True)
class LabeledDoc:
    """One document of an evaluation set.

    Attributes:
        id, text, url: the document.
        kind: ``original``, ``page``, ``exact`` or ``edit-<rate>``.
        cluster: id of the original it copies (its own id for an original), "" for pages.
        chrome: a page's header and footer lines (shared with the other pages of its site).
    """

    id: str
    text: str
    url: str
    kind: str
    cluster: str
    chrome: tuple[str, ...] = ()


def word_edits(text: str, rate: float, rng: random.Random) -> str:
    """``text`` with each word substituted, deleted or followed by an insertion at ``rate``."""
    lines = text.split("\n")
    vocab = text.split()
    out_lines = []
    for line in lines:
        words = line.split(" ")
        out: list[str] = []
        for w in words:
            if not (w and rng.random() < rate):
                out.append(w)
                continue
            op = rng.randrange(3)  # 0 substitute, 1 delete, 2 insert after
            if op == 0:
                out.append(rng.choice(vocab))
            elif op == 2:
                out.extend([w, rng.choice(vocab)])
        out_lines.append(" ".join(out))
    return "\n".join(out_lines)


def drop_similar(texts: list[str], threshold: float = 0.5, ngram: int = 5) -> list[int]:
    """Indices of texts to keep so that no two kept texts are exact or near copies.

    Candidates share a sampled shingle (1 in 8, by hash); a later text is dropped when its
    true Jaccard similarity to a kept one reaches ``threshold``. Independent of MinHash-LSH,
    so the set it cleans does not favour any dedup method.
    """
    shingles, counts = minhash_document_shingles(texts, ngram, seed=12345)
    values, offsets = document_sets(shingles, counts)
    sets = np.split(values, offsets[1:-1])
    owners: dict[int, list[int]] = defaultdict(list)
    kept: list[int] = []
    for i, s in enumerate(sets):
        if len(s) == 0:
            continue
        sample = s[(s & np.uint64(7)) == 0].tolist() or s[:1].tolist()
        candidates = Counter(j for h in sample for j in owners.get(h, ()))
        duplicate = False
        for j, _ in candidates.most_common(20):
            if jaccard(s, sets[j]) >= threshold:
                duplicate = True
                break
        if duplicate:
            continue
        kept.append(i)
        for h in sample:
            owners[h].append(i)
    return kept


def build_near_duplicates(
    originals: list[tuple[str, str]],
    bodies: list[str],
    boilerplate: list[str],
    *,
    seed: int = 0,
    copy_fraction: float = 0.5,
    edit_rates: Iterable[float] = (0.01, 0.03, 0.10),
    sites: int = 10,
    lines_per_site: int = 4,
) -> list[LabeledDoc]:
    """An evaluation set, shuffled by ``seed``.

    Args:
        originals: distinct ``(url, text)`` documents; a ``copy_fraction`` of them get copies,
            cycling through an exact copy and one copy at each edit rate.
        bodies: distinct texts used as page bodies, spread over ``sites`` sites.
        boilerplate: candidate header/footer lines; those of 13 to 40 words are used (long
            enough to hold a 13-gram, short like real navigation and footer lines).
    """
    rng = random.Random(seed)
    rates = list(edit_rates)
    docs: list[LabeledDoc] = []
    copy_kinds = ["exact", *(f"edit-{r:g}" for r in rates)]
    chosen = [i for i in range(len(originals)) if rng.random() < copy_fraction]
    for i, (url, text) in enumerate(originals):
        docs.append(LabeledDoc(f"orig-{i}", text, url, "original", f"orig-{i}"))
    for k, i in enumerate(chosen):
        url, text = originals[i]
        kind = copy_kinds[k % len(copy_kinds)]
        copy = text
        while kind != "exact" and copy == text:  # an "edited" copy must differ from its source
            copy = word_edits(text, rates[k % len(copy_kinds) - 1], rng)
        docs.append(LabeledDoc(f"copy-{k}-of-{i}", copy, f"{url}#copy{k}", kind, f"orig-{i}"))
    lines = [ln for ln in boilerplate if 13 <= len(ln.split()) <= 40]
    rng.shuffle(lines)
    for j, body in enumerate(bodies):
        site = j % max(1, sites)
        start = (site * lines_per_site) % max(1, len(lines))
        chrome = (lines[start : start + lines_per_site] or lines[:lines_per_site]) if lines else []
        half = len(chrome) // 2
        text = "\n".join([*chrome[:half], body, *chrome[half:]])
        docs.append(LabeledDoc(f"site{site}-page-{j}", text, f"https://site{site}.example/{j}", "page",
                               "", tuple(chrome)))
    rng.shuffle(docs)
    return docs


@dataclass
class Score:
    """How a dedup run did on an evaluation set."""

    precision: float
    recall: float
    true_positives: int
    false_positives: int
    duplicates: int
    removed_by_kind: dict[str, float] = field(default_factory=dict)
    boilerplate_lines_removed: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "duplicates": self.duplicates,
            "removed_by_kind": {k: round(v, 4) for k, v in sorted(self.removed_by_kind.items())},
            "boilerplate_lines_removed": round(self.boilerplate_lines_removed, 4),
        }


def score(
    docs: list[LabeledDoc], kept: dict[str, str], duplicate_rates: Iterable[float] = (0.01, 0.03)
) -> Score:
    """Score the surviving documents ``kept`` (id -> text) of a dedup run.

    A cluster (an original and its exact / near copies at ``duplicate_rates``) of k documents
    holds k - 1 duplicates: removing up to k - 1 of its members counts as true positives,
    removing all k loses the content (one false positive) unless an unscored copy of the same
    original (a copy at another rate) survives to carry it. Removing a page or an original
    without copies is a false positive. Copies at other rates are not scored.
    """
    scored = {"exact", *(f"edit-{r:g}" for r in duplicate_rates)}
    members: dict[str, list[LabeledDoc]] = defaultdict(list)
    carried: set[str] = set()
    tp = fp = dup = 0
    for d in docs:
        if d.kind == "original" or d.kind in scored:
            members[d.cluster].append(d)
        elif d.kind == "page" and d.id not in kept:
            fp += 1
        elif d.kind != "page" and d.id in kept:
            carried.add(d.cluster)
    for cluster, group in members.items():
        removed = sum(1 for d in group if d.id not in kept)
        dup += len(group) - 1
        tp += min(removed, len(group) - 1)
        if cluster not in carried:
            fp += max(0, removed - (len(group) - 1))
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in docs:
        by_kind[d.kind][0] += d.id not in kept
        by_kind[d.kind][1] += 1
    # Boilerplate: of the kept pages carrying a header/footer line, all but one should lose it.
    carried: Counter[str] = Counter()
    still: Counter[str] = Counter()
    for d in docs:
        if d.kind == "page" and d.id in kept:
            out_lines = set(kept[d.id].split("\n"))
            for line in set(d.chrome):
                carried[line] += 1
                still[line] += line in out_lines
    extra = sum(max(0, n - 1) for n in carried.values())
    removed_lines = sum(min(carried[ln] - still[ln], max(0, carried[ln] - 1)) for ln in carried)
    return Score(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / dup if dup else 1.0,
        true_positives=tp,
        false_positives=fp,
        duplicates=dup,
        removed_by_kind={k: r / n for k, (r, n) in by_kind.items()},
        boilerplate_lines_removed=removed_lines / extra if extra else 0.0,
    )
