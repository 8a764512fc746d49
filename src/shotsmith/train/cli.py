"""`shotsmith train lora`: the command line over train/lora.py (typer stays out of the training code)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train_lora_command(
    data_dir: Path = typer.Argument(..., help="Clips + captions: prompts.txt/videos.txt, or clip.mp4 + clip.txt pairs"),
    model: Optional[str] = typer.Option(None, help="Registry name or local diffusers folder (default: embedded)"),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the cache, checkpoints, validation clips and the LoRA"),
    rank: int = typer.Option(32, help="LoRA rank"),
    steps: int = typer.Option(400, help="Optimisation steps"),
    lr: float = typer.Option(5e-4, help="AdamW learning rate (warm-up, then cosine to 10%)"),
    batch: Optional[int] = typer.Option(None, help="Clips per step (default 4 embedded, 1 real models)"),
    checkpoint_every: int = typer.Option(100, help="Save a resumable checkpoint every N steps"),
    validate_every: int = typer.Option(0, help="Write a validation clip every K steps (0: only at the end)"),
    validation_prompt: Optional[str] = typer.Option(None, help="Prompt of the validation clips "
                                                    "(default: the first caption)"),
    minutes: Optional[float] = typer.Option(None, help="Cap on training minutes (counting resumed runs); "
                                            "the LoRA is saved at the cap"),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None, help="CPU threads (1 is fastest on a busy 2-core machine)"),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore existing checkpoints in OUT and start over"),
) -> None:
    """Fine-tune a model with LoRA on your clips; resumes from OUT/checkpoints."""
    from rich.console import Console

    from shotsmith.quiet import quiet_libraries
    from shotsmith.train.clips import DataError
    from shotsmith.train.lora import LORA_FILE, LoraRecipe, TrainingError, train_lora

    err, out = Console(stderr=True), Console()
    quiet_libraries()
    recipe = LoraRecipe(rank=rank, steps=steps, lr=lr, batch=batch, checkpoint_every=checkpoint_every,
                        validate_every=validate_every, validation_prompt=validation_prompt, minutes=minutes,
                        seed=seed, threads=threads)
    from shotsmith.models.loader import ModelUnavailable
    from shotsmith.models.registry import UnknownModel

    try:
        result = train_lora(data_dir, out_dir, model, recipe,
                            log=lambda msg: err.print(msg, highlight=False),
                            on_problem=lambda msg: err.print(f"[yellow]skipped[/] {msg}", highlight=False),
                            fresh=fresh)
    except (DataError, TrainingError, UnknownModel, ModelUnavailable) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    out.print(str(result.path / LORA_FILE), highlight=False)
