"""Experiments: compare curation recipes end to end at a fixed scale and token budget.

An experiment file (``experiments/*.yaml``) names a pool of crawl files, arms (a recipe, with
step overrides, and a training variant such as MeCo) and the questions that compare them. The
runner chains what the stage packages do through their Python APIs: the engine's `Pipeline`
for each recipe, a stand-in quality classifier where a recipe needs one, decontamination
reports, one tokenizer for every arm, `tokenize_corpus`, `train` at one scale and one token
budget per arm and seed, the evaluation suite, and a leaderboard with paired differences
(DCLM's fixed-training, fixed-evaluation protocol, dclm.md §2).

Every stage's output lives in a folder named by the content hash of its inputs and
configuration (`gristmill.experiment.cache`), so adding an arm runs only what is new,
rerunning a finished experiment does nothing, and a killed experiment resumes. Stages never
import this package (the import-linter layers put it above the engine).
"""

from gristmill.experiment.runner import ExperimentResult, run_experiment
from gristmill.experiment.spec import ExperimentSpec, load_experiment

__all__ = ["ExperimentResult", "ExperimentSpec", "load_experiment", "run_experiment"]
