"""Source clips of edits and extensions, for every contract.

A source is either a completed job of the same key (by id: its first clip is copied into the
new job's folder) or a clip the client sent (upload or data URL: its bytes are staged). Either
way `submit_job` stages it under the server's own name and the spec decodes it before anything
is queued. The new job's record keeps the link (`SOURCE_META`), so answers can show where it
came from and, for an extension, how long it will be before it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shotsmith.api.errors import ApiError
from shotsmith.jobs.records import JobNotFound

# Job meta keys of an edit or extension: the source job's id (None for an uploaded clip) and
# the source's length in seconds (an extension's answer says the stitched total before it is made).
SOURCE_META = ("source_job_id", "source_seconds")
ACTIONS = {"video": "edited", "extend_from": "extended"}


def job_operation(spec: dict) -> str:
    """What a stored job did: "edit", "extend" or "generate" (as GenerationSpec.operation)."""
    return "edit" if spec.get("video") else "extend" if spec.get("extend_from") else "generate"


def shown_notes(job) -> list[str]:
    """A job's notes as its client knows the source: the server's staged file name becomes the
    source video's id, or "the uploaded clip"."""
    from shotsmith.api.fields import UPLOADED_CLIP

    notes = [str(note) for note in job.meta.get("notes") or []]
    shown = job.meta.get("source_job_id") or UPLOADED_CLIP
    for name in ACTIONS:
        if job.spec.get(name):
            notes = [note.replace(Path(job.spec[name]).name, shown) for note in notes]
    return notes


@dataclass
class SourceClip:
    """What `submit_job` stages for the spec field, and what the answer says about it."""

    value: Path | bytes
    job_id: str | None = None
    info: dict = field(default_factory=dict)  # width, height, fps, duration once known

    def meta(self) -> dict:
        return {"source_job_id": self.job_id, "source_seconds": self.info.get("duration")}


def clip_by_id(svc, owner: str, video_id: str, field: str, spec_field: str) -> SourceClip:
    """A completed job of this key as a source clip; another key's is not found (404), as for GET."""
    try:
        job = svc.backend.get(owner, video_id)
    except JobNotFound:
        shown = video_id if len(video_id) <= 80 else video_id[:80] + "..."
        raise ApiError("not_found", f"{field}: no video/job with id '{shown}' for this API key", field) from None
    if job.status != "completed" or not job.outputs:
        raise ApiError("conflict", f"{field}: video '{job.id}' is {job.status}; only a completed video can be "
                       f"{ACTIONS[spec_field]}", field)
    clip = job.outputs[0]
    try:
        path = svc.backend.file_path(job, clip.video)
    except FileNotFoundError:
        raise ApiError("conflict", f"{field}: video '{job.id}' has no clip file any more", field) from None
    return SourceClip(path, job.id, {"width": clip.width, "height": clip.height, "fps": clip.fps,
                                     "duration": clip.duration})


def probe_staged(source: SourceClip, path: Path, field: str) -> None:
    """An uploaded clip's size, rate and length, read from its staged file (SpecError naming
    `field` when it does not decode)."""
    from shotsmith.spec import check_video

    from shotsmith.spec import SpecError

    if not source.info:
        try:
            source.info = dict(check_video(path, field))
        except SpecError as exc:  # the staged name is the server's; the client knows its upload as "the clip"
            message = exc.message.replace(str(path), "the clip").replace(path.name, "the clip")  # no server path
            raise SpecError(field, message, exc.kind) from None


def source_defaults(values: dict, info: dict) -> dict:
    """The request's values with the output size and fps it left unset taken from the source."""
    from shotsmith.spec import source_output_defaults

    defaults = source_output_defaults(info)
    out = dict(values)
    if out.get("width") is None and out.get("height") is None and "width" in defaults:
        out["width"], out["height"] = defaults["width"], defaults["height"]
    if out.get("fps") is None and "fps" in defaults:
        out["fps"] = defaults["fps"]
    return out


def submit_with_sources(svc, owner: str, values: dict, sources: dict[str, SourceClip], *, source: str,
                        inputs: dict | None = None, renames: dict[str, str] | None = None, meta: dict | None = None):
    """`submit_job` for a request with source clips ({spec field: SourceClip}): each is staged,
    probed (an upload) and decoded by the spec before anything is queued; the output size and fps
    default to the source's; the record links the source (SOURCE_META)."""
    from shotsmith.api.common import request_spec, submit_job
    from shotsmith.spec import SpecError

    renames = renames or {}
    job_meta = dict(meta or {})

    def build(files: dict[str, Path]):
        for name, clip in sources.items():
            probe_staged(clip, files[name], renames.get(name, name))
        spec_values = values
        if sources:
            first = next(iter(sources.values()))
            spec_values = source_defaults(values, first.info)
            job_meta.update(first.meta())  # filled before submit_job records the job
        try:
            return request_spec(svc, spec_values, files, renames)
        except SpecError as exc:  # the staged names are the server's; the client knows its source as "the clip"
            message = exc.message
            for name in sources:
                message = message.replace(files[name].name, "the clip")
            raise SpecError(exc.field, message, exc.kind) from None

    staged = {**(inputs or {}), **{name: clip.value for name, clip in sources.items()}}
    return submit_job(svc, owner, build, inputs=staged, source=source, meta=job_meta)
