"""Jobs: persistent records of generation requests and the workers that run them.

`JobBackend` is what the API talks to; `LocalBackend` is the embedded one (SQLite
through SQLAlchemy plus a worker thread in the server process); `QueueBackend`
(shotsmith.jobs.distributed) puts jobs on Celery for workers on other machines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shotsmith.jobs.backend import JobBackend, owner_of
    from shotsmith.jobs.local import LocalBackend
    from shotsmith.jobs.records import (
        ACTIVE, STATUSES, TERMINAL, ClipOutput, Job, JobConflict, JobError, JobFilter, JobNotFound, JobPage,
        JobResult, QueueFull, QueueUnavailable, StatusFilter, is_job_id, new_job_id,
    )
    from shotsmith.jobs.store import JobStore

# Imported on first use (PEP 562): `shotsmith worker`'s module lives in this package, and the CLI's
# --help must not pay for SQLAlchemy (~0.3 s) to list it.
_HOMES = {"JobBackend": "backend", "owner_of": "backend", "LocalBackend": "local", "JobStore": "store"}
_RECORDS = ("ACTIVE", "STATUSES", "TERMINAL", "ClipOutput", "Job", "JobConflict", "JobError", "JobFilter",
            "JobNotFound", "JobPage", "JobResult", "QueueFull", "QueueUnavailable", "StatusFilter", "is_job_id",
            "new_job_id")


def __getattr__(name: str):
    module = _HOMES.get(name) or ("records" if name in _RECORDS else None)
    if module is None:
        raise AttributeError(f"module 'shotsmith.jobs' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"shotsmith.jobs.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIVE", "STATUSES", "TERMINAL", "ClipOutput", "Job", "JobBackend", "JobConflict", "JobError", "JobFilter",
    "JobNotFound", "JobPage", "JobResult", "JobStore", "LocalBackend", "QueueFull", "QueueUnavailable", "StatusFilter",
    "is_job_id", "new_job_id", "owner_of",
]
