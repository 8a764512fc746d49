"""The `shotsmith` command line: thin over the service layer."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shotsmith.api.cli import serve_command
from shotsmith.prompt.cli import enhance_command

app = typer.Typer(help="shotsmith: idea in, finished clip out.", no_args_is_help=True, add_completion=False)
train_app = typer.Typer(help="Train the embedded model or fine-tune one.", no_args_is_help=True)
app.add_typer(train_app, name="train")
err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit; never a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@app.command()
def generate(
    prompt: str = typer.Argument("", help="What to film (may be empty for image-to-video)"),
    out_path: Path = typer.Option(Path("clip.mp4"), "--out", "-o", help="Output MP4 path"),
    image: Optional[Path] = typer.Option(None, help="First-frame image: image-to-video"),
    seed: Optional[int] = typer.Option(None, help="Seed; omitted = random (always printed)"),
    candidates: int = typer.Option(1, help="Number of clips with distinct seeds (1-4)"),
    model: Optional[str] = typer.Option(None, help="Registry name or local diffusers folder"),
    steps: Optional[int] = typer.Option(None, help="Denoising steps (default per model)"),
    guidance: Optional[float] = typer.Option(None, help="Classifier-free guidance scale"),
    size: str = typer.Option("1440x960", help="Output size WxH"),
    seconds: Optional[float] = typer.Option(None, help="Clip length in seconds (nearest allowed)"),
    fps: int = typer.Option(24, help="Output frame rate after interpolation"),
    frames: Optional[int] = typer.Option(None, help="Native frame count (model rule: 8k+1 or 16k+1)"),
    native_size: Optional[str] = typer.Option(None, help="Native render size WxH (default per model)"),
    interpolation: str = typer.Option("minterpolate", help="minterpolate | blend | none"),
    style: Optional[str] = typer.Option(None, help="Style preset for the prompt agent"),
    negative: str = typer.Option("", "--negative", help="Negative prompt"),
    enhance: bool = typer.Option(True, "--enhance/--no-enhance", help="Rewrite the prompt with the agent"),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Make a clip (or several candidates) from a prompt and/or a first-frame image."""
    from shotsmith.spec import SpecError, build_spec, parse_size

    try:
        width, height = parse_size(size, "size")
        nw, nh = parse_size(native_size, "native_size") if native_size else (None, None)
        spec = build_spec(
            prompt=prompt, negative_prompt=negative, image=str(image) if image else None, model=model, seed=seed,
            candidates=candidates, steps=steps, guidance=guidance, width=width, height=height, seconds=seconds,
            fps=fps, frames=frames, native_width=nw, native_height=nh, interpolation=interpolation, style=style,
            enhance=enhance,
        )
    except SpecError as exc:
        fail(str(exc))
    quiet_libraries()
    from shotsmith.engine import Cancelled
    from shotsmith.models.loader import ModelUnavailable
    from shotsmith.post import PostError
    from shotsmith.prompt import PromptError
    from shotsmith.service import Studio

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("loading model", total=None)

        def on_progress(p):
            label = {"denoise": f"denoising (candidate {p.candidate + 1})"}.get(p.stage, p.stage)
            bar.update(task, description=label, completed=p.step, total=p.total or None)

        try:
            result = Studio().generate(spec, out_path, on_progress)
        except (ModelUnavailable, PostError, PromptError, SpecError) as exc:
            fail(str(exc), 3)
        except (Cancelled, KeyboardInterrupt):
            fail("cancelled", 130)
    if json_out:
        out.print_json(json.dumps({
            "clips": [{"video": str(c.video), "gif": str(c.gif) if c.gif else None, "cover": str(c.cover),
                       "sidecar": str(c.sidecar), "seed": s, "width": c.width, "height": c.height, "fps": c.fps,
                       "frames": c.frames, "duration": c.duration} for c, s in zip(result.clips, result.seeds)],
            "contact_sheet": str(result.contact_sheet) if result.contact_sheet else None,
            "prompt": result.spec.prompt, "enhanced_prompt": result.spec.enhanced_prompt,
            "timings": result.timings,
        }))
        return
    if result.spec.enhanced_prompt and result.spec.enhanced_prompt != result.spec.prompt:
        err.print(f"[dim]enhanced prompt:[/] {result.spec.enhanced_prompt}", highlight=False)
    for clip, seed_used in zip(result.clips, result.seeds):
        out.print(f"{clip.video}  seed={seed_used}  {clip.width}x{clip.height} {clip.fps:g}fps "
                  f"{clip.duration:.2f}s", highlight=False)
        for extra in (clip.gif, clip.cover, clip.sidecar):
            if extra:
                out.print(f"  {extra}", highlight=False)
    if result.contact_sheet:
        out.print(f"{result.contact_sheet}  (contact sheet)", highlight=False)
    err.print(f"[dim]done in {result.timings['total']:.1f}s[/]")


