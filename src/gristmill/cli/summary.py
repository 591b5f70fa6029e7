"""The summary table printed at the end of a run (rich, to stderr so stdout stays parseable)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def print_run_summary(stats: dict[str, Any], console: Console | None = None) -> None:
    """Per step: documents in/out, dropped (top reasons), errors, MB in/out, CPU seconds."""
    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:  # logs and CI: rich would wrap the table at 80 columns
            console = Console(stderr=True, width=160)
    table = Table(title=f"recipe {stats['recipe']} — {stats['shards']} shard(s)")
    for col in ("step", "docs in", "docs out", "dropped", "errors", "MB in", "MB out", "cpu s"):
        table.add_column(col, justify="left" if col in ("step", "dropped") else "right",
                         no_wrap=col == "step")
    for s in stats["steps"]:
        reasons = sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:2]
        dropped = f"{s['docs_dropped']:,}"
        if reasons:
            dropped += " (" + ", ".join(f"{r}: {n:,}" for r, n in reasons) + ")"
        table.add_row(
            s["name"], f"{s['docs_in']:,}", f"{s['docs_out']:,}", dropped, f"{s['errors']:,}",
            _mb(s["bytes_in"]), _mb(s["bytes_out"]), f"{s['seconds']:.2f}",
        )
    console.print(table)
    t = stats["totals"]
    balance = "accounted" if t["accounted"] else "NOT ACCOUNTED"
    console.print(
        f"input records {t['input_records']:,} = kept {t['kept']:,} + dropped {t['dropped']:,}"
        f" + errored {t['errored']:,} ({balance})"
    )
