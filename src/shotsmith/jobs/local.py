"""The embedded backend: job records in SQLite and one worker thread in this process.

The worker claims the oldest queued job, runs it through the studio (the model
stays loaded between jobs), and claims the next. On start, jobs that a previous
process left queued or in progress are run again (at-least-once), after the
half-written files of the dead run are cleared from their folders; the output
write is idempotent, so a job run twice ends with one valid set of files.

Several servers may share one database named with `--db` (PostgreSQL). Each names itself in the
job records by its host and home folder, so a restart takes back its own jobs at once
and leaves the jobs another live server is running alone; it heart-beats the job it
runs, and takes over another server's job only when that one has been silent for the
lease (`SHOTSMITH_LEASE_S`).
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from shotsmith.jobs.backend import StoreBackend
from shotsmith.jobs.records import Job
from shotsmith.jobs.store import JobStore
from shotsmith.jobs.worker import (CancelCheck, Studio, default_studio, remove_partial_files, run_job,
                                   take_back_stale)
from shotsmith.quiet import quiet_libraries
from shotsmith.spec import GenerationSpec

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 60.0


def local_worker_name(home: Path) -> str:
    """The holder name this process writes in the job records: the same after a restart of the
    same server (host + home folder), different for another server on the same database."""
    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:8]
    return f"local@{socket.gethostname()}:{digest}"


class LocalBackend(StoreBackend):
    def __init__(self, home: Path, *, studio_factory: Callable[[], Studio] | None = None, run_worker: bool = True,
                 preload: str | None = None, max_active_per_owner: int = 50, max_attempts: int = 3,
                 db: str | None = None, lease_s: float = DEFAULT_LEASE_S):
        super().__init__(home, max_active_per_owner=max_active_per_owner, max_attempts=max_attempts)
        self.db = db or str(self.home / "jobs.sqlite3")
        self.worker_name = local_worker_name(self.home)
        self.lease_s = lease_s
        self.studio_factory = studio_factory or default_studio
        self.run_worker = run_worker
        self.preload = preload  # model name loaded before the first job, so the first job is not slow
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._running: CancelCheck | None = None  # the cancel check of the job in progress
        self._studio: Studio | None = None
        self._ready = False
        self._worker_error: str | None = None

    # Lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._make_jobs_root()
        self.store = JobStore(self.db)
        # The default database is this server's own file: every job left in progress is ours. A
        # database named with --db may be shared, so only our own jobs and silent holders' are.
        shared = self.db != str(self.home / "jobs.sqlite3")
        report = self.store.recover(self.max_attempts, holder=self.worker_name if shared else None,
                                    lease_s=self.lease_s)
        for job_id in report["purged"]:
            self._remove_dir(job_id)
        for job_id in report["requeued"] + report["failed"] + report["cancelled"]:
            removed = remove_partial_files(self.job_dir(job_id))  # before any worker runs it again
            if removed:
                log.info("job %s: removed %d half-written file(s) of the interrupted run", job_id, len(removed))
        if report["requeued"]:
            log.warning("resuming %d job(s) interrupted by the previous shutdown: %s", len(report["requeued"]),
                        ", ".join(report["requeued"]))
        if self.run_worker:
            self._stop.clear()
            self._thread = threading.Thread(target=self._worker_loop, name="shotsmith-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        running = self._running
        if running is not None:  # interrupt the running job; it is run again on the next start
            running.stop("shutdown")
        if self._thread is not None:
            self._thread.join(timeout)
        if self.store is not None:
            self.store.close()

    # StoreBackend hooks -------------------------------------------------------

    def _dispatch(self, job: Job, spec: GenerationSpec) -> None:
        self._wake.set()

    def _interrupt(self, job_id: str) -> None:
        running = self._running
        if running is not None and running.job_id == job_id:
            running.stop("client")

    def health(self) -> dict:
        alive = bool(self._thread and self._thread.is_alive())
        loaded = self._studio.engine.loaded() if self._studio is not None else []
        running = self._running
        return {
            "backend": "local",
            "worker": {"enabled": self.run_worker, "alive": alive, "ready": self._ready,
                       "current_job": running.job_id if running else None, "error": self._worker_error},
            "models_loaded": loaded,
            "jobs": self.store.counts() if self.store else {},
            "ok": (alive or not self.run_worker) and self._worker_error is None,
        }

    # Worker ----------------------------------------------------------------

    def _worker_loop(self) -> None:
        try:
            quiet_libraries()  # here, not at start-up: diffusers loads in this thread, after /healthz answers
            self._studio = self.studio_factory()
            if self.preload:
                self._preload(self.preload)
        except Exception as exc:  # the API stays up and says so in /healthz
            log.exception("the worker could not start")
            self._worker_error = f"{type(exc).__name__}: {exc}"
            return
        self._ready = True
        next_sweep = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_sweep:  # another server's job whose holder went silent
                next_sweep = time.monotonic() + max(1.0, self.lease_s / 4)
                self._take_back_stale()
            job = self.store.claim_next(self.worker_name)
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _preload(self, name: str) -> None:
        from shotsmith.models.registry import resolve

        started = time.perf_counter()
        try:
            entry = resolve(name)
            self._studio.engine.pipeline(entry)
            log.info("model %s loaded in %.1fs", name, time.perf_counter() - started)
        except Exception as exc:  # a missing model fails its jobs with a clear error instead
            log.warning("could not preload model %s: %s", name, exc)
            return
        if entry.embedded and entry.task == "t2v":
            try:
                self._warm_up(entry.name)
            except Exception as exc:  # only a lost head start: the first job pays it instead
                log.warning("could not warm model %s up: %s", name, exc)

    def _warm_up(self, name: str) -> None:
        """One 2-step render at the model's native shapes, and the post-processing imports: the
        first job then does not pay the first-call costs (kernel set-up for these shapes, the empty
        negative prompt's encoding, PyAV and ffmpeg look-ups), ~0.4 s on 2 CPU cores. Only for the
        small embedded model: on a real checkpoint two steps cost more than they save."""
        import av  # noqa: F401  (post/media.py imports it on first use)

        from shotsmith.post.ffmpeg import ffmpeg_exe
        from shotsmith.spec import build_spec

        started = time.perf_counter()
        self._studio.engine.render(build_spec(prompt="warm-up", model=name, steps=2, enhance=False, seed=0))
        ffmpeg_exe()
        log.info("model %s warmed up in %.1fs", name, time.perf_counter() - started)

    def _take_back_stale(self) -> None:
        try:
            take_back_stale(self.store, self.lease_s, self.max_attempts, self.jobs_root)
        except Exception as exc:  # a database blip: try again at the next sweep
            log.warning("lease check failed: %s", exc)

    def _heartbeat(self, job_id: str, cancel: CancelCheck, done: threading.Event) -> None:
        # Progress updates renew the lease too, but one long step or a long encode sends none.
        while not done.wait(self.lease_s / 4):
            try:
                if not self.store.heartbeat(job_id, self.worker_name):
                    cancel.stop("lost")
                    return
            except Exception as exc:
                log.warning("job %s: heartbeat failed: %s", job_id, exc)

    def _run(self, job: Job) -> None:
        log.info("job %s started (attempt %d)", job.id, job.attempts)
        cancel = CancelCheck(self.store, job.id)
        self._running = cancel
        if self._stop.is_set():  # stop() came between the claim and now
            cancel.stop("shutdown")
        done_beating = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, cancel, done_beating), daemon=True)
        beat.start()
        try:
            done = run_job(self.store, self._studio, job, self.job_dir(job.id), cancel, worker=self.worker_name)
            if self.store.is_deleted(job.id):
                self.store.purge(job.id)
                self._remove_dir(job.id)
            elif done is not None:
                log.info("job %s %s", job.id, done.status)
        finally:
            done_beating.set()
            beat.join(5)
            self._running = None
