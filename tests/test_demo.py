"""`gristmill demo` (what `make demo` runs) end to end against a loopback Common Crawl mirror."""

from __future__ import annotations

from pathlib import Path

import orjson

from gristmill.cli import main
from gristmill.testing.http_mirror import serve_directory


def test_demo_downloads_curates_tokenizes_and_trains(shared_data: Path, tmp_path: Path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--crawl", "PAGES-2026", "--records", "60", "--assets-base-url",
            str(shared_data / "filters"), "--out", str(out), "--train-steps", "4", "--reference",
            str(shared_data / "reference" / "gutenberg.jsonl.gz"),
            str(shared_data / "web" / "more" / "wikipedia-00000.jsonl.gz")]
    with serve_directory(shared_data / "commoncrawl") as base_url:
        code = main([*args, "--base-url", base_url])
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    # Without a quality model the demo trains one and says it is a stand-in for DCLM's.
    assert "STAND-IN" in captured.err and "OpenHermes-2.5 + ELI5" in captured.err
    assert (out / "assets" / "quality_fasttext.bin.eval.json").is_file()
    for label in ("documents:", "stats:", "report:", "model:"):
        assert label in printed
    # The sample holds the first 60 WARC records of pages-00000 (a warcinfo record, then responses).
    stats = orjson.loads((out / "dclm-baseline" / "stats.json").read_bytes())
    assert stats["recipe"] == "dclm-baseline"
    names = [s["name"] for s in stats["steps"]]
    assert names[-3:] == ["bff_dedup", "fasttext_quality", "top_fraction"]
    totals = stats["totals"]
    assert totals["accounted"] and 55 <= totals["input_records"] <= 60
    # top 10% of what dedup kept, rounded up.
    ranked = stats["steps"][-1]["docs_in"]
    assert totals["kept"] == -(-ranked // 10) and 0 < totals["kept"] < ranked
    assert stats["steps"][-1]["info"]["documents_kept"] == totals["kept"]
    assert (out / "dclm-baseline" / "report.html").read_text().count("<tr>") > 20
    metrics = (out / "model" / "metrics.jsonl").read_bytes().splitlines()
    assert 1 <= len(metrics) <= 4
    assert (out / "model-hf" / "config.json").is_file()

    # `make demo` a second time (it failed on the existing token folder): it reuses what is done.
    stats_before = (out / "dclm-baseline" / "stats.json").read_bytes()
    with serve_directory(shared_data / "commoncrawl") as base_url:
        assert main([*args, "--base-url", base_url]) == 0
    assert (out / "dclm-baseline" / "stats.json").read_bytes() == stats_before
    assert (out / "model" / "metrics.jsonl").read_bytes().splitlines() == metrics
    assert "model:" in capsys.readouterr().out
