"""Download throughput: `gristmill download` against a bare urllib loop, side by side.

Both fetch the 15 PAGES-2026 WARC files (about 50 MB) from the same loopback mirror of
../shared/data/commoncrawl in the same process, alternately, best of several rounds. The
reference reads each URL in 1 MiB pieces into a file and nothing more; gristmill also writes
through ``.part`` files, checks sizes, fsyncs and renames. A third run takes only the first 50
records of each file (``--records 50``) and reports how much of the bytes it had to read.

On loopback the gap between the two is mostly the fsync before each rename (so that a power
cut can never leave a short file under a final name, which a rerun would skip); against the
real endpoint, where a 1 GB WARC takes tens of seconds to arrive, it is noise.

A last part measures ``--parallel``: the same files from a mirror whose every connection is
slowed to about 30 MB/s (a sleep after each 64 KiB sent: on the real internet one TCP stream is
bounded by latency and window, not by the link), fetched 1, 4 and 8 at a time.

    python benchmarks/download.py [--rounds 3] [--piece-delay 0.002]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from gristmill.io.download import download_crawl
from gristmill.testing.http_mirror import serve_directory

MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "commoncrawl"
CRAWL = "PAGES-2026"


def reference_download(base_url: str, relatives: list[str], out: Path) -> int:
    """The simplest correct-looking loop: GET, read, write. No resume, no checks."""
    total = 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for relative in relatives:
        dest = out / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        with opener.open(base_url + relative, timeout=60) as response, dest.open("wb") as fh:
            while chunk := response.read(1 << 20):
                fh.write(chunk)
                total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--piece-delay", type=float, default=0.002,
                        help="seconds per 64 KiB per connection on the slow link (default 0.002)")
    args = parser.parse_args()
    listing = gzip.decompress((MIRROR / f"crawl-data/{CRAWL}/warc.paths.gz").read_bytes())
    relatives = listing.decode().split()
    size = sum((MIRROR / r).stat().st_size for r in relatives)
    best = {"reference": float("inf"), "gristmill": float("inf"), "sample": float("inf")}
    sample_bytes = sample_fetched = 0
    with serve_directory(MIRROR) as base_url, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name in best:
                out = Path(tmp) / name
                started = time.perf_counter()
                if name == "reference":
                    assert reference_download(base_url, relatives, out) == size
                else:
                    records = 50 if name == "sample" else None
                    results = download_crawl(
                        CRAWL,
                        "warc",
                        len(relatives),
                        out,
                        records=records,
                        base_url=base_url,
                        progress=False,
                    )
                    if records:
                        sample_bytes = sum(r.bytes for r in results)
                        sample_fetched = sum(r.fetched_bytes for r in results)
                best[name] = min(best[name], time.perf_counter() - started)
                shutil.rmtree(out)
    mb = size / 1e6
    print(f"{len(relatives)} files, {mb:.1f} MB, loopback, best of {args.rounds}")
    print(
        f"  reference urllib loop : {best['reference']:.3f} s  {mb / best['reference']:7.1f} MB/s"
    )
    print(
        f"  gristmill download    : {best['gristmill']:.3f} s  {mb / best['gristmill']:7.1f} MB/s"
    )
    print(f"  ratio gristmill/reference time: {best['gristmill'] / best['reference']:.2f}")
    print(
        f"  --records 50: {best['sample']:.3f} s, read {sample_fetched / 1e6:.1f} MB "
        f"({sample_fetched / size:.0%} of the files), wrote {sample_bytes / 1e6:.1f} MB"
    )

    parallel_on_a_slow_link(relatives, size, args.piece_delay)


def parallel_on_a_slow_link(relatives: list[str], size: int, piece_delay: float) -> None:
    mb = size / 1e6
    print(f"slow link ({piece_delay * 1e3:.1f} ms per 64 KiB per connection):")
    seconds = {}
    with serve_directory(MIRROR, piece_delay=piece_delay) as base_url, \
            tempfile.TemporaryDirectory() as tmp:
        for parallel in (1, 4, 8):
            out = Path(tmp) / str(parallel)
            started = time.perf_counter()
            download_crawl(CRAWL, "warc", len(relatives), out, base_url=base_url, progress=False,
                           parallel=parallel)
            seconds[parallel] = time.perf_counter() - started
            shutil.rmtree(out)
            print(f"  --parallel {parallel}: {seconds[parallel]:.2f} s  "
                  f"{mb / seconds[parallel]:6.1f} MB/s  speed-up {seconds[1] / seconds[parallel]:.2f}x")


if __name__ == "__main__":
    main()
