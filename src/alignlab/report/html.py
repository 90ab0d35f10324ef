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


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("alignlab.report", "templates"), autoescape=True)



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
    rendered = _ENV.get_template("report.html.j2").render(
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
