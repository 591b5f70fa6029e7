"""resiliparse extraction exactly as DCLM ran it, and its full-page (WET-like) variant.

DCLM-Pool text is ``extract_plain_text(html, main_content=True)`` with every other argument
at its default (DCLM paper, Li et al. 2024, arXiv 2406.11794, §3.1 and App. E; mlfoundations/dclm
``tools/commoncrawl/process_common_crawl_w_ray.py``): formatting preserved, list bullets and
alt texts on, links / form fields / noscript off, comment sections counted as main content.
"""

from __future__ import annotations

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree


def extract_resiliparse(html: str | HTMLTree) -> str:
    """DCLM's extractor: resiliparse main-content plain text, default options."""
    return extract_plain_text(html, main_content=True)


def extract_dclm_pool(body: bytes) -> str:
    """DCLM-Pool's text of one HTTP response body: decoded as UTF-8, then `extract_resiliparse`.

    DCLM skips a body that is not UTF-8 (``html.decode("utf-8")`` in mlfoundations/dclm
    ``tools/commoncrawl/process_common_crawl_w_ray.py``); here it is decoded
    with resiliparse's encoding detection instead, so every page of a sample yields a document.
    """
    try:
        html = body.decode("utf-8")
    except UnicodeDecodeError:
        html = bytes_to_str(body, detect_encoding(body))
    return extract_resiliparse(html)


def extract_resiliparse_full(html: str | HTMLTree) -> str:
    """All visible text of the page (``main_content=False``).

    The closest resiliparse gets to Common Crawl's WET text (which keeps menus, footers and
    sidebars); the benchmark uses it as the WET-like baseline when only HTML is at hand.
    """
    return extract_plain_text(html, main_content=False)
