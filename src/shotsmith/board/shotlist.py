"""The shot list: a board written as an offline HTML page, a CSV and a Markdown table.

    write_shot_list(board, out_dir, take_files=...)  ->  {"html": ..., "csv": ..., "md": ...}

`board` is the board's JSON shape (board-contract.md). Beside the files go the picked takes
(`takes/`, copied: the page plays them by a relative link) and the first-frame images of
image-to-video and continued shots (`inputs/`, which the remake commands name), so the folder
can be zipped, moved and opened anywhere, offline. Take thumbnails are inlined as small JPEG
data URLs; the page loads nothing from anywhere else.

Every row carries a `remake` command: the `shotsmith generate ...` line that makes the shot's
picked take again (same prompt, seed, model, size, rate, length and settings; run in the folder
of the shot list). It is written from the take's own request when `take_specs` gives it (a job's
stored spec: exact by construction), else from the board and shot as a render submits them.

Text is escaped for each format: HTML (autoescaped Jinja), CSV (cells that a spreadsheet would
run as a formula, starting with = + - @ or a tab, get a leading apostrophe), Markdown (pipes,
line breaks, angle brackets and backticks cannot break the table or inject markup).
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shlex
import shutil
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from shotsmith import __version__

HTML_NAME, CSV_NAME, MD_NAME = "shotlist.html", "shotlist.csv", "shotlist.md"
TAKES_DIR, INPUTS_DIR = "takes", "inputs"
CSV_COLUMNS = ("index", "title", "text", "prompt", "mode", "seed", "model", "duration", "candidates",
               "picked_take", "remake")
THUMB_WIDTH = 192
# Spec fields the `generate` command has an option for, and the option.
_OPTIONS = (("model", "--model"), ("seed", "--seed"), ("steps", "--steps"), ("guidance", "--guidance"),
            ("frames", "--frames"), ("seconds", "--seconds"), ("fps", "--fps"), ("interpolation", "--interpolation"),
            ("style", "--style"), ("lora", "--lora"), ("cache", "--cache"))


def _no_files(take: dict) -> Path | None:
    return None


# --- the remake command ------------------------------------------------------------------------

def shot_request(board: dict, shot: dict, take: dict | None) -> dict:
    """A shot's take request as a board render submits it (BoardService._spec_values): used when
    the take's own request is not at hand. Keys are GenerationSpec fields."""
    from shotsmith.board.breakdown import MODES_FOR_TASK, _entry

    mode = shot.get("mode") or "t2v"
    model = shot.get("model") or _entry(board.get("model"), mode).name
    seed = take.get("seed") if take else shot.get("seed")
    values = {"prompt": shot.get("prompt") or shot.get("text") or "", "enhance": False, "model": model,
              "seed": seed, "candidates": 1, "seconds": shot.get("duration"), "width": board.get("width"),
              "height": board.get("height"), "fps": board.get("fps"), "style": shot.get("style") or board.get("style"),
              "steps": board.get("steps"), "interpolation": board.get("interpolation")}
    if MODES_FOR_TASK.get(mode) == "i2v":
        values["image"] = None  # filled by the caller with the first frame it wrote beside the list
    return {k: v for k, v in values.items() if v is not None or k == "image"}


def remake_command(values: dict, out: str = "take.mp4") -> tuple[str, list[str]]:
    """The `shotsmith generate` command line (POSIX shell quoting) that makes the request `values`
    again, and notes on any setting the command cannot carry."""
    notes: list[str] = []
    prompt = values.get("prompt") or ""
    enhance = values.get("enhance", True)
    if values.get("enhanced_prompt"):
        # the model read this text: give it as the prompt, as is
        prompt, enhance = values["enhanced_prompt"], False
    if enhance and values.get("enhance_backend") == "llm":
        notes.append("the take's prompt was enhanced by an LLM; the command enhances it again with the "
                     "endpoint configured where it runs")
    if values.get("upscaler") not in (None, "lanczos"):
        notes.append(f"the take was upscaled with {values['upscaler']!r}; the command upscales with lanczos")
    args = ["shotsmith", "generate"]
    options: list[str] = []
    for name, option in _OPTIONS:
        value = values.get(name)
        if value is not None and value != "":
            options += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    if values.get("width") and values.get("height"):
        options += ["--size", f"{values['width']}x{values['height']}"]
    if values.get("native_width") and values.get("native_height"):
        options += ["--native-size", f"{values['native_width']}x{values['native_height']}"]
    if values.get("lora") and values.get("lora_scale") not in (None, 1, 1.0):
        options += ["--lora-scale", f"{values['lora_scale']:g}"]
    if values.get("negative_prompt"):
        options += ["--negative", values["negative_prompt"]]
    for name, option in (("image", "--image"), ("last_image", "--last-image")):
        if values.get(name):
            options += [option, str(values[name])]
    if values.get("candidates", 1) not in (None, 1):
        options += ["--candidates", str(values["candidates"])]
    if not enhance:
        options.append("--no-enhance")
    options += ["--out", out]
    # a prompt that starts with "-" would read as an option: after "--" it cannot
    line = args + (options + ["--", prompt] if prompt.startswith("-") else [prompt] + options)
    return " ".join(shlex.quote(a) for a in line), notes


