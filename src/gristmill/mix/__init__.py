"""Source mixing: sources by weight or token budget, upsampled with stated epochs.

Importing this package registers the global step ``mix`` (`gristmill.mix.steps`).
"""

from gristmill.mix import steps as steps
