"""Per-document limits on extraction: page size, element nesting depth and wall time.

Each limit turns a pathological page into a counted drop (``too_large``, ``too_deep``,
``timeout``) instead of a stalled or killed worker.

Size. ``DEFAULT_MAX_BYTES`` = 10 MB. Common Crawl's fetcher truncates payloads at 1 MiB, so
crawl pages never come near it; the largest real page in the shared gold set is 5.3 MB (wceb),
so 10 MB keeps every real page we have seen with 2x headroom while bounding the DOM that
resiliparse/lxml build (several times the HTML size) per worker. The 50 MB pages the design
brief names as hostile input are refused before any parsing.

Time. ``DEFAULT_TIMEOUT_S`` = 5 s. datatrove runs trafilatura with a 1 s per-document timeout
(``datatrove.pipeline.extractors.base.BaseExtractor``, default ``timeout=1``), in a forked
sandbox process. A 10 MB page legitimately takes about 1 s in trafilatura (~9 MB/s per core in
`benchmarks/extraction.py`), so we allow 5x that; the default resiliparse path runs at >50 MB/s
and never comes near it. A generous limit also keeps outputs independent of machine speed in
practice: only pages that are pathological everywhere hit it.

The timer is ``SIGALRM`` (``setitimer(ITIMER_REAL)``), which interrupts Python code such as
trafilatura's tree walks. It is only available in the main thread of a process on POSIX.
A caller's own alarm (e.g. pytest-timeout's) is respected: ours is armed only when it would
fire first, and the caller's handler and remaining time are restored afterwards. Elsewhere —
worker threads, Windows, a caller's alarm due sooner than ours — the limit is enforced after
the fact: the extraction runs to completion and is dropped with ``timeout`` if it took longer
than the limit. Local and Ray executors run steps in the main thread of worker processes, so
the hard timer is the normal case. A C-level call (resiliparse, lxml parsing) cannot be
interrupted mid-call; the alarm fires as soon as it returns.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_TIMEOUT_S = 5.0
# Element nesting depth beyond which a page is refused (``too_deep``). resiliparse's
# main-content pass is quadratic in depth and runs in C, where the alarm cannot interrupt it: a
# 2 MB page of 200,000 nested <div>s runs for many minutes (20,000 levels: ~4 s). 512 is the
# depth at which Chromium's HTML parser stops nesting (Blink ``HTMLConstructionSite``,
# ``kMaximumHTMLParserDOMTreeDepth``), so no page renders deeper in a browser.
DEFAULT_MAX_DEPTH = 512

T = TypeVar("T")


def deeper_than(tree: Any, max_depth: int) -> bool:
    """True when a parsed resiliparse ``HTMLTree`` nests elements more than ``max_depth`` deep.

    One CSS child-combinator chain evaluated by lexbor in C: each element is checked against
    at most ``max_depth`` ancestors, so the cost is linear in the page for a fixed limit.
    """
    if tree.document is None:
        return False
    return tree.document.query_selector("*" + " > *" * max_depth) is not None


class ExtractionTimeout(BaseException):
    """Raised when one document's extraction exceeds its time limit.

    A `BaseException` on purpose: trafilatura wraps parts of its pipeline in
    ``except Exception`` (``trafilatura/core.py``), which would otherwise swallow the alarm and
    carry on with the pathological page.
    """


def _alarm_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def run_with_timeout(fn: Callable[..., T], timeout_s: float, *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)``; raise `ExtractionTimeout` if it runs past ``timeout_s``.

    ``timeout_s <= 0`` disables the limit.
    """
    if timeout_s <= 0:
        return fn(*args, **kwargs)
    start = time.monotonic()
    outer_remaining, outer_interval = signal.getitimer(signal.ITIMER_REAL) if _alarm_usable() else (0.0, 0.0)
    if not _alarm_usable() or 0 < outer_remaining <= timeout_s:
        result = fn(*args, **kwargs)
        if time.monotonic() - start > timeout_s:
            raise ExtractionTimeout(f"extraction took longer than {timeout_s:g} s")
        return result

    def on_alarm(signum: int, frame: Any) -> None:
        raise ExtractionTimeout(f"extraction exceeded {timeout_s:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # None: the previous handler was installed outside Python and cannot be reinstated.
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer_remaining > 0:  # give the caller's alarm back, minus the time we used
            left = outer_remaining - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), outer_interval)
