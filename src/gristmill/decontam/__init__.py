"""Decontamination: find evaluation items in training data (Llama 2 overlap, DCLM's
targeted MMLU/HellaSwag rule), report per task, optionally remove.

Importing this package registers the global step ``decontaminate``.
"""

from gristmill.decontam import steps as steps
