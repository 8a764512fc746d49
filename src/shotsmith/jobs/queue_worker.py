"""`shotsmith worker`: a Celery worker that keeps its models loaded and runs jobs.

One job at a time per worker process (a video model fills the GPU); the Celery
"threads" pool with concurrency 1 runs it beside Celery's own loop, so the worker
keeps answering the server's "which queues do you serve?" while it renders.

For each job id it receives, the worker:
  1. claims the job in the shared database (one conditional UPDATE; a job that is
     finished, cancelled, deleted or held by a live worker is left alone and the
     message is acknowledged);
  2. renews its lease every lease/4 seconds from a side thread, and stops the run
     if the lease was lost (another worker took the job over);
  3. runs it exactly as the embedded worker does (`run_job`): progress and the
     result are written only while it holds the lease, and output files are
     written under temporary names and renamed into the job's own folder, so a
     re-run replaces rather than duplicates.
Killed mid-job (even SIGKILL), its message is never acknowledged and its lease runs
out; any server or worker then puts the job back on the queue for another worker.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from shotsmith.jobs.distributed import DEFAULT_LEASE_S, release_stale_jobs
from shotsmith.jobs.queue import DEFAULT_VISIBILITY_TIMEOUT_S, TASK_NAME, make_celery, queue_for
from shotsmith.jobs.records import is_job_id
from shotsmith.jobs.store import JobStore, redact
from shotsmith.jobs.worker import CancelCheck, Studio, default_studio, private_dir, run_job

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"shotsmith-{os.getpid()}@{socket.gethostname()}"


class QueueWorker:
    def __init__(self, home: Path, *, queue_url: str, db_url: str | None = None, models: list[str],
                 lease_s: float = DEFAULT_LEASE_S, max_attempts: int = 3,
                 visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S,
                 studio_factory: Callable[[], Studio] | None = None, name: str | None = None):
        from shotsmith.models.registry import resolve

        self.home = Path(home)
        self.jobs_root = self.home / "jobs"
        self.db_url = db_url or str(self.home / "jobs.sqlite3")
        self.entries = [resolve(m) for m in models]  # UnknownModel names the bad one before anything starts
        self.models = [e.name for e in self.entries]
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.name = name or worker_name()
        self.celery = make_celery(queue_url, visibility_timeout_s=visibility_timeout_s)

        @self.celery.task(name=TASK_NAME, ignore_result=True)
        def run_job_task(job_id: str) -> str:
            return self.handle(job_id)

        self.studio_factory = studio_factory or default_studio
        self.store: JobStore | None = None
        self.studio: Studio | None = None
        self._stop = threading.Event()

    # Lifecycle -------------------------------------------------------------

    def prepare(self) -> None:
        """Open the database and load every model this worker serves, before taking jobs."""
        private_dir(self.jobs_root)
        self.store = JobStore(self.db_url)
        self.studio = self.studio_factory()
        for entry in self.entries:
            started = time.perf_counter()
            self.studio.engine.pipeline(entry)
            log.info("model %s ready in %.1fs", entry.name, time.perf_counter() - started)

    def run(self) -> None:
        """Serve until stopped (SIGTERM/SIGINT: finish the current job, then exit)."""
        self.prepare()
        watcher = threading.Thread(target=self._watch_leases, name="shotsmith-lease-watch", daemon=True)
        watcher.start()
        queues = [queue_for(m) for m in self.models]
        log.info("worker %s: models %s; records in %s", self.name, ", ".join(self.models), redact(self.store.url))
        worker = self.celery.Worker(hostname=self.name, queues=queues, pool="threads", concurrency=1,
                                    without_gossip=True, without_mingle=True, loglevel="INFO")
        try:
            worker.start()
        finally:
            self._stop.set()
            self.store.close()

    # One job ---------------------------------------------------------------

    def handle(self, job_id: str) -> str:
        """The Celery task: run one job if this worker may; returns what happened (for logs)."""
        if not is_job_id(job_id):
            log.warning("ignoring a message with a malformed job id %r", job_id)
            return "ignored"
        job = self.store.claim(job_id, self.name, self.lease_s)
        if job is None:
            log.info("job %s: nothing to do here (finished, cancelled, deleted, or held by a live worker)", job_id)
            return "skipped"
        log.info("job %s started on %s (attempt %d)", job_id, self.name, job.attempts)
        cancel = CancelCheck(self.store, job_id)
        done_beating = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, cancel, done_beating), daemon=True)
        beat.start()
        try:
            folder = self.jobs_root / job_id
            done = run_job(self.store, self.studio, job, folder, cancel, worker=self.name)
        finally:
            done_beating.set()
            beat.join(5)
        if self.store.is_deleted(job_id):
            self.store.purge(job_id)
            shutil.rmtree(self.jobs_root / job_id, ignore_errors=True)
            return "deleted"
        if done is None:
            log.warning("job %s: this worker lost its lease; another worker's result stands", job_id)
            return "lost"
        log.info("job %s %s", job_id, done.status)
        return done.status

    def _heartbeat(self, job_id: str, cancel: CancelCheck, done: threading.Event) -> None:
        while not done.wait(self.lease_s / 4):
            try:
                if not self.store.heartbeat(job_id, self.name):
                    cancel.stop("lost")
                    return
            except Exception as exc:  # a database blip: try again at the next beat
                log.warning("job %s: heartbeat failed: %s", job_id, exc)

    def _watch_leases(self) -> None:
        # Workers watch leases too, so a dead worker's job comes back even with no server running.
        while not self._stop.wait(max(1.0, self.lease_s / 4)):
            try:
                release_stale_jobs(self.store, self.celery, self.lease_s, self.max_attempts, self.jobs_root)
            except Exception as exc:
                log.warning("lease check failed: %s", exc)
