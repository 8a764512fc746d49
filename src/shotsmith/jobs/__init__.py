"""Jobs: persistent records of generation requests and the workers that run them.

`JobBackend` is what the API talks to; `LocalBackend` is the embedded one (SQLite
through SQLAlchemy plus a worker thread in the server process); `QueueBackend`
(shotsmith.jobs.distributed) puts jobs on Celery for workers on other machines.
"""

from shotsmith.jobs.backend import JobBackend, owner_of
from shotsmith.jobs.local import LocalBackend
from shotsmith.jobs.records import (
    ACTIVE,
    STATUSES,
    TERMINAL,
    ClipOutput,
    Job,
    JobConflict,
    JobError,
    JobFilter,
    JobNotFound,
    JobPage,
    JobResult,
    QueueFull,
    QueueUnavailable,
    StatusFilter,
    is_job_id,
    new_job_id,
)
from shotsmith.jobs.store import JobStore

__all__ = [
    "ACTIVE", "STATUSES", "TERMINAL", "ClipOutput", "Job", "JobBackend", "JobConflict", "JobError", "JobFilter",
    "JobNotFound", "JobPage", "JobResult", "JobStore", "LocalBackend", "QueueFull", "QueueUnavailable", "StatusFilter",
    "is_job_id", "new_job_id", "owner_of",
]
