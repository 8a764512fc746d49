"""The interface every job backend offers to the API.

The HTTP layer talks only to a `JobBackend`, so it cannot tell whether the worker
runs in this process (`LocalBackend`: SQLite + a worker thread) or on other
machines behind a distributed queue (`QueueBackend`: Celery on Redis + PostgreSQL).
Both keep their records in a `JobStore` and their files under `HOME/jobs/<id>/`
(folders 0700: only the server's user reads clips and inputs); `StoreBackend` is
what they share.
"""

from __future__ import annotations

import hashlib
import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from shotsmith.jobs.records import Job, JobFilter, JobNotFound, JobPage, QueueFull, is_job_id, new_job_id
from shotsmith.jobs.store import JobStore
from shotsmith.jobs.worker import private_dir
from shotsmith.spec import GenerationSpec


def owner_of(api_key: str | None) -> str:
    """The stored owner of a key: its SHA-256, so the database never holds a key."""
    return hashlib.sha256((api_key or "").encode()).hexdigest()


class JobBackend(ABC):
    """Submit, observe, cancel and delete generation jobs for one owner at a time."""

    @abstractmethod
    def start(self) -> None:
        """Open storage, recover jobs a previous process left unfinished, start workers."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; a job in progress stays in progress and is run again on the next start."""

    @abstractmethod
    def new_job_id(self) -> str:
        """A fresh server-generated id (callers may stage input files before submitting)."""

    @abstractmethod
    def job_dir(self, job_id: str) -> Path:
        """The folder that holds a job's inputs and outputs. Only server ids are accepted."""

    @abstractmethod
    def submit(self, owner: str, spec: GenerationSpec, *, job_id: str | None = None, source: str = "native",
               meta: dict | None = None) -> Job:
        """Queue a validated spec; raises QueueFull when the owner has too many active jobs."""

    @abstractmethod
    def get(self, owner: str, job_id: str) -> Job:
        """The job, or JobNotFound (also for another owner's job)."""

    @abstractmethod
    def list(self, owner: str, *, after: str | None = None, limit: int = 20, order: str = "desc") -> JobPage:
        """The owner's jobs, newest first by default; `after` is the last id of the previous page."""

    @abstractmethod
    def search(self, owner: str, where: JobFilter, *, after: str | None = None, limit: int = 20) -> JobPage:
        """The owner's jobs that pass the gallery's filter, newest first; `after` as for list."""

    @abstractmethod
    def cancel(self, owner: str, job_id: str) -> Job:
        """Stop a job: at once if queued, between denoising steps if running."""

    @abstractmethod
    def delete(self, owner: str, job_id: str) -> Job:
        """Remove the job and its files (a running job is cancelled first)."""

    @abstractmethod
    def file_path(self, job: Job, name: str) -> Path:
        """The path of one of the job's own output files, by name; FileNotFoundError otherwise."""

    @abstractmethod
    def health(self) -> dict:
        """Whether the backend can take and run jobs, with queue counts."""


class StoreBackend(JobBackend):
    """The parts of a backend that only touch the job store and the job folders.

    Subclasses decide how a submitted job reaches a worker (`_dispatch`) and how a
    running job hears about its cancel or deletion (`_interrupt`).
    """

    store: JobStore | None

    def __init__(self, home: Path, *, max_active_per_owner: int = 50, max_attempts: int = 3):
        self.home = Path(home)
        self.jobs_root = self.home / "jobs"
        self.max_active_per_owner = max_active_per_owner
        self.max_attempts = max_attempts
        self.store = None

    def _dispatch(self, job: Job, spec: GenerationSpec) -> None:
        """Hand a freshly recorded job to whatever runs jobs."""

    def _interrupt(self, job_id: str) -> None:
        """Tell a running job to stop soon (it also polls its cancel flag in the store)."""

    def new_job_id(self) -> str:
        return new_job_id()

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise JobNotFound(job_id)
        return self.jobs_root / job_id

    def submit(self, owner: str, spec: GenerationSpec, *, job_id: str | None = None, source: str = "native",
               meta: dict | None = None) -> Job:
        from shotsmith.jobs.queue import model_key

        job_id = job_id or self.new_job_id()
        folder = self.job_dir(job_id)  # validates the id
        if folder.exists():  # the caller staged input files in it
            private_dir(folder)
        if self.store.active_count(owner) >= self.max_active_per_owner:
            raise QueueFull(f"this key already has {self.max_active_per_owner} queued or running jobs; "
                            "wait for some to finish")
        job = self.store.create(job_id, owner, spec.model_dump(mode="json"), source=source, meta=meta,
                                model=model_key(spec))
        self._dispatch(job, spec)
        return job

    def get(self, owner: str, job_id: str) -> Job:
        if not is_job_id(job_id):
            raise JobNotFound(job_id)
        return self.store.get(job_id, owner)

    def list(self, owner: str, *, after: str | None = None, limit: int = 20, order: str = "desc") -> JobPage:
        if after is not None and not is_job_id(after):
            raise JobNotFound(after)
        return self.store.list(owner, after=after, limit=limit, order=order)

    def search(self, owner: str, where: JobFilter, *, after: str | None = None, limit: int = 20) -> JobPage:
        if after is not None and not is_job_id(after):
            raise JobNotFound(after)
        return self.store.search(owner, where, after=after, limit=limit)

    def cancel(self, owner: str, job_id: str) -> Job:
        if not is_job_id(job_id):
            raise JobNotFound(job_id)
        job = self.store.cancel(job_id, owner)
        if job.status == "in_progress":
            self._interrupt(job_id)
        return job

    def delete(self, owner: str, job_id: str) -> Job:
        if not is_job_id(job_id):
            raise JobNotFound(job_id)
        job, purge_now = self.store.delete(job_id, owner)
        if purge_now:
            self._remove_dir(job_id)
        else:
            self._interrupt(job_id)
        return job

    def file_path(self, job: Job, name: str) -> Path:
        if name not in job.file_names():
            raise FileNotFoundError(name)
        folder = self.job_dir(job.id).resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise FileNotFoundError(name)
        return path

    def _make_jobs_root(self) -> None:
        private_dir(self.jobs_root)

    def _remove_dir(self, job_id: str) -> None:
        try:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        except JobNotFound:
            pass
