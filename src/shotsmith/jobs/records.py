"""What a job is, as every backend and every API surface sees it.

Plain frozen dataclasses: they cross thread and module boundaries, never hold a
database session, and serialise to JSON with `to_dict()`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Literal

JobStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("queued", "in_progress", "completed", "failed", "cancelled")
ACTIVE: tuple[str, ...] = ("queued", "in_progress")
TERMINAL: tuple[str, ...] = ("completed", "failed", "cancelled")

JOB_ID_PREFIX = "video_"
_JOB_ID = re.compile(r"^video_[0-9a-f]{32}$")


def new_job_id() -> str:
    """Server-generated, unguessable, and safe as a folder name."""
    return JOB_ID_PREFIX + secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    """True only for ids this server could have made: nothing else reaches the filesystem."""
    return isinstance(value, str) and bool(_JOB_ID.match(value))


class JobNotFound(LookupError):
    """No such job for this owner (another owner's job is 'not found' too)."""

    def __init__(self, job_id: str):
        super().__init__(f"no job '{job_id}'")
        self.job_id = job_id


class JobConflict(RuntimeError):
    """The job exists but is in the wrong state for the request."""


class QueueFull(RuntimeError):
    """The owner already has the maximum number of queued or running jobs."""


class QueueUnavailable(RuntimeError):
    """The distributed queue could not take the job (broker unreachable)."""


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class ClipOutput:
    """One finished clip; file fields are names inside the job folder, never paths."""

    video: str
    cover: str
    sprite: str
    sidecar: str
    gif: str | None
    seed: int
    width: int
    height: int
    fps: float
    frames: int
    duration: float

    def files(self) -> list[str]:
        return [name for name in (self.video, self.gif, self.cover, self.sprite, self.sidecar) if name]


@dataclass(frozen=True)
class Job:
    id: str
    owner: str  # sha256 of the API key, never the key
    status: str
    spec: dict  # GenerationSpec as submitted (JSON)
    created_at: float
    source: str = "native"  # which API created it: openai | zhipu | native
    progress: int = 0  # 0-100
    step: int = 0  # denoising step i of total_steps (all candidates)
    total_steps: int = 0
    stage: str = "queued"
    seeds: list[int] = field(default_factory=list)
    enhanced_prompt: str | None = None
    timings: dict = field(default_factory=dict)
    error: JobError | None = None
    outputs: list[ClipOutput] = field(default_factory=list)
    contact_sheet: str | None = None
    meta: dict = field(default_factory=dict)  # wire details: request_id, remixed_from, requested size...
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    cancel_requested: bool = False
    worker: str | None = None  # the worker holding it while in progress
    model: str | None = None  # the model it runs on (which workers may take it)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def file_names(self) -> set[str]:
        """Every file name a client may download from this job."""
        names = {name for clip in self.outputs for name in clip.files()}
        if self.contact_sheet:
            names.add(self.contact_sheet)
        return names

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("owner")
        data.pop("worker")
        return data


@dataclass(frozen=True)
class JobResult:
    """What a completed run leaves: its clips, the seeds used, timings, the prompt it ran on."""

    outputs: list[ClipOutput] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    contact_sheet: str | None = None
    enhanced_prompt: str | None = None
    notes: list[str] = field(default_factory=list)  # what the service changed (a source clip resampled...)


StatusFilter = Literal["all", "active", "finished", "queued", "in_progress", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class JobFilter:
    """The gallery's search: every word must appear in the prompt (or the enhanced prompt),
    or be one of the job's seeds or its id; then status, style preset ('none' for jobs
    without one) and task."""

    words: tuple[str, ...] = ()
    status: StatusFilter = "all"
    style: str | None = None
    task: Literal["t2v", "i2v"] | None = None

    @classmethod
    def search(cls, q: str, **filters) -> "JobFilter":
        """From the search box: case-insensitive words."""
        return cls(words=tuple(q.lower().split()), **filters)


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    has_more: bool
