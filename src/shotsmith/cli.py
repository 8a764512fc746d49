"""The `shotsmith` command line: thin over the service layer."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shotsmith.api.cli import serve_command
from shotsmith.board.cli import board_app
from shotsmith.jobs.cli import worker_command
from shotsmith.quiet import quiet_libraries
from shotsmith.train.cli import train_lora_command
from shotsmith.prompt.cli import enhance_command

app = typer.Typer(help="shotsmith: idea in, finished clip out.", no_args_is_help=True, add_completion=False)
train_app = typer.Typer(help="Train the embedded model or fine-tune one.", no_args_is_help=True)
app.add_typer(train_app, name="train")
gallery_app = typer.Typer(help="The clips users made, as a document.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")
app.add_typer(board_app, name="board")
err = Console(stderr=True)
out = Console()


def print_line(text: str) -> None:
    """One line of output that scripts read (paths): never wrapped, never read as markup."""
    out.print(text, highlight=False, markup=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit; never a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def spec_option(name: str, *flags: str, help: str | None = None, default=None):
    """A typer option for a request field: its default and help text come from GenerationSpec,
    where the field is declared (typer can't build options from a pydantic model itself)."""
    from shotsmith.spec import spec_default, spec_help

    value = spec_default(name) if default is None else default
    return typer.Option(value, *flags, help=help or spec_help(name), show_default=value is not None)


def _default_size(prefix: str = "") -> str:
    from shotsmith.spec import spec_default

    return f"{spec_default(prefix + 'width')}x{spec_default(prefix + 'height')}"


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def note(message: str) -> None:
    """One dim line on stderr that says what the CLI decided (never read as markup)."""
    err.print(f"note: {message}", style="dim", highlight=False, markup=False, soft_wrap=True)


def warm_server(url: str | None, local: bool):
    """The running server to send this command's work to (client.py), or None: in-process.

    Gone, stale or too slow: one line, then in-process. Refused key: a clear error (exit 2)."""
    if local:
        return None
    from shotsmith import client
    from shotsmith.settings import Settings

    try:
        return client.find_server(Settings.from_env(), url)
    except ValueError as exc:  # a bad SHOTSMITH_* value
        fail(str(exc))
    except client.ServerUnavailable as exc:
        note(f"{exc}; running in-process")
    except client.ServerRefused as exc:
        fail(str(exc))
    return None


SERVER_OPTION = typer.Option(None, "--server", help="URL of a running `shotsmith serve` to make the clip on "
                             "[env SHOTSMITH_SERVER; default: the server of this home, if one runs]")
LOCAL_OPTION = typer.Option(False, "--local", help="Run in this process even when a server is running")


@app.command()
def generate(
    prompt: str = typer.Argument("", help="What to film (may be empty for image-to-video)"),
    out_path: Path = typer.Option(Path("clip.mp4"), "--out", "-o", help="Output MP4 path"),
    image: Optional[Path] = spec_option("image"),
    video: Optional[Path] = spec_option("video", help="Source clip to edit with the prompt (video-to-video, on a "
                                        "text-to-video model); --size then defaults to the clip's"),
    strength: Optional[float] = spec_option("strength"),
    last_image: Optional[Path] = spec_option("last_image"),
    seed: Optional[int] = spec_option("seed"),
    candidates: int = spec_option("candidates"),
    model: Optional[str] = spec_option("model"),
    steps: Optional[int] = spec_option("steps"),
    guidance: Optional[float] = spec_option("guidance"),
    size: Optional[str] = typer.Option(None, help=f"Output size WxH (multiples of 16; default: {_default_size()}, "
                                       "with --video the clip's)", show_default=False),
    seconds: Optional[float] = spec_option("seconds"),
    fps: int = spec_option("fps"),
    frames: Optional[int] = spec_option("frames"),
    native_size: Optional[str] = typer.Option(None, help="Native render size WxH (default per model)"),
    interpolation: str = spec_option("interpolation"),
    style: Optional[str] = spec_option("style"),
    negative: str = spec_option("negative_prompt", "--negative"),
    enhance: bool = spec_option("enhance", "--enhance/--no-enhance"),
    lora: Optional[str] = spec_option("lora"),
    lora_scale: float = spec_option("lora_scale"),
    cache: Optional[str] = spec_option("cache"),
    audio: Optional[bool] = spec_option("audio", "--audio/--no-audio"),
    server_url: Optional[str] = SERVER_OPTION,
    local: bool = LOCAL_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Make a clip (or several candidates) from a prompt, a first-frame image, or a clip to edit (--video).

    When a `shotsmith serve` runs for this home (or --server / SHOTSMITH_SERVER names one), the clip is made there, with its model already loaded, and its files are copied to --out; --local runs in this process. A server that is gone or too slow: one line, then in-process."""  # noqa: E501
    from shotsmith.spec import SpecError, build_spec, parse_size

    try:
        size = size or source_size(video, "video", out_path) or _default_size()
        width, height = parse_size(size, "size")
        nw, nh = parse_size(native_size, "native_size") if native_size else (None, None)
        spec = build_spec(
            prompt=prompt, negative_prompt=negative, image=str(image) if image else None,
            last_image=str(last_image) if last_image else None, model=model, seed=seed,
            candidates=candidates, steps=steps, guidance=guidance, width=width, height=height, seconds=seconds,
            fps=fps, frames=frames, native_width=nw, native_height=nh, interpolation=interpolation, style=style,
            enhance=enhance, lora=lora, lora_scale=lora_scale, cache=cache, video=str(video) if video else None,
            strength=strength, audio=audio,
        ).check_inputs()
    except SpecError as exc:
        fail(option_message(exc, {"video": "--video", "strength": "--strength", "out": "--out"}))
    make_clip(spec, out_path, server_url, local, json_out)


def make_clip(spec, out_path: Path, server_url: str | None, local: bool, json_out: bool) -> None:
    """A validated spec made on a running server, else here; then the result printed."""
    server = warm_server(server_url, local)
    result = generate_on_server(server, spec, out_path) if server else None
    if result is None:
        result = generate_here(spec, out_path)
    print_result(result, json_out)


def option_message(exc, options: dict[str, str]) -> str:
    """A request error in the words of this command: the option (or argument) to fix, then the rule."""
    return f"{options[exc.field]}: {exc.message}" if exc.field in options else str(exc)


def source_size(clip: Optional[Path], field: str, out_path: Path, probe: dict | None = None) -> str | None:
    """An edit or extension keeps its source clip's size unless --size says otherwise: the clip's
    size (to multiples of 16), after checking it is a readable clip that --out would not overwrite."""
    from shotsmith.spec import SpecError, check_video, source_output_defaults

    if clip is None:
        return None
    info = probe if probe is not None else check_video(clip, field)
    if out_path.resolve() == clip.resolve():
        raise SpecError("out", f"{out_path} is the source clip; write the result to another file")
    defaults = source_output_defaults(info)
    return f"{defaults['width']}x{defaults['height']}" if "width" in defaults else None


def generate_on_server(server, spec, out_path: Path):
    """The clip made by a running server (client.py); None: make it here (the line says why)."""
    from shotsmith import client

    reason = client.why_local(spec)
    if reason:
        note(f"{reason}; running in-process")
        return None
    with progress_bar() as bar:
        task = bar.add_task("sending to the server", total=None)

        def on_progress(stage: str, step: int, total: int) -> None:
            label = {"denoise": "denoising", "queued": "queued on the server"}.get(stage, stage)
            bar.update(task, description=label, completed=step, total=total or None)

        try:
            result = client.generate(server, spec, out_path, on_progress)
        except client.ServerUnavailable as exc:
            note(f"{exc}; running in-process")
            return None
        except client.ServerRefused as exc:
            fail(str(exc))
        except client.RemoteError as exc:
            # as in-process: a refused request 2, a job that failed 3, a cancelled one 130
            fail(str(exc), 130 if exc.code == "cancelled" else 2 if 400 <= exc.status < 429 else 3)
        except KeyboardInterrupt:
            fail("cancelled", 130)
    err.print(f"made by the server at {server.url} (job {result.job_id})", style="dim", highlight=False,
              markup=False, soft_wrap=True)
    return result


_finished_in_process = threading.Event()  # main() may then skip the interpreter's slow teardown


def generate_here(spec, out_path: Path):
    """The clip made in this process: the model loads here (the cold path)."""
    from shotsmith.spec import SpecError

    quiet_libraries()
    from shotsmith.engine import Cancelled
    from shotsmith.models.loader import ModelUnavailable
    from shotsmith.post import PostError
    from shotsmith.prompt import PromptError
    from shotsmith.service import Studio

    with progress_bar() as bar:
        task = bar.add_task("loading model", total=None)

        def on_progress(p):
            label = {"denoise": f"denoising (candidate {p.candidate + 1})"}.get(p.stage, p.stage)
            bar.update(task, description=label, completed=p.step, total=p.total or None)

        try:
            result = Studio().generate(spec, out_path, on_progress)
            _finished_in_process.set()
            return result
        except (ModelUnavailable, PostError, PromptError, SpecError) as exc:
            fail(str(exc), 3)
        except (Cancelled, KeyboardInterrupt):
            fail("cancelled", 130)


def print_result(result, json_out: bool) -> None:
    """The clips' paths (stdout) or the whole result as JSON; the same for both paths: a
    GenerationOutput made here or a client.RemoteResult made by a server."""
    spec = getattr(result, "spec", result)  # a RemoteResult carries the two prompts itself
    prompt, enhanced = spec.prompt, spec.enhanced_prompt
    if json_out:
        out.print_json(json.dumps({
            "clips": [{"video": str(c.video), "gif": str(c.gif) if c.gif else None, "cover": str(c.cover),
                       "sidecar": str(c.sidecar), "seed": s, "width": c.width, "height": c.height, "fps": c.fps,
                       "frames": c.frames, "duration": c.duration} for c, s in zip(result.clips, result.seeds)],
            "contact_sheet": str(result.contact_sheet) if result.contact_sheet else None,
            "prompt": prompt, "enhanced_prompt": enhanced,
            "timings": result.timings, "notes": list(result.notes),
        }))
        return
    if enhanced and enhanced != prompt:
        err.print(f"[dim]enhanced prompt:[/] {enhanced}", highlight=False)
    for note in (getattr(result, "enhancement", None) or {}).get("notes") or []:  # e.g. Chinese kept as written
        err.print(f"[dim]note:[/] {note}", highlight=False)
    for changed in result.notes:  # what was changed to make it (a source clip resampled, ...)
        err.print(f"note: {changed}", style="dim", highlight=False, markup=False, soft_wrap=True)
    for clip, seed_used in zip(result.clips, result.seeds):
        print_line(f"{clip.video}  seed={seed_used}  {clip.width}x{clip.height} {clip.fps:g}fps "
                   f"{clip.duration:.2f}s")
        for extra in (clip.gif, clip.cover, clip.sidecar):
            if extra:
                print_line(f"  {extra}")
    if result.contact_sheet:
        print_line(f"{result.contact_sheet}  (contact sheet)")
    err.print(f"[dim]done in {result.timings['total']:.1f}s[/]")


EXTEND_OPTIONS = {"extend_from": "CLIP", "seconds": "--seconds", "prompt": "--prompt", "out": "--out",
                  "model": "--model", "size": "--size", "fps": "--fps"}


@app.command()
def extend(
    clip: Path = typer.Argument(..., metavar="CLIP", show_default=False,
                                help="The clip to continue: an MP4 made by shotsmith or anywhere else"),
    prompt: str = typer.Option("", "--prompt", "-p", help="What happens next (empty: the motion goes on)"),
    seconds: float = typer.Option(8.0, help="Seconds to add after the clip's last frame (a clip is extended at "
                                  "most 6 times, to at most 120 s added)"),
    out_path: Optional[Path] = typer.Option(None, "--out", "-o", help="Output MP4 (default: CLIP-extended.mp4 "
                                            "beside the clip)", show_default=False),
    seed: Optional[int] = spec_option("seed"),
    candidates: int = spec_option("candidates"),
    model: Optional[str] = spec_option("model", help="Image-to-video model that makes the new segments "
                                       "(default: the embedded one)"),
    steps: Optional[int] = spec_option("steps"),
    guidance: Optional[float] = spec_option("guidance"),
    size: Optional[str] = typer.Option(None, help="Output size WxH (multiples of 16; default: the clip's)",
                                       show_default=False),
    fps: Optional[int] = typer.Option(None, help="Output frame rate (default: the clip's)", show_default=False),
    interpolation: str = spec_option("interpolation"),
    style: Optional[str] = spec_option("style"),
    negative: str = spec_option("negative_prompt", "--negative"),
    enhance: bool = spec_option("enhance", "--enhance/--no-enhance"),
    lora: Optional[str] = spec_option("lora"),
    lora_scale: float = spec_option("lora_scale"),
    cache: Optional[str] = spec_option("cache"),
    server_url: Optional[str] = SERVER_OPTION,
    local: bool = LOCAL_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Make a clip longer: SECONDS more after its last frame (chained image-to-video), stitched into one MP4 whose sidecar lists its segments.

    Runs on a `shotsmith serve` of this home when one runs (the clip is uploaded to it), else in this process, as generate does."""  # noqa: E501
    from shotsmith.spec import SpecError, build_spec, check_video, parse_size, source_output_defaults

    out_path = out_path or clip.with_name(f"{clip.stem}-extended.mp4")
    try:
        info = check_video(clip, "extend_from")
        width, height = parse_size(size or source_size(clip, "extend_from", out_path, info) or _default_size(),
                                   "size")
        spec = build_spec(
            prompt=prompt, negative_prompt=negative, extend_from=str(clip), seconds=seconds, model=model, seed=seed,
            candidates=candidates, steps=steps, guidance=guidance, width=width, height=height,
            fps=fps or source_output_defaults(info).get("fps"), interpolation=interpolation, style=style,
            enhance=enhance, lora=lora, lora_scale=lora_scale, cache=cache,
        ).check_inputs()
    except SpecError as exc:
        fail(option_message(exc, EXTEND_OPTIONS))
    make_clip(spec, out_path, server_url, local, json_out)


@app.command("models")
def list_models(json_out: bool = typer.Option(False, "--json")) -> None:
    """List model entries by family: what each can do, its frame rule, whether it is here, and where."""
    from shotsmith.models.registry import ENTRIES, is_available, local_path

    rows = []
    for entry in ENTRIES.values():
        path = local_path(entry)
        rows.append({"name": entry.name, "family": entry.family, "task": entry.task,
                     "can": entry.capabilities(), "native": f"{entry.width}x{entry.height}",
                     "frames": entry.frames, "frame_rule": f"{entry.frame_step}k+1, at most {entry.max_frames}",
                     "size_multiple": entry.size_multiple, "fps": entry.fps,
                     "memory": {k: v for k, v in entry.memory.items() if v not in (False, "none")},
                     "available": is_available(entry), "path": str(path) if path else f"hub:{entry.hub_id}"})
    if json_out:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "family", "can", "native", "frames", "fps", "available", "path")
    for r in rows:
        table.add_row(r["name"], r["family"], ", ".join(r["can"]), r["native"],
                      f"{r['frames']} ({r['frame_rule']})", str(r["fps"]), "yes" if r["available"] else "no",
                      r["path"])
    out.print(table)


@app.command("eval")
def eval_cmd(
    suite: Optional[Path] = typer.Argument(None, help="Prompt suite JSONL (default: the packaged held-out "
                                                      "shapes-world captions)"),
    out_dir: Path = typer.Option(..., "--out", help="Folder for report.html, results.json and clips/"),
    model: Optional[str] = typer.Option(None, help="Text-to-video model (an image-to-video model here serves "
                                                   "the i2v rows; rows without a mode then run as i2v)"),
    i2v_model: Optional[str] = typer.Option(None, "--i2v-model", help="Image-to-video model for i2v rows"),
    candidates: int = spec_option("candidates", help="Clips per prompt, with distinct seeds (1-4)"),
    enhance: bool = spec_option("enhance", "--enhance/--no-enhance", help="Run the prompt agent first, as "
                                "generate does"),
    seed: int = typer.Option(1000, help="Seed of the first row (row i uses seed + i x candidates)"),
    steps: Optional[int] = spec_option("steps"),
    guidance: Optional[float] = spec_option("guidance"),
    size: str = typer.Option(_default_size(), help="Output size WxH, as generate"),
    fps: int = spec_option("fps"),
    style: Optional[str] = spec_option("style", help="Style preset for rows that name none"),
    limit: Optional[int] = typer.Option(None, help="Only the first N rows"),
    keep_gifs: bool = typer.Option(False, "--keep-gifs", help="Keep each clip's GIF preview (large; the report "
                                                              "does not use it)"),
) -> None:
    """Run a prompt suite through the normal generation path; write an HTML report with metrics."""
    from shotsmith.eval.suite import HELDOUT_SUITE, SuiteError, SuiteOptions, load_suite, models_for
    from shotsmith.spec import SpecError, build_spec, parse_size

    path = suite or HELDOUT_SUITE
    try:
        rows = load_suite(path)[:limit]
        width, height = parse_size(size, "size")
        options = SuiteOptions(model=model, i2v_model=i2v_model, candidates=candidates, enhance=enhance, seed=seed,
                               steps=steps, guidance=guidance, width=width, height=height, fps=fps, style=style,
                               keep_gifs=keep_gifs, suite=path.name)
        models_for(options)
        build_spec(prompt="check", model=None, candidates=candidates, steps=steps, guidance=guidance, width=width,
                   height=height, fps=fps, style=style)  # the shared options, checked once before any work
    except (SuiteError, SpecError) as exc:
        fail(str(exc))
    quiet_libraries()
    from shotsmith.eval.suite import run_suite

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("loading", total=len(rows))

        def on_event(event) -> None:
            bar.update(task, description=f"{event.row.id} {event.stage.replace('_', ' ')}",
                       completed=event.index + (event.stage == "done"))

        try:
            report = run_suite(rows, out_dir, options, on_event=on_event)
        except KeyboardInterrupt:
            fail(f"interrupted; the rows done so far are in {out_dir / 'report.html'}", 130)
    print_summary(report)
    print_line(str(out_dir / "report.html"))
    errors = [row for row in report.rows if row.error]
    for row in errors:
        err.print(f"[red]{row.id}:[/] {row.error['type']}: {row.error['message']}", highlight=False)
    if errors:
        raise typer.Exit(1)


def print_summary(report) -> None:
    """The report's summary on the terminal (the HTML has every column)."""
    from rich import box

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column(report.group_label, no_wrap=True, min_width=13)
    for name in ("clips", "errors", "flagged", "frozen", "dup", "adherence", "s/clip"):
        table.add_column(name, justify="right")
    summary = report.summary()

    def cell(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    for name, s in [(g["name"], g) for g in summary["groups"]] + [("overall", summary["overall"])]:
        adherence = s["adherence"]["overall"] if s["adherence"] else None
        table.add_row(name, str(s["clips"]), str(s["errors"]), str(s["flagged"]), str(s["frozen"]),
                      str(s["near_duplicates"]), cell(adherence), cell(s["seconds_per_clip"]),
                      style="bold" if name == "overall" else None)
    out.print(table)


@gallery_app.command("export")
def gallery_export(
    out_dir: Path = typer.Option(..., "--out", help="Folder for report.html, results.json and copies of the clips"),
    since: Optional[str] = typer.Option(None, help="Only jobs made on or after this date (YYYY-MM-DD or ISO time, "
                                                   "local time)"),
    style: Optional[str] = typer.Option(None, help="Only jobs with this style preset ('none': without one)"),
    key: Optional[str] = typer.Option(None, help="Only the jobs of this API key ('' = the local owner, auth off)"),
    home: Optional[Path] = typer.Option(None, help="Data folder (default: $SHOTSMITH_HOME or the user data dir)"),
    limit: Optional[int] = typer.Option(None, help="Only the newest N jobs"),
) -> None:
    """Write the gallery (completed jobs with prompts, seeds, metrics) as an offline HTML report."""
    from datetime import datetime

    from shotsmith.settings import Settings
    from shotsmith.eval.gallery import GalleryError, GalleryFilter, export_gallery

    start = None
    if since:
        try:
            start = datetime.fromisoformat(since).timestamp()
        except ValueError:
            fail(f"since: '{since}' is not a date like 2026-11-25 or 2026-11-25T18:00")
    try:
        folder = home or Settings.from_env().home
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task("reading jobs", total=None)
            report = export_gallery(folder, out_dir, GalleryFilter(since=start, style=style, key=key, limit=limit),
                                    on_job=lambda i, n, job_id: bar.update(task, description=job_id, completed=i,
                                                                          total=n))
    except (GalleryError, ValueError) as exc:
        fail(str(exc))
    print_summary(report)
    print_line(str(out_dir / "report.html"))


train_app.command("lora", help="Fine-tune a model on a folder of clips + captions (LoRA).")(train_lora_command)


def _timestep_range(text: str) -> tuple[int, int]:
    """'300-750' -> (300, 750), with an error naming the option."""
    low, _, high = text.partition("-")
    if not (low.strip().isdigit() and high.strip().isdigit()) or not 0 <= int(low) < int(high) <= 999:
        fail(f"--t-focus-range: '{text[:40]}' is not LOW-HIGH timesteps with 0 <= LOW < HIGH <= 999, e.g. 300-750")
    return int(low), int(high)


@train_app.command("shapes")
def train_shapes_cmd(
    out_dir: Path = typer.Option(..., "--out", help="Folder for checkpoints and the two model folders"),
    minutes: float = typer.Option(155.0, help="Wall-clock cap for all phases (a phase stops early at its share)"),
    scenes: int = typer.Option(1200, help="Rendered training scenes (4 captions each)"),
    vae_steps: int = typer.Option(2400, help="VAE optimisation steps"),
    t2v_steps: int = typer.Option(3600, help="Text-to-video transformer steps"),
    i2v_steps: int = typer.Option(600, help="Image-to-video fine-tuning steps"),
    t2v_more_steps: int = typer.Option(0, help="Extra text-to-video steps after the I2V phase"),
    i2v_more_steps: int = typer.Option(0, help="Extra image-to-video steps (continuing the I2V phase)"),
    i2v_last_frame_share: float = typer.Option(0.0, help="Share (0-1) of I2V samples also given the clip's last "
                                                         "frame, so the model learns first+last keyframes"),
    t_focus_share: float = typer.Option(0.0, help="Share of the focused T2V phase's steps drawn from --t-focus-range"),
    t_focus_range: str = typer.Option("550-950", help="Timesteps LOW-HIGH the focused share is drawn from"),
    t_focus_phase: str = typer.Option("more", help="Which T2V phase the focus applies to: more (the extra phase) "
                                                   "or all (the first one too)"),
    edge_weight: float = typer.Option(0.0, min=0.0, help="Extra loss weight on the object's rim (where shapes "
                                                         "differ; 0 = none)"),
    shape_aux_weight: float = typer.Option(0.0, min=0.0, help="Weight of the training-only loss that reads each "
                                                              "object token's shape from a middle block (0 = none)"),
    shape_aux_block: int = typer.Option(1, help="The block (0 = first) whose output --shape-aux-weight reads"),
    shape_aux_background: bool = typer.Option(False, help="The shape-reading head also tells background tokens "
                                                          "from object tokens (where the objects are)"),
    draw_aux_weight: float = typer.Option(0.0, min=0.0, help="Weight of the training-only loss that reads the "
                                                             "shape drawn in the predicted clip, per token (0 = none)"),
    draw_aux_outline: bool = typer.Option(False, help="The --draw-aux-weight reader sees only the drawn outline "
                                                      "(a soft object mask), not the latents"),
    positions: str = typer.Option("rotary", help="Transformer positions: rotary (as shipped) or sincos (absolute)"),
    t2v_init: Optional[Path] = typer.Option(None, help="Start the T2V phase from this trained model folder"),
    object_weight: float = typer.Option(3.0, min=0.0, help="Extra loss weight on object latents (0 = plain MSE)"),
    snr_shift: float = typer.Option(3.0, min=0.1, help="Scheduler SNR shift (CogVideoX-2B: 3; smaller = less noise)"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads (1 is fastest on a shared 2-core machine)"),
    device: str = typer.Option("cpu", help="Where to train: cpu, cuda or cuda:N"),
    layout: str = typer.Option("random", help="Start positions: random, or canonical (set by the motion, "
                                              "separate lanes for two objects)"),
    captions: str = typer.Option("base", help="Caption wording: base (the first models'), wide, or broad "
                                                 "(wide plus further synonyms and sentence shapes)"),
    two_objects_share: float = typer.Option(0.25, min=0.0, max=1.0, help="Share of scenes with two objects"),
    object_scale: float = typer.Option(1.0, help="Objects' sizes times this (1-1.5; larger objects span more "
                                                 "tokens at patch 4)"),
    object_scale_max: Optional[float] = typer.Option(None, help="Draw each scene's scale between --object-scale "
                                                              "and this (objects of many sizes, e.g. for I2V)"),
    patch_size: int = typer.Option(2, help="Transformer patch size: 2 or 4 (4x fewer video tokens)"),
    layers: int = typer.Option(4, help="Transformer blocks (1-24)"),
    heads: int = typer.Option(4, help="Attention heads of 32 channels each (1-16)"),
    text_tokens: int = typer.Option(226, help="Caption tokens the model reads (8-226; the pipeline follows)"),
    lr: float = typer.Option(6e-4, min=0.0, help="Peak learning rate (cosine over steps or time, whichever ends "
                                                  "first)"),
    warmup_steps: int = typer.Option(100, min=0, help="Learning-rate warm-up steps"),
    vae_init: Optional[Path] = typer.Option(None, help="Reuse this trained VAE (pipeline or vae folder); skips "
                                                       "the VAE phases"),
    t2v_minutes: Optional[float] = typer.Option(None, help="Wall-clock cap of the T2V phase (default: a share "
                                                           "of --minutes)"),
    fresh_caption_share: float = typer.Option(0.0, help="Share (0-1) of each batch's captions written anew for "
                                                        "their scene at that step (more wordings than the cache's "
                                                        "four per scene)"),
    i2v_shape_swap_share: float = typer.Option(0.0, help="I2V: share (0-1) of the fresh captions that name another "
                                                         "shape than the first frame shows (the frame decides)"),
    text_noise: float = typer.Option(0.0, help="Gaussian noise on the caption features in training, times each "
                                               "channel's spread (0-4; 0 = none): for wording never trained on"),
    text_token_drop: float = typer.Option(0.0, help="Share (0-1) of caption tokens replaced by the empty "
                                                    "caption's in training (0 = none)"),
    text_encoder: Optional[str] = typer.Option(None, help="Sentence encoder the model reads: minilm (384 wide, the "
                                                          "I2V's) or mpnet (768 wide, the T2V's); default: the "
                                                          "--t2v-init folder's own, else minilm"),
    snapshot: Optional[Path] = typer.Option(None, help="Export the T2V phase's averaged weights saved so far "
                                                       "(its 5-minute checkpoint) to this folder, and stop"),
    snapshot_phase: str = typer.Option("t2v", help="The phase --snapshot exports: t2v, t2v-more, i2v or i2v-more"),
) -> None:
    """Train the embedded shapes-world model (T2V + I2V); resumes from OUT/checkpoints."""
    quiet_libraries()
    from shotsmith.models.embedded import check_positions
    from shotsmith.train.shapes import (SNAPSHOT_PHASES, ShapesRecipe, check_device, check_recipe, export_snapshot,
                                        init_text_encoder, train_shapes, transformer_folder)

    recipe = ShapesRecipe(minutes=minutes, scenes=scenes, vae_steps=vae_steps, t2v_steps=t2v_steps,
                          i2v_steps=i2v_steps, t2v_more_steps=t2v_more_steps, i2v_more_steps=i2v_more_steps,
                          i2v_last_frame_share=i2v_last_frame_share, t_focus_share=t_focus_share, t_focus_range=_timestep_range(t_focus_range),
                          t_focus_phase=t_focus_phase, edge_weight=edge_weight,
                          shape_aux_weight=shape_aux_weight, shape_aux_block=shape_aux_block,
                          shape_aux_background=shape_aux_background, draw_aux_weight=draw_aux_weight,
                          draw_aux_outline=draw_aux_outline,
                          positions=positions, seed=seed, threads=threads,
                          t2v_init=str(t2v_init) if t2v_init else None, object_weight=object_weight, snr_shift=snr_shift,
                          device=device, layout=layout, captions=captions, two_objects_share=two_objects_share,
                          object_scale=object_scale, object_scale_max=object_scale_max, layers=layers, heads=heads, patch_size=patch_size, text_tokens=text_tokens, lr=lr, warmup_steps=warmup_steps,
                          vae_init=str(vae_init) if vae_init else None, t2v_minutes=t2v_minutes,
                          fresh_caption_share=fresh_caption_share, i2v_shape_swap_share=i2v_shape_swap_share,
                          text_noise=text_noise, text_token_drop=text_token_drop,
                          text_encoder=text_encoder or init_text_encoder(t2v_init))
    try:
        check_positions(positions, field="--positions")
        check_device(device, field="--device")
        if t2v_init is not None:
            transformer_folder(t2v_init, field="--t2v-init")
        check_recipe(recipe)
    except ValueError as exc:
        name, _, rest = str(exc).partition(":")
        fail(f"{name}:{rest}" if name.startswith("--") else f"--{name.replace('_', '-')}:{rest}")
    if snapshot is not None:
        phase = SNAPSHOT_PHASES.get(snapshot_phase)
        if phase is None:
            fail(f"--snapshot-phase: '{snapshot_phase[:40]}' is not one of {', '.join(SNAPSHOT_PHASES)}")
        if not (out_dir / "checkpoints" / f"{phase}.state.pt").is_file():
            fail(f"--snapshot-phase: {out_dir / 'checkpoints'} holds no saved state of the {snapshot_phase} phase "
                 f"(it is written 5 minutes into the phase)")
        path = export_snapshot(out_dir, recipe, snapshot, name=phase,
                               log=lambda msg: err.print(msg, highlight=False))
        print_line(f"snapshot: {path}")
        return
    paths = train_shapes(out_dir, recipe, log=lambda msg: err.print(msg, highlight=False))
    for name, path in paths.items():
        print_line(f"{name}: {path}")


app.command("enhance", help="Rewrite an idea into a full cinematic prompt (the prompt agent).")(enhance_command)
app.command("serve", help="Serve the HTTP API (OpenAI- and Zhipu-compatible) with a local worker.")(serve_command)
app.command("worker", help="Run queue jobs for `serve --queue` on this machine (models stay loaded).")(
    worker_command)


def main() -> None:  # pragma: no cover
    """The `shotsmith` command. After a clip made in this process it skips the interpreter's
    teardown, which takes ~1 s with torch, diffusers and transformers loaded (measured); by then
    every file is in place and nothing is left to clean up (ffmpeg waited for, temps removed)."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if _finished_in_process.is_set():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
