"""DCLM's model-based ablation scorers (paper §4.3, Table 4) on a local language model.

Models load only through `gristmill.train.load_model.load_language_model` (a gristmill run or
checkpoint folder, or an exported / local Hugging Face causal LM folder), which scores in
length-sorted batches with context windows:

* ``perplexity_score``: CCNet-style perplexity (Wenzek et al. 2020) of the first
  ``max_tokens`` tokens under a small LM; keep low values (``top_fraction keep: low``). DCLM
  used a 154M model trained on Wikipedia, RedPajama books and peS2o.
* ``topk_logit_score``: the mean over positions of the average of the ``k`` largest logits
  (DCLM's "top-k average logits").
* ``askllm_score``: AskLLM (Sachdeva et al. 2024): the probability of " yes" after a prompt
  asking whether the document is informative for pre-training; DCLM used
  Mistral-7B-Instruct-v0.2 with documents clipped to 1024 tokens. No instruction-tuned model
  ships with gristmill: give a local model folder.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gristmill.core.document import Document
from gristmill.core.step import StepContext, register
from gristmill.quality.steps import ScoreStep

if TYPE_CHECKING:  # torch is imported by the model loader, only when a scorer is set up
    import torch

ASKLLM_PROMPT = ("###\n{document}\n###\nDoes the previous paragraph demonstrate informative "
                 "signal for pre-training a large language model? An informative datapoint "
                 "should be well-formatted, contain some usable knowledge of the world, and "
                 "strictly NOT have any harmful, racist, sexist, etc. content.\nOPTIONS:\n- yes\n"
                 "- no\nANSWER:")


class _LMScore(ScoreStep):
    def setup(self, context: StepContext) -> None:
        from gristmill.train.load_model import load_language_model

        super().setup(context)
        self.lm = load_language_model(self.config["model"], tokenizer=self.config.get("tokenizer") or None)

    def _sequences(self, docs: list[Document]) -> list[list[int]]:
        n = self.config["max_tokens"]
        return [(ids[:n] if len(ids) >= 2 else [*ids, self.lm.eot_id, self.lm.eot_id][:2])
                for ids in self.lm.encode([d.text for d in docs])]


@register("perplexity_score")
class PerplexityScore(_LMScore):
    """exp(mean negative log-likelihood) of each document's first ``max_tokens`` tokens."""

    def __init__(self, *, model: str, key: str = "perplexity", max_tokens: int = 512,
                 tokenizer: str = "") -> None:
        pass

    def scores(self, docs: list[Document]) -> list[float]:
        rows = self.lm.score(self._sequences(docs))
        return [math.exp(-float(r.mean())) for r in rows]


@register("topk_logit_score")
class TopkLogitScore(_LMScore):
    """Mean over positions of the mean of the ``k`` largest logits."""

    def __init__(self, *, model: str, key: str = "topk_mean_logit", k: int = 10, max_tokens: int = 512,
                 tokenizer: str = "") -> None:
        if k < 1:
            raise ValueError("k must be at least 1")

    def scores(self, docs: list[Document]) -> list[float]:
        k = self.config["k"]

        def reduce(logits: torch.Tensor, _targets: torch.Tensor) -> torch.Tensor:
            return logits.topk(min(k, logits.shape[-1]), dim=-1).values.mean(-1)

        return [float(r.mean()) for r in self.lm.score(self._sequences(docs), reduce)]


@register("askllm_score")
class AskLLMScore(_LMScore):
    """p(" yes") after the AskLLM prompt (module docstring); ``model`` is a local
    instruction-tuned model folder (none ships; DCLM: Mistral-7B-Instruct-v0.2)."""

    def __init__(self, *, model: str, key: str = "askllm_yes_prob", max_tokens: int = 1024,
                 answer: str = " yes", tokenizer: str = "") -> None:
        pass

    def scores(self, docs: list[Document]) -> list[float]:
        answer = self.lm.encode([self.config["answer"]])[0]
        if not answer:
            raise ValueError(f"the tokenizer cannot encode {self.config['answer']!r}")
        yes = answer[0]
        texts = [self.lm.tokenizer.decode(ids[: self.config["max_tokens"]])
                 for ids in self.lm.encode([d.text for d in docs])]
        prompts = [[*ids, yes] for ids in self.lm.encode([ASKLLM_PROMPT.format(document=t) for t in texts])]

        import torch

        def reduce(logits: torch.Tensor, _targets: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(logits, dim=-1)[..., yes]

        # The last row predicts the token after the prompt: log p(yes | prompt).
        return [math.exp(float(r[-1])) for r in self.lm.score(prompts, reduce)]
