"""Running one claimed job: spec in, clip files and a finished record out.

Reads like a numbered script: rebuild the spec, run the studio with progress and
cancel hooks, record outputs, or record why it stopped. The outputs are written by
`finish_clip` under temporary names and renamed into place, and the job folder is
fixed by the job id, so running a job a second time after a crash simply replaces
whatever the first run left.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from shotsmith.jobs.records import ClipOutput, Job, JobError
from shotsmith.jobs.store import JobStore

log = logging.getLogger(__name__)

CLIP_NAME = "clip.mp4"
# Share of the progress bar each stage fills: denoising is most of the wall time on a GPU;
# on a CPU decode and encode take a fair share too, so they keep the last 15 points.
_DENOISE_START, _DENOISE_END, _ENCODE_END = 2, 85, 99


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

    from shotsmith.spec import SpecError, validation_message

    name = type(exc).__name__
    if isinstance(exc, SpecError):
        return JobError("invalid_request", str(exc))
    if isinstance(exc, ValidationError):
        return JobError("invalid_request", validation_message(exc))
    codes = {"ModelUnavailable": "model_unavailable", "PostError": "post_processing_failed",
             "PromptError": "prompt_agent_failed", "Cancelled": "cancelled"}
    for klass in type(exc).__mro__:
        if klass.__name__ in codes:
            return JobError(codes[klass.__name__], str(exc) or name)
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
    """The spec with its staged input image found in this machine's job folder.

    The server stages an uploaded image in the job folder and records its path; a
    worker on another machine sees the same shared folder under its own mount point.
    """
    image = spec.get("image")
    if image and not Path(image).is_file() and (folder / Path(image).name).is_file():
        return {**spec, "image": str(folder / Path(image).name)}
    return spec


def run_job(store: JobStore, studio, job: Job, folder: Path, should_cancel: Callable[[], bool],
            worker: str | None = None) -> Job | None:
    """Run a claimed job to a terminal state and record it. Never raises for a job's own failure.

    With `worker`, progress and the result are recorded only while that worker still
    holds the job (see JobStore.claim); None means another worker took it over.
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

        folder.mkdir(parents=True, exist_ok=True)
        result = studio.generate(spec, folder / CLIP_NAME, on_progress, should_cancel)

        # 3. Record the outputs: file names only, relative to the job folder
        outputs = [clip_output(clip, seed, folder) for clip, seed in zip(result.clips, result.seeds)]
        sheet = result.contact_sheet.name if result.contact_sheet else None
        timings = {k: round(float(v), 3) for k, v in result.timings.items()}
        return store.finish(job.id, "completed", worker=worker, outputs=[o.__dict__ for o in outputs], seeds=list(result.seeds),
                            timings=timings, contact_sheet=sheet, enhanced_prompt=result.spec.enhanced_prompt,
                            error_code=None, error_message=None)
    except Cancelled as exc:
        log.info("job %s cancelled: %s", job.id, exc)
        return store.finish(job.id, "cancelled", worker=worker, error=JobError("cancelled", f"cancelled by the client ({exc})"))
    except Exception as exc:  # a job's failure is recorded, never raised into the worker loop
        error = error_for(exc)
        if error.code == "internal_error":
            log.exception("job %s failed", job.id)
        else:
            log.warning("job %s failed: %s", job.id, error.message)
        return store.finish(job.id, "failed", worker=worker, error=error,
                            timings={"total": round(time.perf_counter() - started, 3)})
