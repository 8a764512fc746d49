"""Run a prompt suite through the normal generation path and build its report.

A suite is JSONL, one prompt per line::

    {"id": "s03", "category": "realistic", "subject": "characters", "mode": "i2v",
     "prompt": "The wind blows through a girl's hair", "image": "girl.png"}

Fields: ``prompt`` (required; may be "" for image-to-video), ``id``, ``category``,
``subject``, ``mode`` (t2v | i2v), ``image`` (a path relative to the suite file),
``expected`` (shapes-world slots; read from the caption when it is a shapes caption),
``seed``, ``style``, ``image_prompt`` (the text for a made first frame) and ``note``.
Other keys are ignored.

Each row goes through `Studio.generate`, the call the CLI, the API worker and the studio
make, so the report shows the files a user gets (MP4, cover, sprite, sidecar; the GIF
preview too with `keep_gifs`), in DIR/clips/<id>/.

An image-to-video row without an image gets a first frame: rendered by the shapes world
when the caption states shapes-world slots (the known answer, so the I2V model alone is
judged), otherwise the first frame of a clip that the text-to-video model makes from the
same prompt. The report says which, for every such row.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from shotsmith.eval.adherence import slots_from_caption
from shotsmith.eval.analyse import AnalysedClip, analyse_clip, mark_candidate_duplicates, mark_cross_duplicates, \
    read_sidecar, rel
from shotsmith.eval.records import Report, RowReport
from shotsmith.eval.report import write_report

log = logging.getLogger(__name__)

HELDOUT_SUITE = Path(__file__).parent / "data" / "heldout_captions.jsonl"
MODES = ("t2v", "i2v")
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
FIRST_FRAME_NAME = "first-frame.png"


class SuiteError(ValueError):
    """A suite file that cannot be run; the message names the file and line."""


@dataclass
class SuiteRow:
    id: str
    category: str
    prompt: str
    mode: str | None = None  # None: i2v when an image is given, else the default model's task
    subject: str | None = None
    image: Path | None = None
    expected: dict | None = None
    seed: int | None = None
    style: str | None = None
    image_prompt: str | None = None
    note: str | None = None
    line: int = 0


@dataclass
class SuiteOptions:
    model: str | None = None  # text-to-video model (an image-to-video one here serves the i2v rows)
    i2v_model: str | None = None
    candidates: int = 1
    enhance: bool = True
    seed: int = 1000  # row i uses seed + i * candidates (unless the row has its own)
    steps: int | None = None
    guidance: float | None = None
    width: int = 1440
    height: int = 960
    fps: int = 24
    style: str | None = None  # for rows without a style of their own
    keep_gifs: bool = False  # GIF previews are ~20x the MP4 and the report does not use them
    suite: str | None = None  # shown in the report


@dataclass
class RowEvent:
    index: int
    total: int
    row: SuiteRow
    stage: str  # start | first_frame | generate | analyse | done
    report: RowReport | None = None


# 1. Reading a suite ---------------------------------------------------------------------


def load_suite(path: Path) -> list[SuiteRow]:
    """Parse and check a suite file; every problem names its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    rows: list[SuiteRow] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path.name} line {n}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise SuiteError(f"{where}: expected a JSON object")
        rows.append(_row(data, n, where, path.parent, seen))
    if not rows:
        raise SuiteError(f"{path}: no prompts in it")
    return rows


