"""Deduplication: exact, Bloom-filter n-gram (BFF, DCLM-Baseline's) and MinHash-LSH.

Importing this package registers the global steps ``exact_dedup``, ``bff_dedup`` and
``minhash_dedup`` (`gristmill.dedup.steps`).
"""

from gristmill.dedup import steps as steps
