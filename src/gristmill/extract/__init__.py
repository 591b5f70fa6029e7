"""Text extraction: raw page bytes → main text.

Public API:
    extract_page(content, content_type=..., declared_charset=..., backend=...) -> Extraction | Drop
    decode_html(content, declared=None) -> (text, charset)
    extract_cleaned(html) / extract_resiliparse(html) / extract_resiliparse_full(html) /
    extract_trafilatura(html, url=None, favor="balanced") -> str
    ExtractText: the registered ``extract_text`` step (gristmill.extract.steps).
"""

from gristmill.extract.charset import decode_html
from gristmill.extract.cleanup import extract_cleaned
from gristmill.extract.page import Extraction, extract_page
from gristmill.extract.resiliparse_backend import extract_resiliparse, extract_resiliparse_full
from gristmill.extract.trafilatura_backend import extract_trafilatura

__all__ = [
    "Extraction",
    "decode_html",
    "extract_cleaned",
    "extract_page",
    "extract_resiliparse",
    "extract_resiliparse_full",
    "extract_trafilatura",
]
