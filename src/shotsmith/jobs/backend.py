"""The interface every job backend offers to the API.

The HTTP layer talks only to a `JobBackend`, so it cannot tell whether the worker
runs in this process (`LocalBackend`: SQLite + a worker thread) or on other
machines behind a distributed queue (a later backend with the same methods).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

from shotsmith.jobs.records import Job, JobPage
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