# --- files beside the list -----------------------------------------------------------------------

def _place(source: Path, target: Path) -> None:
    """`source` at `target`: a hard link where the file system allows (no copy of a big clip), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    tmp.replace(target)


def _thumbnail(video: Path) -> str | None:
    """The take's first frame as a small JPEG data URL; None if it cannot be read."""
    from PIL import Image

    from shotsmith.post.media import iter_frames
    from shotsmith.post.settings import PostError

    try:
        frame = next((f for _, f in iter_frames(video, [0])), None)
    except (PostError, OSError):
        return None
    if frame is None:
        return None
    img = Image.fromarray(frame)
    if img.width > THUMB_WIDTH:
        img = img.resize((THUMB_WIDTH, max(1, round(img.height * THUMB_WIDTH / img.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _last_frame_png(video: Path, target: Path) -> bool:
    """The clip's last frame as a PNG (what a continued shot starts from); False if unreadable."""
    from PIL import Image

    from shotsmith.post.settings import PostError
    from shotsmith.post.source import read_tail

    try:
        frame = read_tail(video, seconds=0)[-1]
    except (PostError, OSError):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(target)
    return True


def _safe_id(value) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "", str(value))[:40] or "take"


# --- the rows ------------------------------------------------------------------------------------

def _rows(board: dict, out_dir: Path, take_files: Callable[[dict], Path | None],
          take_specs: Callable[[dict], dict | None] | None) -> list[dict]:
    rows = []
    previous_picked_file: Path | None = None
    kept: set[Path] = set()
    for i, shot in enumerate(board.get("shots") or []):
        number = i + 1
        takes = []
        for take in shot.get("takes") or []:
            path = take_files(take)
            path = Path(path) if path and Path(path).is_file() else None
            takes.append({"take": take, "path": path, "thumb": _thumbnail(path) if path else None,
                          "picked": take.get("id") == shot.get("picked_take_id")})
        picked = next((t for t in takes if t["picked"]), None)
        made = picked or next((t for t in takes if t["path"]), None)  # the take the remake makes again
        video = None
        if picked and picked["path"]:
            target = out_dir / TAKES_DIR / f"shot-{number:02d}-{_safe_id(picked['take'].get('id'))}.mp4"
            _place(picked["path"], target)
            kept.add(target)
            video = target.relative_to(out_dir).as_posix()

        values = take_specs(made["take"]) if (take_specs and made) else None
        values = dict(values) if values else shot_request(board, shot, made["take"] if made else None)
        for name in ("image", "last_image"):
            source = values.get(name)
            if source and Path(source).is_file():
                target = out_dir / INPUTS_DIR / f"shot-{number:02d}-{name.replace('_', '-')}{Path(source).suffix}"
                _place(Path(source), target)
                kept.add(target)
                values[name] = target.relative_to(out_dir).as_posix()
            elif source:
                values[name] = None
        notes: list[str] = []
        if "image" in values and not values.get("image"):
            if shot.get("mode") == "continue" and previous_picked_file is not None:
                target = out_dir / INPUTS_DIR / f"shot-{number:02d}-image.png"
                if _last_frame_png(previous_picked_file, target):
                    kept.add(target)
                    values["image"] = target.relative_to(out_dir).as_posix()
            if not values.get("image"):
                values["image"] = "FIRST_FRAME.png"
                notes.append("give the shot's first frame as --image")
        seed = made["take"].get("seed") if made else shot.get("seed")
        if seed is not None:
            values["seed"] = seed
        if seed is None:  # not rendered yet: there is no take to make again
            command, command_notes = "", ["not rendered yet: no take to make again"]
        else:
            command, command_notes = remake_command(values, f"shot-{number:02d}.mp4")
        previous_picked_file = picked["path"] if picked else None
        rows.append({
            "index": number, "id": shot.get("id"), "title": shot.get("title") or f"Shot {number}",
            "text": shot.get("text") or "", "prompt": shot.get("prompt") or "", "mode": shot.get("mode") or "t2v",
            "seed": seed, "model": values.get("model") or "", "duration": shot.get("duration"),
            "candidates": shot.get("candidates"), "style": shot.get("style") or board.get("style"),
            "status": shot.get("status") or "", "picked_take": picked["take"].get("id") if picked else "",
            "picked_seed": picked["take"].get("seed") if picked else None, "video": video,
            "poster": picked["thumb"] if picked else None, "takes": takes, "remake": command,
            "remake_notes": notes + command_notes,
        })
    # copies from an earlier export that this one does not show
    for folder in (out_dir / TAKES_DIR, out_dir / INPUTS_DIR):
        if folder.is_dir():
            for stale in folder.iterdir():
                if stale.is_file() and stale not in kept:
                    stale.unlink(missing_ok=True)
    return rows


# --- CSV and Markdown ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe where it would start a formula."""
    text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def md_cell(value) -> str:
    """A Markdown table cell: one line, pipes escaped, no HTML from the text."""
    text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return "<br>".join(line.strip() for line in text.replace("\r", "").split("\n"))


def _md_code(value: str) -> str:
    """A command as a Markdown code span that survives a table (pipes escaped, as GFM asks)."""
    text = value.replace("\n", " ").replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def _row_values(row: dict) -> list:
    return [row["index"], row["title"], row["text"], row["prompt"], row["mode"], row["seed"], row["model"],
            row["duration"], row["candidates"], row["picked_take"], row["remake"]]


def render_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(v) for v in _row_values(row)])
    return buf.getvalue()


def render_markdown(board: dict, rows: list[dict]) -> str:
    total = sum(float(r["duration"] or 0) for r in rows)
    lines = [f"# {md_cell(board.get('name') or 'Storyboard')}", "",
             f"{len(rows)} shots, {total:.2f} s, {board.get('width')}x{board.get('height')} at {board.get('fps')} fps",
             "", "| " + " | ".join(CSV_COLUMNS) + " |", "|" + "---|" * len(CSV_COLUMNS)]
    for row in rows:
        cells = [md_cell(v) for v in _row_values(row)[:-1]] + [_md_code(row["remake"]) if row["remake"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --- HTML -----------------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light dark; --fg: #1d1f23; --dim: #6b7078; --bg: #f6f6f4; --card: #fff; --line: #dcdcd6;
  --accent: #2f6fdf; --ok: #1f8a4c; }
@media (prefers-color-scheme: dark) { :root { --fg: #e7e7e3; --dim: #9aa0a8; --bg: #16181b; --card: #1f2226;
  --line: #33373d; --accent: #79a6ff; --ok: #5fcf8e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { margin: 0 0 4px; font-size: 1.6em; } h2 { margin: 0 0 8px; font-size: 1.15em; }
.dim { color: var(--dim); } a { color: var(--accent); }
.cut video { width: 100%; max-width: 720px; background: #000; border-radius: 6px; }
.shot { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin: 0 0 16px; }
.shot-body { display: grid; grid-template-columns: minmax(0, 360px) minmax(0, 1fr); gap: 16px; }
@media (max-width: 720px) { .shot-body { grid-template-columns: 1fr; } }
.player video, .player .none { width: 100%; background: #000; border-radius: 6px; display: block; }
.player .none { aspect-ratio: 3 / 2; color: #bbb; display: grid; place-items: center; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
dt { color: var(--dim); } dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.badge { display: inline-block; font-size: .8em; padding: 1px 7px; border-radius: 9px; border: 1px solid var(--line);
  margin-left: 6px; vertical-align: middle; }
.takes { display: flex; gap: 10px; flex-wrap: wrap; margin: 12px 0 0; padding: 0; list-style: none; }
.takes li { width: 150px; font-size: .85em; }
.takes img, .takes .blank { width: 150px; aspect-ratio: 3 / 2; object-fit: cover; border-radius: 4px;
  border: 3px solid transparent; display: block; background: #0002; }
.takes li.picked img { border-color: var(--ok); } .takes li.picked b { color: var(--ok); }
pre { margin: 10px 0 0; padding: 8px 10px; background: #0001; border-radius: 6px; overflow-x: auto;
  white-space: pre-wrap; word-break: break-all; font-size: .85em; }
"""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="shotsmith {{ version }}">
<title>{{ name }} · shot list</title>
<link rel="icon" href="data:,">
<style>{{ css | safe }}</style>
</head>
<body>
<header>
  <h1>{{ name }}</h1>
  <div class="dim">{{ rows | length }} shots · {{ "%.2f" | format(total) }} s · {{ board.width }}x{{ board.height }}
    at {{ board.fps }} fps{% if board.style %} · style {{ board.style }}{% endif %}
    {% if board.model %} · model {{ board.model }}{% endif %} · written {{ created }}</div>
  <p><a href="{{ csv_name }}">CSV</a> · <a href="{{ md_name }}">Markdown</a>{% if cut %} · <a href="{{ cut }}">the cut (MP4)</a>{% endif %}</p>
  {% if cut %}<div class="cut"><video controls playsinline preload="metadata" src="{{ cut }}"></video></div>{% endif %}
</header>
<main>
{% for row in rows %}
<section class="shot" id="shot-{{ row.index }}">
  <h2>{{ row.index }}. {{ row.title }}<span class="badge">{{ row.mode }}</span>{% if row.status %}<span class="badge">{{ row.status }}</span>{% endif %}</h2>
  <div class="shot-body">
    <div class="player">
      {% if row.video %}<video controls autoplay muted loop playsinline preload="auto" src="{{ row.video }}"{% if row.poster %} poster="{{ row.poster }}"{% endif %}></video>
      {% else %}<div class="none">no take picked</div>{% endif %}
    </div>
    <dl>
      <dt>text</dt><dd>{{ row.text }}</dd>
      <dt>prompt</dt><dd>{{ row.prompt }}</dd>
      <dt>seed</dt><dd>{{ row.seed if row.seed is not none else "not rendered yet" }}</dd>
      <dt>model</dt><dd>{{ row.model }}</dd>
      <dt>duration</dt><dd>{{ row.duration }} s</dd>
      <dt>candidates</dt><dd>{{ row.candidates }}</dd>
      {% if row.style %}<dt>style</dt><dd>{{ row.style }}</dd>{% endif %}
    </dl>
  </div>
  {% if row.takes %}
  <ul class="takes">
  {% for t in row.takes %}
    <li class="{{ 'picked' if t.picked else '' }}">{% if t.thumb %}<img src="{{ t.thumb }}" alt="first frame of take {{ t.take.id }}">{% else %}<span class="blank"></span>{% endif %}
      {% if t.picked %}<b>✓ picked</b> · {% endif %}seed {{ t.take.seed }}<br><span class="dim">{{ t.take.status }}</span></li>
  {% endfor %}
  </ul>
  {% endif %}
  {% if row.remake %}<pre><code>{{ row.remake }}</code></pre>{% endif %}
  {% for note in row.remake_notes %}<div class="dim">{{ note }}</div>{% endfor %}
</section>
{% endfor %}
</main>
</body>
</html>
"""


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE)


def render_html(board: dict, rows: list[dict], cut: str | None = None) -> str:
    total = sum(float(r["duration"] or 0) for r in rows)
    header = {key: board.get(key) for key in ("width", "height", "fps", "style", "model")}
    return _template().render(board=header, name=board.get("name") or "Storyboard", rows=rows, total=total,
                              created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), css=CSS,
                              version=__version__, cut=cut, csv_name=CSV_NAME, md_name=MD_NAME)


def _write_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding=encoding, newline="")
    tmp.replace(path)


def write_shot_list(board: dict, out_dir: Path, *, take_files: Callable[[dict], Path | None] = _no_files,
                    take_specs: Callable[[dict], dict | None] | None = None) -> dict[str, Path]:
    """Write shotlist.html, shotlist.csv and shotlist.md for `board` into out_dir, with the picked
    takes and first-frame images beside them; returns {"html", "csv", "md"} paths.

    take_files(take) -> the take's MP4 (None: not at hand; the take shows without a thumbnail).
    take_specs(take) -> the take's request (a job's stored spec: GenerationSpec fields), so the
    remake command is exactly what made it; without it the command is written from the board."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _rows(board, out_dir, take_files, take_specs)
    cut = "cut.mp4" if (out_dir / "cut.mp4").is_file() else None
    paths = {"html": out_dir / HTML_NAME, "csv": out_dir / CSV_NAME, "md": out_dir / MD_NAME}
    # UTF-8 with a byte-order mark: spreadsheets then read accents and CJK text right
    _write_atomic(paths["csv"], render_csv(rows), encoding="utf-8-sig")
    _write_atomic(paths["md"], render_markdown(board, rows))
    _write_atomic(paths["html"], render_html(board, rows, cut))
    return paths