@app.command("models")
def list_models(json_out: bool = typer.Option(False, "--json")) -> None:
    """List model entries, whether each is available locally, and where."""
    from shotsmith.models.registry import ENTRIES, is_available, local_path

    rows = []
    for entry in ENTRIES.values():
        path = local_path(entry)
        rows.append({"name": entry.name, "task": entry.task, "native": f"{entry.width}x{entry.height}",
                     "frames": entry.frames, "fps": entry.fps, "available": is_available(entry),
                     "path": str(path) if path else f"hub:{entry.hub_id}"})
    if json_out:
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "task", "native", "frames", "fps", "available", "path")
    for r in rows:
        table.add_row(r["name"], r["task"], r["native"], str(r["frames"]), str(r["fps"]),
                      "yes" if r["available"] else "no", r["path"])
    out.print(table)


@app.command("eval")
def eval_cmd(
    prompt_file: Optional[Path] = typer.Argument(None, help="JSONL of prompts (default: the held-out shapes captions)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for results.json (and frames)"),
    model: Optional[str] = typer.Option(None, help="Model name or folder (an i2v model also reports first-frame PSNR)"),
    enhance: bool = typer.Option(False, "--enhance/--no-enhance", help="Run the prompt agent first"),
    seed: int = typer.Option(1000, help="Seed of the first prompt (row i uses seed + i)"),
    steps: Optional[int] = typer.Option(None),
    guidance: Optional[float] = typer.Option(None),
    limit: Optional[int] = typer.Option(None, help="Only the first N prompts"),
) -> None:
    """Shapes-world adherence: generate each caption and score what the frames show."""
    from shotsmith.eval.shapes_eval import load_prompt_file, run_shapes_eval

    path = prompt_file or Path(__file__).parent / "eval" / "data" / "heldout_captions.jsonl"
    if not path.is_file():
        fail(f"prompt_file: {path} does not exist")
    try:
        rows = load_prompt_file(path)[:limit]
    except (ValueError, KeyError) as exc:
        fail(f"prompt_file: {path} is not JSONL with a 'prompt' per line ({exc})")
    if not rows:
        fail(f"prompt_file: no shapes-world prompts with known answers in {path}")
    quiet_libraries()
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("evaluating", total=len(rows))
        result = run_shapes_eval(rows, model=model, enhance=enhance, seed=seed, steps=steps, guidance=guidance,
                                 on_row=lambda r: bar.advance(task), frames_out=out_dir)
    summary = result.summary
    table = Table("slot", "adherence %")
    for slot, value in summary["per_slot"].items():
        table.add_row(slot, "-" if value is None else f"{value:.1f}")
    table.add_row("overall", f"{summary['overall']:.1f}")
    table.add_row("all slots right", f"{summary['all_correct']:.1f}")
    if "first_frame_psnr_mean" in summary:
        table.add_row("first-frame PSNR dB (mean/min)",
                      f"{summary['first_frame_psnr_mean']:.1f} / {summary['first_frame_psnr_min']:.1f}")
    out.print(table)
    if out_dir:
        (out_dir / "results.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        out.print(f"{out_dir / 'results.json'}")


@train_app.command("shapes")
def train_shapes_cmd(
    out_dir: Path = typer.Option(..., "--out", help="Folder for checkpoints and the two model folders"),
    minutes: float = typer.Option(120.0, help="Wall-clock cap for all phases (a phase stops early at its share)"),
    scenes: int = typer.Option(1200, help="Rendered training scenes (4 captions each)"),
    vae_steps: int = typer.Option(2400, help="VAE optimisation steps"),
    t2v_steps: int = typer.Option(1800, help="Text-to-video transformer steps"),
    i2v_steps: int = typer.Option(500, help="Image-to-video fine-tuning steps"),
    t2v_more_steps: int = typer.Option(0, help="Extra text-to-video steps after the I2V phase"),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="CPU threads (1 is fastest on a shared 2-core machine)"),
) -> None:
    """Train the embedded shapes-world model (T2V + I2V); resumes from OUT/checkpoints."""
    quiet_libraries()
    from shotsmith.train.shapes import ShapesRecipe, train_shapes

    recipe = ShapesRecipe(minutes=minutes, scenes=scenes, vae_steps=vae_steps, t2v_steps=t2v_steps,
                          i2v_steps=i2v_steps, t2v_more_steps=t2v_more_steps, seed=seed, threads=threads)
    paths = train_shapes(out_dir, recipe, log=lambda msg: err.print(msg, highlight=False))
    for name, path in paths.items():
        out.print(f"{name}: {path}")


app.command("enhance", help="Rewrite an idea into a full cinematic prompt (the prompt agent).")(enhance_command)
app.command("serve", help="Serve the HTTP API (OpenAI- and Zhipu-compatible) with a local worker.")(serve_command)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
