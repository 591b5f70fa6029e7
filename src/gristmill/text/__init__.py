"""Text primitives shared by filters, dedup and scoring: words, lines, n-grams, sentences.

Every tokenization lives here once; `doc_text` caches the views of a document's text so the
rules of a chain compute each of them at most once.
"""

from gristmill.text.lines import split_lines, split_paragraphs
from gristmill.text.ngrams import NgramCounter
from gristmill.text.sentences import count_sentences, split_sentences
from gristmill.text.stats import DocText, doc_text
from gristmill.text.words import (
    count_fasttext_words,
    count_tokens,
    fasttext_tokens,
    fasttext_words,
    split_words,
)

__all__ = [
    "DocText",
    "NgramCounter",
    "count_fasttext_words",
    "count_sentences",
    "count_tokens",
    "doc_text",
    "fasttext_tokens",
    "fasttext_words",
    "split_lines",
    "split_paragraphs",
    "split_sentences",
    "split_words",
]
