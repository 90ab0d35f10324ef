"""The HTML report: a list of sections rendered with jinja2, figures inlined as base64
so the single file reads offline and can be mailed around."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from alignlab.report.run import atomic_write_text


@dataclass
class Section:
    """One part of a report: prose, a table of rows, figures, example transcripts."""

    title: str
    text: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    examples: list[dict[str, str]] = field(default_factory=list)
    status: str = "ok"
    """ok, failed or skipped; a failed section shows its error instead of hiding it."""


_TEMPLATE = jinja2.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
 h1{border-bottom:2px solid #333} h2{margin-top:2em;border-bottom:1px solid #ccc}
 table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
 th{background:#f3f3f3} img{max-width:100%;border:1px solid #eee;margin:.5em 0}
 .ex{background:#f8f8f8;border-left:3px solid #888;padding:.5em 1em;margin:.5em 0;white-space:pre-wrap}
 .failed{color:#b00} .skipped{color:#888} nav a{margin-right:1em}
</style></head><body>
<h1>{{ title }}</h1>
<p>Generated {{ when }}.{% if summary %} {{ summary }}{% endif %}</p>
<nav>{% for s in sections %}<a href="#s{{ loop.index }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}
<h2 id="s{{ loop.index }}" class="{{ s.status }}">{{ s.title }}{% if s.status != 'ok' %} ({{ s.status }}){% endif %}</h2>
{% if s.text %}<div>{{ s.text }}</div>{% endif %}
{% if s.table %}<table><tr>{% for k in s.table[0].keys() %}<th>{{ k }}</th>{% endfor %}</tr>
{% for row in s.table %}<tr>{% for v in row.values() %}<td>{{ fmt(v) }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% for src in s.images %}<img src="{{ src }}">{% endfor %}
{% for ex in s.examples %}<div class="ex">{% for k, v in ex.items() %}<b>{{ k }}:</b> {{ v }}
{% endfor %}</div>{% endfor %}
{% endfor %}
</body></html>""", autoescape=True)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _inline_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def paragraphs(text: str) -> str:
    """Plain text to escaped HTML paragraphs (sections may also pass ready HTML)."""
    return "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())


def write_report(path: Path, title: str, sections: Sequence[Section], summary: str = "") -> Path:
    rendered = _TEMPLATE.render(
        title=title,
        summary=summary,
        when=time.strftime("%Y-%m-%d %H:%M"),
        fmt=fmt,
        sections=[
            {**s.__dict__, "text": jinja2.filters.Markup(s.text),
             "images": [_inline_png(f) for f in s.figures if Path(f).exists()]}
            for s in sections
        ],
    )
    atomic_write_text(Path(path), rendered)
    return Path(path)
