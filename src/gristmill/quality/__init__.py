"""Model-based quality: DCLM's fastText classifier and its ablation scorers (paper §4.3-4.5).

Importing this package registers the steps ``fasttext_quality``, ``score_filter`` and the
global ``top_fraction`` (and, where their modules are present, the model-based scorers).
"""

from gristmill.quality import lm_scorers as lm_scorers
from gristmill.quality import steps as steps
from gristmill.quality import top_fraction as top_fraction
