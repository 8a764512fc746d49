"""`shotsmith serve`: the API, the job store and a local worker in one process (the
queue worker, `shotsmith worker`, is in shotsmith.jobs.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from shotsmith.settings import Settings, is_loopback
from shotsmith.quiet import quiet_libraries, server_logging


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (non-loopback needs SHOTSMITH_API_KEYS)"),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on"),
    home: Optional[Path] = typer.Option(None, help="Data folder (default: $SHOTSMITH_HOME or the user data dir)"),
    worker: Optional[bool] = typer.Option(None, "--worker/--no-worker", help="Run jobs in this process "
                                          "[env SHOTSMITH_WORKER; default on]"),
    preload: Optional[str] = typer.Option(None, help="Model to load at start ('' for none; default "
                                                     "cogvideox-shapes)"),
    queue: Optional[str] = typer.Option(None, help="Redis URL of a job queue: jobs go to `shotsmith worker` "
                                                   "processes instead of this process [env SHOTSMITH_QUEUE]"),
    db: Optional[str] = typer.Option(None, help="Job records: postgresql://... or an SQLite path "
                                                "[env SHOTSMITH_DB; default HOME/jobs.sqlite3]"),
    allow_downloads: bool = typer.Option(False, "--allow-downloads", help="Let a request start a model download "
                                         "from the hub (off: only models already on disk) [env "
                                         "SHOTSMITH_ALLOW_DOWNLOADS]"),
    log_level: str = typer.Option("info", help="debug | info | warning | error"),
) -> None:
    """Serve the OpenAI- and Zhipu-compatible video API with a local worker (or a queue)."""
    server_logging(log_level)
    try:
        settings = Settings.from_env(home=home, worker=worker, preload=preload, queue_url=queue, db_url=db,
                                     allow_downloads=allow_downloads or None)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if settings.public_url is None and port and host not in ("0.0.0.0", "::", ""):
        # Links need a root a client can fetch (the Zhipu SDK downloads video_result.url): the address
        # the operator told us to listen on, never the request's Host header.
        root = f"[{host}]" if ":" in host else host
        settings = settings.model_copy(update={"public_url": f"http://{root}:{port}"})
    if not settings.auth_enabled and not is_loopback(host):
        typer.echo(f"error: refusing to listen on {host} with authentication off. Set SHOTSMITH_API_KEYS "
                   "(comma-separated keys) or use --host 127.0.0.1.", err=True)
        raise typer.Exit(2)
    if not settings.auth_enabled:
        typer.secho("WARNING: SHOTSMITH_API_KEYS is not set - authentication is OFF (listening on loopback only)",
                    fg="red", bold=True, err=True)
    quiet_libraries(now=False)  # diffusers/transformers load with the model, after /healthz answers

    import uvicorn

    from shotsmith.api.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=10)
    from shotsmith import client

    try:
        announced_server(config, settings.server_file).run()
    finally:
        client.withdraw(settings.server_file)  # also after an error; a SIGKILL leaves it (the CLI checks)


def announced_server(config, path: Path):
    """uvicorn's server that, once listening, writes HOME/server.json (url, pid, version; mode 0600)
    for the CLI's warm path, and removes it as it shuts down (client.py reads it, and never trusts
    it blindly: a crash leaves a stale file that the CLI detects by the pid and /healthz)."""
    import uvicorn

    from shotsmith import client

    class AnnouncedServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started and self.servers and self.servers[0].sockets:
                client.announce(path, local_url(config.host, self.servers[0].sockets[0].getsockname()[1]))

        async def shutdown(self, sockets=None) -> None:
            client.withdraw(path)
            await super().shutdown(sockets)

    return AnnouncedServer(config)


def local_url(host: str, port: int) -> str:
    """The URL a CLI on this machine reaches the server at (a wildcard address via loopback)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
