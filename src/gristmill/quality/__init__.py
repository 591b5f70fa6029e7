"""Model-based quality: DCLM's fastText classifier and its ablation scorers (paper §4.3-4.5).

Importing this package registers the steps ``fasttext_quality``, ``embedding_quality``,
``score_filter``, the LM scorers, and the global steps ``top_fraction``, ``semdedup`` and
``pagerank_score``. Models (fastText, torch, transformers) are imported only when a step is
set up. Source mixing is `gristmill.mix`.
"""

from gristmill.quality import lm_scorers as lm_scorers
from gristmill.quality import pagerank as pagerank
from gristmill.quality import semdedup as semdedup
from gristmill.quality import steps as steps
from gristmill.quality import top_fraction as top_fraction
