"""Running one claimed job: spec in, clip files and a finished record out.

Reads like a numbered script: rebuild the spec, run the studio with progress and
cancel hooks, record outputs, or record why it stopped. The outputs are written by
`finish_clip` under temporary names and renamed into place, and the job folder is
fixed by the job id, so running a job a second time after a crash simply replaces
whatever the first run left. Both workers (the embedded thread, `shotsmith worker`)
run jobs through `run_job` with a `CancelCheck`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, Literal, Protocol

from shotsmith.jobs.records import ClipOutput, Job, JobError, JobResult
from shotsmith.jobs.store import JobStore

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.5  # how often a running job re-reads its cancel flag from the database
CLIP_NAME = "clip.mp4"
# Share of the progress bar each stage fills: denoising is most of the wall time on a GPU;
# on a CPU decode and encode take a fair share too, so they keep the last 15 points.
_DENOISE_START, _DENOISE_END, _ENCODE_END = 2, 85, 99
StopReason = Literal["client", "shutdown", "lost"]


class Engine(Protocol):
    def pipeline(self, entry): ...

    def loaded(self) -> list[str]: ...


class Studio(Protocol):
    """What a worker runs jobs with (shotsmith.service.Studio; tests pass a small fake)."""

    engine: Engine

    def generate(self, spec, out: Path, on_progress: Callable, should_cancel: Callable[[], bool]): ...


def default_studio() -> Studio:
    from shotsmith.service import Studio

    return Studio()


class CancelCheck:
    """The `should_cancel` a running job hands to the engine, polled between denoising steps.

    True once someone in this process said stop (`stop(reason)`: the client cancelled
    or deleted the job here, the server is shutting down, the worker lost its lease),
    or when the job's cancel flag is set in the store (a cancel that reached another
    process), read at most every `poll_s` seconds. `reason` says which.
    """

    def __init__(self, store: JobStore, job_id: str, poll_s: float = CANCEL_POLL_S):
        self.store, self.job_id, self.poll_s = store, job_id, poll_s
        self.reason: StopReason | None = None
        self._asked: StopReason | None = None
        self._last_poll = 0.0

    def stop(self, reason: StopReason) -> None:
        """From any thread: make the running job stop at its next step."""
        if self._asked is None:
            self._asked = reason

    def __call__(self) -> bool:
        if self._asked is not None:
            self.reason = self._asked
            return True
        now = time.monotonic()
        if now - self._last_poll >= self.poll_s:
            self._last_poll = now
            if self.store.cancel_requested(self.job_id):
                self.reason = "client"
                return True
        return False


def private_dir(folder: Path) -> Path:
    """A folder (the jobs root, a job's folder) only the server's user can enter: 0700,
    however it was made."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
    except PermissionError as exc:  # made by another user (a shared folder): say so, and go on
        log.warning("could not make %s private: %s", folder, exc)
    return folder


def remove_partial_files(folder: Path) -> list[str]:
    """Delete what a killed run left half-written in a job folder (post/finish.py's temp
    files); the inputs and any finished files stay. Returns the names removed."""
    from shotsmith.post.finish import TEMP_MARK

    removed = []
    if folder.is_dir():
        for path in folder.glob(f".*{TEMP_MARK}*"):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def take_back_stale(store: JobStore, lease_s: float, max_attempts: int, jobs_root: Path,
                    on_requeued: Callable[[Job], None] | None = None) -> dict[str, list[str]]:
    """Take back every job whose holder went silent for longer than the lease.

    Safe to run from any number of processes at once: `release_stale` succeeds for exactly
    one of them per job, and only that one calls `on_requeued` (a queue publishes the job
    again; the local worker just claims it). A purged job loses its folder; a job that ended
    (failed, cancelled) loses the dead run's half-written files. A requeued one keeps them
    until its next run: the dead holder may still be finishing a write, and the next run
    replaces them anyway.
    """
    import shutil

    report: dict[str, list[str]] = {}
    for job in store.stale(lease_s):
        outcome = store.release_stale(job.id, lease_s, max_attempts)
        if outcome is None:
            continue
        report.setdefault(outcome, []).append(job.id)
        if outcome == "purged":
            shutil.rmtree(jobs_root / job.id, ignore_errors=True)
        elif outcome in ("failed", "cancelled"):
            remove_partial_files(jobs_root / job.id)
        else:
            log.warning("job %s: its holder %s stopped answering; the job is queued again", job.id, job.worker)
            if on_requeued is not None:
                on_requeued(job)
    return report


def progress_percent(stage: str, step: int, total: int, candidate: int, candidates: int) -> int:
    """Map the engine's stage and step onto one 0-100 bar that only moves forward."""
    if stage in ("load", "text", "starting") or not total:
        return _DENOISE_START if stage == "text" else 0
    if stage in ("denoise", "decode"):
        return _DENOISE_START + int((_DENOISE_END - _DENOISE_START) * step / total)
    if stage == "encode":
        return _DENOISE_END + int((_ENCODE_END - _DENOISE_END) * (candidate + 1) / max(1, candidates))
    return 0


def error_for(exc: BaseException) -> JobError:
    """A job error with a stable code and a message a client can act on (no traceback)."""
    from pydantic import ValidationError

    from shotsmith.spec import validation_message

    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        return JobError("invalid_request", validation_message(exc))
    code = getattr(type(exc), "job_code", None)  # each of our error types states its own code
    if code:
        return JobError(code, str(exc) or name)
    return JobError("internal_error", f"{name}: {exc}" if str(exc) else name)


def clip_output(clip, seed: int, folder: Path) -> ClipOutput:
    """ClipFiles (absolute paths) -> ClipOutput (names inside the job folder)."""

    def name(path) -> str | None:
        if path is None:
            return None
        path = Path(path)
        if path.parent.resolve() != folder.resolve():
            raise RuntimeError(f"clip file {path} is outside the job folder")
        return path.name

    return ClipOutput(video=name(clip.video), cover=name(clip.cover), sprite=name(clip.sprite),
                      sidecar=name(clip.sidecar), gif=name(clip.gif), seed=int(seed), width=int(clip.width),
                      height=int(clip.height), fps=float(clip.fps), frames=int(clip.frames),
                      duration=float(clip.duration))


def _local_inputs(spec: dict, folder: Path) -> dict:
    """The spec with its staged input files (image, last image, source clip) found in this
    machine's job folder.

    The server stages uploaded inputs in the job folder and records their paths; a
    worker on another machine sees the same shared folder under its own mount point.
    """
    from shotsmith.service import INPUT_FILE_FIELDS

    local = dict(spec)
    for name in INPUT_FILE_FIELDS:
        value = spec.get(name)
        if value and not Path(value).is_file() and (folder / Path(value).name).is_file():
            local[name] = str(folder / Path(value).name)
    return local


def run_job(store: JobStore, studio: Studio, job: Job, folder: Path, cancel: CancelCheck,
            worker: str | None = None) -> Job | None:
    """Run a claimed job to its end and record it. Never raises for a job's own failure.

    Ends completed, failed or cancelled; back in the queue when the server's shutdown
    stopped it (it runs again on the next start). With `worker`, progress and the
    result are recorded only while that worker still holds the job (see
    JobStore.claim); None means another worker took it over.
    """
    from shotsmith.engine import Cancelled
    from shotsmith.spec import GenerationSpec

    started = time.perf_counter()
    try:
        # 1. Rebuild the validated spec (re-checks the staged input image)
        spec = GenerationSpec.model_validate(_local_inputs(job.spec, folder))
        candidates = spec.candidates

        # 2. Generate, writing progress to the record and honouring cancel between steps
        def on_progress(p) -> None:
            percent = progress_percent(p.stage, p.step, p.total, p.candidate, candidates)
            store.set_progress(job.id, progress=percent, step=p.step, total_steps=p.total, stage=p.stage,
                               worker=worker)

        private_dir(folder)
        result = studio.generate(spec, folder / CLIP_NAME, on_progress, cancel)

        # 3. Record the outputs: file names only, relative to the job folder
        done = JobResult(
            outputs=[clip_output(clip, seed, folder) for clip, seed in zip(result.clips, result.seeds)],
            seeds=[int(seed) for seed in result.seeds],
            timings={k: round(float(v), 3) for k, v in result.timings.items()},
            contact_sheet=result.contact_sheet.name if result.contact_sheet else None,
            enhanced_prompt=result.spec.enhanced_prompt, notes=[str(n) for n in result.notes])
        return store.finish_completed(job.id, done, worker=worker)
    except Cancelled as exc:
        if cancel.reason == "lost":  # another worker holds the job now: its record is not ours to write
            return None
        if cancel.reason == "shutdown" and not store.cancel_requested(job.id):
            log.info("job %s interrupted by shutdown; it runs again on the next start", job.id)
            return store.requeue(job.id, worker=worker)
        log.info("job %s cancelled: %s", job.id, exc)
        return store.finish_cancelled(job.id, JobError("cancelled", f"cancelled by the client ({exc})"),
                                      worker=worker)
    except Exception as exc:  # a job's failure is recorded, never raised into the worker loop
        error = error_for(exc)
        if error.code == "internal_error":
            log.exception("job %s failed", job.id)
        else:
            log.warning("job %s failed: %s", job.id, error.message)
        return store.finish_failed(job.id, error, timings={"total": round(time.perf_counter() - started, 3)},
                                   worker=worker)
