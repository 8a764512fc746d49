"""`shotsmith worker`: a queue worker on any machine, for `serve --queue` (see queue_worker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from shotsmith.quiet import quiet_libraries, server_logging
from shotsmith.settings import Settings


def worker_command(
    queue: Optional[str] = typer.Option(None, help="Redis URL of the job queue [env SHOTSMITH_QUEUE]"),
    db: Optional[str] = typer.Option(None, help="Job records database, shared with the server: postgresql://... "
                                                "[env SHOTSMITH_DB; default HOME/jobs.sqlite3]"),
    home: Optional[Path] = typer.Option(None, help="Data folder shared with the server (job inputs and outputs) "
                                                   "[env SHOTSMITH_HOME]"),
    models: str = typer.Option("cogvideox-shapes,cogvideox-shapes-i2v",
                               help="Comma-separated models this worker loads and serves"),
    lease: Optional[float] = typer.Option(None, help="Seconds without a heartbeat before a job is given to "
                                                     "another worker [env SHOTSMITH_LEASE_S; default 60]"),
    log_level: str = typer.Option("info", help="debug | info | warning | error"),
) -> None:
    """Take jobs from the queue for the given models; models stay loaded between jobs."""
    server_logging(log_level)
    try:
        settings = Settings.from_env(home=home, queue_url=queue, db_url=db, lease_s=lease)
        if not settings.queue_url:
            raise ValueError("queue: a worker needs --queue redis://HOST:PORT/DB (or SHOTSMITH_QUEUE)")
        names = [m.strip() for m in models.split(",") if m.strip()]
        if not names:
            raise ValueError("models: give at least one model name")
        from shotsmith.jobs.queue_worker import QueueWorker

        worker = QueueWorker(settings.home, queue_url=settings.queue_url, db_url=settings.db_url, models=names,
                             lease_s=settings.lease_s, max_attempts=settings.max_attempts)
    except (ValueError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    quiet_libraries()
    worker.run()
