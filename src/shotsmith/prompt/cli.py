"""`shotsmith enhance`: print the enhanced prompt (or, with --json, the whole result).

The main CLI registers `enhance_command`; this module holds no logic beyond turning
arguments into an `enhance()` call and its result or error into output.
"""

from __future__ import annotations

from typing import Optional

import typer

from shotsmith.errors import FieldError

from .for_model import enhance_for_model
from .schema import EnhanceResult, PromptError


def enhance_command(
    text: Optional[str] = typer.Argument(None, help="The idea. May be empty for --mode i2v."),
    scene: Optional[str] = typer.Option(None, "--scene", help="Scene description (with --content, instead of TEXT)."),
    content: Optional[str] = typer.Option(None, "--content", help="Content description: who does what."),
    style: Optional[str] = typer.Option(None, "--style", help="Style preset, e.g. realistic, documentary, "
                                        "pixar-3d, anime-2d, sci-fi-fantasy, hollywood, cyberpunk."),
    mode: Optional[str] = typer.Option(None, "--mode", help="t2v (text-to-video) or i2v (image-to-video) "
                                       "[default: the model's task, else t2v]."),
    model: Optional[str] = typer.Option(None, "--model", help="Write the prompt for this model (registry name "
                                        "or local folder): its caption window and task. The embedded models "
                                        "read 48 tokens and get an English idea as typed [default: a "
                                        "226-token CogVideoX prompt]."),
    backend: str = typer.Option("rules", "--backend", help="rules (offline) or llm (SHOTSMITH_LLM_* settings)."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole result as JSON (slots, tokens, ...)."),
    server_url: Optional[str] = typer.Option(None, "--server", help="URL of a running `shotsmith serve` to ask "
                                             "(with its LLM settings for --backend llm) [env SHOTSMITH_SERVER; "
                                             "default: this home's server for --backend llm; the rule backend "
                                             "runs here, which is faster]"),
    local: bool = typer.Option(False, "--local", help="Run the agent in this process even when a server runs."),
) -> None:
    """Enhance an idea into a formula prompt: camera, lighting, subject, movement, scene, mood."""
    values = {"text": text, "scene": scene, "content": content, "style": style, "mode": mode, "backend": backend,
              "model": model}
    from shotsmith.client import names_a_folder

    # the server takes registry names only: a prompt for a local folder's model is written here
    result = None if local or names_a_folder(model) else enhance_on_server(server_url, values)
    try:
        result = result or enhance_for_model(text, scene=scene, content=content, style=style, mode=mode,
                                             backend=backend, model=model)
    except (PromptError, FieldError) as exc:  # FieldError: an unknown model, named as such
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # never a traceback on the command line
        typer.echo(f"error: internal error in the prompt agent: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if result.fallback_reason:
        typer.echo(f"warning: used the rule backend: {result.fallback_reason}", err=True)
    if not json_out:  # --json carries them in "notes"
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
    typer.echo(result.model_dump_json(indent=2) if json_out else result.prompt)


def enhance_on_server(url: str | None, values: dict) -> EnhanceResult | None:
    """The agent's answer from a running server (client.py), or None: run it here. Asked: a server
    named by --server / SHOTSMITH_SERVER, or this home's server for --backend llm (its LLM settings).
    A server that is gone or too slow: one line, then in-process; a refused key or request: the
    error, exit 2."""
    from pydantic import ValidationError

    from shotsmith import client
    from shotsmith.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a bad SHOTSMITH_* value
        _exit(str(exc), 2)
    if not url and not settings.server and values["backend"] != "llm":
        # The rule backend needs no model: here it takes ~0.35 s in all, against ~0.7 s through a
        # running server (docs/performance.md), with the same result; a named server is still asked.
        return None
    try:
        server = client.find_server(settings, url)
        return EnhanceResult.model_validate(client.enhance(server, values)) if server else None
    except client.ServerUnavailable as exc:
        typer.echo(f"note: {exc}; running in-process", err=True)
    except ValidationError:
        typer.echo("note: the server's answer is not a prompt-agent result; running in-process", err=True)
    except ValueError as exc:  # --server is not a URL
        _exit(str(exc), 2)
    except (client.ServerRefused, client.RemoteError) as exc:
        _exit(str(exc), 2)
    return None


def _exit(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
