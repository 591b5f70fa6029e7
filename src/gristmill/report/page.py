"""The frame shared by every HTML report: one self-contained page (inline style, inline SVG, one
small inline script), nothing fetched from the network.

The script makes tables with ``class="sortable"`` sortable by clicking a header, and shows any
JavaScript error in a red banner at the top (``#report-errors``), so a broken page says so.
"""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
table.sortable th{cursor:pointer}
.bar{background:#4a7;height:.8em;display:inline-block}pre{white-space:pre-wrap;background:#f8f8f8;padding:.6em}
.bad{color:#b00}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:1em}
.chart{border:1px solid #ddd}#report-errors{display:none;background:#fdd;color:#900;padding:.6em}
details{margin:.4em 0}summary{cursor:pointer}
"""

SCRIPT = """
(function(){
  var box=document.getElementById('report-errors');
  window.addEventListener('error',function(e){box.style.display='block';
    box.textContent+=(e.message||'error')+' ';});
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
      var rows=Array.prototype.slice.call(t.querySelectorAll('tr')).slice(1);
      var asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
      rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,
        y=b.cells[i].dataset.v||b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
        var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return asc?c:-c;});
      rows.forEach(function(r){t.appendChild(r);});});});});
  document.body.dataset.charts=String(document.querySelectorAll('svg.chart').length);
})();
"""


def e(value: Any) -> str:
    return html.escape(str(value))


def page(title: str, body: str) -> str:
    """A complete HTML document."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<style>{STYLE}</style></head><body><div id="report-errors" role="alert"></div>{body}'
            f'<script>{SCRIPT}</script></body></html>\n')


def table(header: list[str], rows: list[list[str]], *, sortable: bool = False, cls: str = "") -> str:
    """A table from pre-escaped cell HTML; cells given as ``(html, sort_value)`` sort by value."""
    def cell(c: Any, tag: str) -> str:
        if isinstance(c, tuple):
            return f'<{tag} class=n data-v="{e(c[1])}">{c[0]}</{tag}>'
        return f"<{tag}>{c}</{tag}>"

    classes = " ".join(x for x in (cls, "sortable" if sortable else "") if x)
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>" for r in rows)
    return f'<table class="{classes}"><tr>{head}</tr>{body}</table>'


def value_se(m: dict[str, Any] | None, digits: int = 4) -> tuple[str, str]:
    """``(html, sort value)`` of a figure with its standard error."""
    if not m or m.get("value") is None:
        return ("n/a", "")
    v, se = m["value"], m.get("se")
    text = f"{v:.{digits}f}"
    if se is not None and se == se:  # not NaN
        text += f' <span class="muted">± {se:.{digits}f}</span>'
    return (text, json.dumps(v))