def _row(data: dict, n: int, where: str, base: Path, seen: set[str]) -> SuiteRow:
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        raise SuiteError(f"{where}: 'prompt' must be a string (it may be empty for image-to-video)")
    for key in ("id", "category", "subject", "style", "image_prompt", "note", "image"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise SuiteError(f"{where}: '{key}' must be a string")
    mode = data.get("mode")
    if mode is not None and mode not in MODES:
        raise SuiteError(f"{where}: 'mode' must be t2v or i2v (got {mode!r})")
    image = None
    if data.get("image"):
        image = (base / data["image"]).expanduser()
        if not image.is_file():
            raise SuiteError(f"{where}: image {data['image']} not found (paths are relative to the suite file)")
        if mode == "t2v":
            raise SuiteError(f"{where}: mode t2v takes no image")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise SuiteError(f"{where}: 'seed' must be a whole number >= 0")
    expected = data.get("expected")
    if expected is not None and not isinstance(expected, dict):
        raise SuiteError(f"{where}: 'expected' must be an object of shapes-world slots")
    if expected is None and prompt:
        expected = slots_from_caption(prompt)  # None for anything but a shapes-world caption
    row_id = _SAFE_ID.sub("-", str(data.get("id") or f"line{n}")).strip(".-") or f"line{n}"
    unique, k = row_id, 2
    while unique in seen:
        unique, k = f"{row_id}-{k}", k + 1
    seen.add(unique)
    category = data.get("category") or ("shapes-world" if expected else "uncategorised")
    return SuiteRow(id=unique, category=category, prompt=prompt, mode=mode, subject=data.get("subject"),
                    image=image, expected=expected, seed=seed, style=data.get("style"),
                    image_prompt=data.get("image_prompt"), note=data.get("note"), line=n)


# 2. Models --------------------------------------------------------------------------------


def models_for(options: SuiteOptions) -> dict[str, str]:
    """Which model serves t2v rows and which i2v rows."""
    from shotsmith.models.registry import DEFAULT_I2V_MODEL, DEFAULT_MODEL, UnknownModel, resolve
    from shotsmith.spec import SpecError

    models = {"t2v": DEFAULT_MODEL, "i2v": DEFAULT_I2V_MODEL}
    try:
        if options.model:
            models[resolve(options.model).task] = options.model
        if options.i2v_model:
            if resolve(options.i2v_model).task != "i2v":
                raise SpecError("i2v_model", f"{options.i2v_model} is not an image-to-video model")
            models["i2v"] = options.i2v_model
    except UnknownModel as exc:
        raise SpecError("model", str(exc)) from None
    return models


def default_mode(options: SuiteOptions) -> str:
    """Rows that name no mode follow --model's task (text-to-video without one)."""
    from shotsmith.models.registry import resolve

    return resolve(options.model).task if options.model else "t2v"


# 3. Running ---------------------------------------------------------------------------------


def run_suite(rows: list[SuiteRow], out_dir: Path, options: SuiteOptions, *, studio=None,
              on_event: Callable[[RowEvent], None] | None = None, title: str | None = None) -> Report:
    """Generate every row, measure every clip, and keep DIR/report.html up to date after each row."""
    from shotsmith.service import Studio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    studio = studio or Studio()
    models = models_for(options)
    started = time.perf_counter()
    report = Report(title=title or f"shotsmith eval · {options.suite or 'suite'}", kind="eval",
                    settings=_settings(options, models, studio), group_label="category")
    analysed: list[list[AnalysedClip]] = []
    emit = on_event or (lambda event: None)
    for index, row in enumerate(rows):
        emit(RowEvent(index, len(rows), row, "start"))
        row_report, clips = run_row(studio, row, index, out_dir, options, models,
                                    lambda stage: emit(RowEvent(index, len(rows), row, stage)))
        report.rows.append(row_report)
        analysed.append(clips)
        report.settings["wall time"] = f"{time.perf_counter() - started:.0f} s"
        write_report(report, out_dir)  # a long run can be watched (and survives an interrupt)
        emit(RowEvent(index, len(rows), row, "done", row_report))
    mark_cross_duplicates(analysed)
    report.finished = True
    report.settings["wall time"] = f"{time.perf_counter() - started:.0f} s"
    write_report(report, out_dir)
    return report


def run_row(studio, row: SuiteRow, index: int, out_dir: Path, options: SuiteOptions, models: dict[str, str],
            stage: Callable[[str], None] = lambda s: None) -> tuple[RowReport, list[AnalysedClip]]:
    """One suite row: first frame if needed, generate, analyse. A failure is recorded on the row."""
    from shotsmith.spec import build_spec

    started = time.perf_counter()
    mode = row.mode or ("i2v" if row.image else default_mode(options))
    seed = row.seed if row.seed is not None else options.seed + index * options.candidates
    style = row.style or options.style
    report = RowReport(id=row.id, category=row.category, prompt=row.prompt, mode=mode, subject=row.subject,
                       style=style, expected=row.expected, note=row.note, model=models[mode])
    clip_dir = out_dir / "clips" / row.id
    clip_dir.mkdir(parents=True, exist_ok=True)
    analysed: list[AnalysedClip] = []
    try:
        # 1. Image-to-video: the first frame (given, or made and said so)
        image = None
        if mode == "i2v":
            stage("first_frame")
            t = time.perf_counter()
            image, report.first_frame = first_frame_for(studio, row, clip_dir, out_dir, seed, options, models)
            report.timings["first_frame"] = round(time.perf_counter() - t, 3)
        # 2. Generate through the service layer, as every surface does
        stage("generate")
        spec = build_spec(prompt=row.prompt, image=str(image) if image else None, model=models[mode], seed=seed,
                          candidates=options.candidates, steps=options.steps, guidance=options.guidance,
                          width=options.width, height=options.height, fps=options.fps, style=style,
                          enhance=options.enhance)
        result = studio.generate(spec, clip_dir / "clip.mp4")
        report.enhanced_prompt = result.spec.enhanced_prompt
        report.model = result.spec.entry().name
        report.seeds = list(result.seeds)
        report.timings["generate"] = round(result.timings.get("total", 0.0), 3)
        # 3. Measure every candidate from its finished file
        stage("analyse")
        t = time.perf_counter()
        for k, (clip, clip_seed) in enumerate(zip(result.clips, result.seeds), 1):
            sidecar = read_sidecar(clip.video)
            if clip.gif and not options.keep_gifs:
                clip.gif.unlink(missing_ok=True)
                clip.gif = None
            analysed.append(analyse_clip(
                clip.video, out_dir, candidate=k, seed=clip_seed, label=f"{row.id} #{k}", expected=row.expected,
                input_image=image, requested=requested_format(spec, sidecar),
                files={"cover": clip.cover, "gif": clip.gif, "sprite": clip.sprite, "sidecar": clip.sidecar},
                timings={k2: round(float(v), 3) for k2, v in (sidecar.get("timings") or {}).items()},
            ))
        mark_candidate_duplicates(analysed)
        report.clips = [a.report for a in analysed]
        report.contact_sheet = rel(result.contact_sheet, out_dir)
        report.timings["analyse"] = round(time.perf_counter() - t, 3)
    except Exception as exc:  # noqa: BLE001 - one bad row must not end a long run; it is reported
        if not _expected_failure(exc):
            log.exception("suite row %s failed", row.id)
        report.error = {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__}
    report.timings["total"] = round(time.perf_counter() - started, 3)
    return report, analysed


def _expected_failure(exc: Exception) -> bool:
    names = {klass.__name__ for klass in type(exc).__mro__}
    return bool(names & {"SpecError", "ModelUnavailable", "PostError", "PromptError", "SuiteError"})


def requested_format(spec, sidecar: dict) -> dict:
    """What the clip should measure: the spec's output size and fps, and native frames / native fps."""
    native = (sidecar.get("clip") or {}).get("native") or {}
    duration = native["frames"] / native["fps"] if native.get("frames") and native.get("fps") else None
    return {"width": spec.width, "height": spec.height, "fps": spec.fps, "duration": duration}


# 4. First frames for image-to-video rows ------------------------------------------------------


def first_frame_for(studio, row: SuiteRow, clip_dir: Path, out_dir: Path, seed: int, options: SuiteOptions,
                    models: dict[str, str]) -> tuple[Path, dict]:
    """The input image of an i2v row, copied into the clip folder, and a sentence on where it came from."""
    from PIL import Image

    path = clip_dir / FIRST_FRAME_NAME
    if row.image is not None:
        with Image.open(row.image) as img:
            img.convert("RGB").save(path)
        return path, {"file": rel(path, out_dir), "source": "given", "how": f"given by the suite ({row.image.name})"}
    if row.expected and row.expected.get("objects") and row.expected.get("background"):
        from shotsmith.train import world

        scene = world.scene_from_slots(row.expected, random.Random(seed))
        Image.fromarray(world.render(scene, frames=1)[0]).save(path)
        how = ("none in the suite: rendered by the shapes world from the caption's slots, so that only the "
               "image-to-video model is judged")
        return path, {"file": rel(path, out_dir), "source": "world", "how": how}
    frame, how = first_frame_from_t2v(studio, row, seed, options, models["t2v"])
    Image.fromarray(frame).save(path)
    return path, {"file": rel(path, out_dir), "source": "t2v", "how": how}


def first_frame_from_t2v(studio, row: SuiteRow, seed: int, options: SuiteOptions, model: str) -> tuple[np.ndarray, str]:
    """The first frame of a clip the text-to-video model makes from the row's text (native size, no post)."""
    from shotsmith.service import enhance_spec
    from shotsmith.spec import build_spec

    text = row.image_prompt or row.prompt or f"a {row.category.replace('-', ' ')} scene"
    spec = build_spec(prompt=text, model=model, seed=seed, steps=options.steps, guidance=options.guidance,
                      style=row.style or options.style, enhance=options.enhance)
    pipe = studio.engine.pipeline(spec.entry())
    spec, _ = enhance_spec(spec, pipe.tokenizer)
    render = studio.engine.render(spec)
    source = "its image_prompt" if row.image_prompt else ("its prompt" if row.prompt else "the category")
    how = (f"none in the suite: the first frame of a clip made by the text-to-video model {render.entry.name} "
           f"(seed {seed}, {render.steps} steps) from {source}: \u201c{text}\u201d"
           + (" (enhanced)" if spec.enhanced_prompt and spec.enhanced_prompt != text else ""))
    return render.candidates[0].frames[0], how


def _settings(options: SuiteOptions, models: dict[str, str], studio) -> dict:
    import torch

    device = getattr(getattr(studio, "engine", None), "device", "?")
    return {
        "suite": options.suite, "text-to-video model": models["t2v"], "image-to-video model": models["i2v"],
        "steps": options.steps or "model default", "guidance": options.guidance, "candidates": options.candidates,
        "enhance": "on" if options.enhance else "off",
        "output": f"{options.width}x{options.height} @ {options.fps} fps", "seed": options.seed,
        "gifs": "kept" if options.keep_gifs else "removed (the report does not use them)",
        "style": options.style,
        "machine": f"{platform.machine()} · {device} · torch {torch.__version__} · "
                   f"{torch.get_num_threads()} threads",
    }
