"""The scale-out backend: records in a shared database, jobs on a Celery queue.

The API server records each job (PostgreSQL, or SQLite when everything runs on
one machine) and publishes its id on the queue of the job's model. Workers on any
machine (`shotsmith worker`, see `queue_worker.py`) take ids from the queues of
the models they serve. The server never runs a job itself; it also watches over
leases: a job whose worker stopped heart-beating is put back on the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from shotsmith.jobs.backend import StoreBackend
from shotsmith.jobs.queue import DEFAULT_VISIBILITY_TIMEOUT_S, make_celery, publish, queue_for
from shotsmith.jobs.records import Job, JobFilter, JobPage, QueueUnavailable
from shotsmith.jobs.store import JobStore, redact
from shotsmith.jobs.worker import take_back_stale
from shotsmith.spec import GenerationSpec

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 60.0  # a worker renews its lease every lease/4 seconds while it runs a job
WORKERS_REFRESH_S = 5.0  # how often the server asks the workers which queues they consume
NO_WORKER_STAGE = "waiting_for_worker"


def release_stale_jobs(store: JobStore, celery, lease_s: float, max_attempts: int,
                       jobs_root: Path) -> dict[str, list[str]]:
    """Take back every job whose worker went silent; put requeued ones on the queue again."""
    return take_back_stale(store, lease_s, max_attempts, jobs_root,
                           on_requeued=lambda job: publish(celery, job.id, job.model or ""))


class QueueBackend(StoreBackend):
    def __init__(self, home: Path, *, queue_url: str, db_url: str | None = None, max_active_per_owner: int = 50,
                 max_attempts: int = 3, lease_s: float = DEFAULT_LEASE_S,
                 visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S):
        super().__init__(home, max_active_per_owner=max_active_per_owner, max_attempts=max_attempts)
        self.queue_url = queue_url
        self.db_url = db_url or str(self.home / "jobs.sqlite3")
        self.lease_s = lease_s
        self.celery = make_celery(queue_url, visibility_timeout_s=visibility_timeout_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._served: dict[str, list[str]] = {}  # worker name -> queues it consumes
        self._served_at = 0.0
        self._queue_error: str | None = None

    # Lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._make_jobs_root()
        self.store = JobStore(self.db_url)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="shotsmith-lease-watch", daemon=True)
        self._thread.start()
        log.info("queue backend: jobs on %s, records in %s", redact(self.queue_url), redact(self.store.url))

    def stop(self, timeout: float = 10.0) -> None:
        # Nothing runs here: jobs in progress belong to the workers and carry on.
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.store is not None:
            self.store.close()

    # StoreBackend hooks ------------------------------------------------------

    def _dispatch(self, job: Job, spec: GenerationSpec) -> None:
        try:
            publish(self.celery, job.id, job.model or "")
        except Exception as exc:  # broker down: the client hears it now, and no record claims a queued job
            self.store.purge(job.id)
            self._remove_dir(job.id)
            raise QueueUnavailable(f"the job queue is not reachable ({type(exc).__name__}); try again later") \
                from None

    # Reads: a queued job that no worker can take says so ---------------------

    def get(self, owner: str, job_id: str) -> Job:
        return self._explain(super().get(owner, job_id))

    def list(self, owner: str, *, after: str | None = None, limit: int = 20, order: str = "desc") -> JobPage:
        page = super().list(owner, after=after, limit=limit, order=order)
        return JobPage([self._explain(job) for job in page.jobs], page.has_more)

    def search(self, owner: str, where: JobFilter, *, after: str | None = None, limit: int = 20) -> JobPage:
        page = super().search(owner, where, after=after, limit=limit)
        return JobPage([self._explain(job) for job in page.jobs], page.has_more)

    def _explain(self, job: Job) -> Job:
        from dataclasses import replace

        if job.status != "queued" or not job.model or self._served_at == 0.0:
            return job
        if queue_for(job.model) in self.served_queues():
            return job
        note = f"no worker serves model '{job.model}'; the job waits until one does"
        return replace(job, stage=NO_WORKER_STAGE, meta={**job.meta, "waiting_for": note})

    def served_queues(self) -> set[str]:
        return {queue for queues in self._served.values() for queue in queues}

    def health(self) -> dict:
        counts = self.store.counts() if self.store else {}
        workers = {name: sorted(q.removeprefix("shotsmith.") for q in queues) for name, queues in self._served.items()}
        ok = self._queue_error is None and self._thread is not None and self._thread.is_alive()
        return {
            "backend": "queue",
            "queue": redact(self.queue_url),
            "db": redact(self.store.url) if self.store else None,
            "worker": {"enabled": False, "alive": bool(workers), "ready": bool(workers),
                       "error": self._queue_error, "remote": workers},
            "models_loaded": sorted({m for ms in workers.values() for m in ms}),
            "jobs": counts,
            "ok": ok,
        }

    # Watcher ----------------------------------------------------------------

    def _watch(self) -> None:
        last_release = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - self._served_at >= WORKERS_REFRESH_S:
                self._refresh_workers()
            if now - last_release >= max(1.0, self.lease_s / 4):
                last_release = now
                try:
                    release_stale_jobs(self.store, self.celery, self.lease_s, self.max_attempts, self.jobs_root)
                except Exception as exc:
                    log.warning("lease check failed: %s", exc)
            self._stop.wait(1.0)

    def _refresh_workers(self) -> None:
        try:
            replies = self.celery.control.inspect(timeout=1.0).active_queues() or {}
            self._served = {name: [q["name"] for q in queues] for name, queues in replies.items()}
            self._queue_error = None
        except Exception as exc:  # the broker is down: /healthz says so
            self._queue_error = f"queue unreachable: {type(exc).__name__}: {exc}"
        self._served_at = time.monotonic()
