"""Tokenize-shuffle: documents to shuffled, chunked token shards (DCLM §6, LLM360 data chunks).

`gristmill tokenize` renders each document (optionally behind a MeCo metadata prefix), appends the
end-of-text token, packs the stream of every input file into windows of ``seq_len + 1`` tokens,
shuffles all windows with one seeded permutation and writes numbered chunks (numpy memmaps) with a
JSON index, per-chunk manifests and the data order (`DataOrder`, `checkpoint_documents`: which
documents every chunk row holds and which documents a training checkpoint has seen).
"""

from gristmill.tokenize.meco import MECO_MODES, MecoConfig
from gristmill.tokenize.order import DataOrder, DocumentSpan, checkpoint_documents
from gristmill.tokenize.shards import TokenDataset
from gristmill.tokenize.vocab import eot_id, load_tokenizer, train_tokenizer

__all__ = [
    "MECO_MODES",
    "DataOrder",
    "DocumentSpan",
    "MecoConfig",
    "TokenDataset",
    "checkpoint_documents",
    "eot_id",
    "load_tokenizer",
    "tokenize_corpus",
    "train_tokenizer",
]


def __getattr__(name: str):
    # The corpus pipeline pulls in executors and readers; import it only when asked for.
    if name == "tokenize_corpus":
        from gristmill.tokenize.pipeline import tokenize_corpus

        return tokenize_corpus
    raise AttributeError(name)
