"""Write a `Report` as DIR/report.html and DIR/results.json.

The HTML is one self-contained page (its CSS and the little JS it has are inlined from
`templates/`), and every clip file it shows is linked by a path relative to DIR, so the
folder can be zipped, moved and opened anywhere, offline. It stays light: videos load
only when played (preload="none", the cover as poster), frames are small JPEG strips
loaded lazily. Both files are written to temporary names and renamed, so a reader (or a
browser reloading a report that a long run rewrites after every row) never sees half.
"""

from __future__ import annotations

import json
import re
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from shotsmith import __version__
from shotsmith.eval.adherence import SLOTS
from shotsmith.eval.records import Report

TEMPLATES = Path(__file__).parent / "templates"
REPORT_NAME = "report.html"
RESULTS_NAME = "results.json"
SEVERITY_ORDER = ("fail", "warn", "info")


def num(value, digits: int = 2) -> str:
    """A number for a table cell; '-' for nothing."""
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def urlpath(path: str | None) -> str:
    """A relative file path as an href: each segment percent-encoded, never absolute."""
    if not path:
        return ""
    return "/".join(quote(part) for part in Path(path).as_posix().split("/"))


def slug(name: str) -> str:
    return "group-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "none")


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["num"] = num
    env.globals["plural"] = plural
    env.filters["urlpath"] = urlpath
    return env


def _worst(flags: list[dict]) -> str | None:
    severities = {f["severity"] for f in flags}
    return next((s for s in SEVERITY_ORDER[:2] if s in severities), None)


def render_html(report: Report) -> str:
    """The report page as a string."""
    data = report.to_dict()
    summary = data["summary"]
    groups = []
    for (name, rows), group_summary in zip(report.groups(), summary["groups"]):
        row_dicts = []
        for row in rows:
            d = row.to_dict()
            for clip in d["clips"]:
                clip["worst"] = _worst(clip["flags"])
            d["flagged"] = bool(row.error) or any(c["worst"] for c in d["clips"])
            row_dicts.append(d)
        groups.append({"name": name, "slug": slug(name), "summary": group_summary, "rows": row_dicts})
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.created_at))
    return _environment().get_template("report.html.j2").render(
        title=report.title, created=created, finished=report.finished, rows_done=len(report.rows),
        settings={k: v for k, v in report.settings.items() if v not in (None, "")}, groups=groups,
        overall=summary["overall"], group_label=report.group_label, slots=SLOTS, version=__version__,
        css=(TEMPLATES / "report.css").read_text(), js=(TEMPLATES / "report.js").read_text(),
    )


def write_report(report: Report, out_dir: Path) -> Path:
    """Write report.html and results.json into out_dir; returns the HTML's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / RESULTS_NAME, json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    html_path = out_dir / REPORT_NAME
    _write_atomic(html_path, render_html(report))
    return html_path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
