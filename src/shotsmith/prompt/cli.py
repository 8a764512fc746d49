"""`shotsmith enhance`: print the enhanced prompt (or, with --json, the whole result).

The main CLI registers `enhance_command`; this module holds no logic beyond turning
arguments into an `enhance()` call and its result or error into output.
"""

from __future__ import annotations

from typing import Optional

import typer

from .agent import enhance
from .schema import PromptError


def enhance_command(
    text: Optional[str] = typer.Argument(None, help="The idea. May be empty for --mode i2v."),
    scene: Optional[str] = typer.Option(None, "--scene", help="Scene description (with --content, instead of TEXT)."),
    content: Optional[str] = typer.Option(None, "--content", help="Content description: who does what."),
    style: Optional[str] = typer.Option(None, "--style", help="Style preset, e.g. realistic, documentary, "
                                        "pixar-3d, anime-2d, sci-fi-fantasy, hollywood, cyberpunk."),
    mode: str = typer.Option("t2v", "--mode", help="t2v (text-to-video) or i2v (image-to-video)."),
    backend: str = typer.Option("rules", "--backend", help="rules (offline) or llm (SHOTSMITH_LLM_* settings)."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole result as JSON (slots, tokens, ...)."),
) -> None:
    """Enhance an idea into a formula prompt: camera, lighting, subject, movement, scene, mood."""
    try:
        result = enhance(text, scene=scene, content=content, style=style, mode=mode, backend=backend)
    except PromptError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # never a traceback on the command line
        typer.echo(f"error: internal error in the prompt agent: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if result.fallback_reason:
        typer.echo(f"warning: used the rule backend: {result.fallback_reason}", err=True)
    typer.echo(result.model_dump_json(indent=2) if json_out else result.prompt)
