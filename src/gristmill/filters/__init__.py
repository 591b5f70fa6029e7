"""Heuristic filters: URL lists, language id, RefinedWeb / Gopher / C4 / FineWeb rules.

Importing this package registers every filter step (one module per family):

* `gristmill.filters.url`: ``url_domain_filter``, ``url_word_filter``
* `gristmill.filters.text_cleanup`: ``url_removal_modifier``, ``newline_removal_modifier``
* `gristmill.filters.language`: ``language_id``, ``language_filter``
* `gristmill.filters.length`: ``page_length_filter``
* `gristmill.filters.gopher_quality`: ``word_length_filter``, ``symbol_ratio_filter``,
  ``bullet_count_filter``, ``ellipsis_count_filter``, ``alphabetic_word_ratio_filter``,
  ``stop_word_filter``
* `gristmill.filters.gopher_repetition`: ``gopher_repetition_filter``
* `gristmill.filters.lines`: ``word_counter_enricher``, ``uppercase_ratio_line_modifier``,
  ``numeric_ratio_line_modifier``, ``counter_line_modifier``, ``line_length_modifier``,
  ``substring_line_modifier``, ``word_removal_ratio_filter``
* `gristmill.filters.c4`: ``word_length_modifier``, ``citation_removal_modifier``,
  ``punctuation_line_modifier``, ``substring_filter``, ``within_page_dedup``
* `gristmill.filters.fineweb`: ``fineweb_quality_filter``

`gristmill.filters.bases` holds the base classes rules share; `gristmill.engine.funnel`
runs a recipe's filter steps over documents in memory (tests, benchmarks, notebooks).
"""

from gristmill.filters import (  # noqa: F401  (imported to register their steps)
    c4,
    fineweb,
    gopher_quality,
    gopher_repetition,
    language,
    length,
    lines,
    text_cleanup,
    url,
)
