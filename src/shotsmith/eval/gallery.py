"""Export the clips users made as the same kind of report the eval writes.

Reads the completed jobs from the job store under SHOTSMITH_HOME (jobs.sqlite3 and
jobs/<id>/), filtered by date, style preset and API key, copies each job's files into
DIR/clips/<job id>/ (so the folder stands alone: zip it, move it, open it offline),
measures every clip from its frames like the eval does, scores shapes-world prompts
against their caption, and writes DIR/report.html and DIR/results.json grouped by style.

Nothing is written to the job store: it is only read.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shotsmith.eval.adherence import slots_from_caption
from shotsmith.eval.analyse import AnalysedClip, analyse_clip, mark_candidate_duplicates, mark_cross_duplicates, \
    read_sidecar, rel
from shotsmith.eval.records import Report, RowReport
from shotsmith.eval.report import write_report
from shotsmith.post import PostError

DB_NAME = "jobs.sqlite3"
INPUT_IMAGE_NAME = "input.png"  # where the API stages an image-to-video job's first frame
NO_STYLE = "no style"


class GalleryError(ValueError):
    """Nothing to export from here (no job store), or a bad filter."""


@dataclass
class GalleryFilter:
    since: float | None = None  # unix time; jobs created at or after it
    style: str | None = None  # a preset name, or "none" for jobs without a style
    key: str | None = None  # an API key: only its jobs ("" = the local owner when auth is off)
    limit: int | None = None  # newest N after filtering

    def describe(self) -> dict:
        return {"since": time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since)) if self.since else None,
                "style": self.style, "key": "given (its jobs only)" if self.key is not None else "all keys",
                "limit": self.limit}


def preset_name(style: str) -> str | None:
    """A style filter as stored in specs: a preset's name (aliases such as "Pixar" allowed), None for "none"."""
    from shotsmith.prompt.presets import PromptError, load_preset

    if style.strip().lower() in ("none", NO_STYLE):
        return None
    try:
        return load_preset(style).name
    except PromptError as exc:
        raise GalleryError(str(exc)) from None


def completed_jobs(home: Path, flt: GalleryFilter) -> list:
    """The completed, not deleted jobs under home that pass the filter, newest first."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shotsmith.jobs import JobStore, owner_of
    from shotsmith.jobs.store import JobRow, _to_job

    db = Path(home) / DB_NAME
    if not db.is_file():
        raise GalleryError(f"home: no job store at {db} (set SHOTSMITH_HOME or pass --home)")
    store = JobStore(db)
    try:
        query = select(JobRow).where(JobRow.status == "completed", JobRow.deleted.is_(False))
        if flt.key is not None:
            query = query.where(JobRow.owner == owner_of(flt.key))
        if flt.since is not None:
            query = query.where(JobRow.created_at >= flt.since)
        with Session(store.engine) as session:
            query = query.order_by(JobRow.created_at.desc(), JobRow.seq.desc())
            jobs = [_to_job(row) for row in session.scalars(query).all()]
    finally:
        store.close()
    if flt.style is not None:
        want = preset_name(flt.style)
        jobs = [job for job in jobs if job.spec.get("style") == want]
    return jobs[:flt.limit] if flt.limit else jobs


def export_gallery(home: Path, out_dir: Path, flt: GalleryFilter | None = None, *,
                   on_job: Callable[[int, int, str], None] | None = None) -> Report:
    """Copy, measure and report every matching job; returns the report (also written to out_dir)."""
    flt = flt or GalleryFilter()
    home, out_dir = Path(home), Path(out_dir)
    jobs = completed_jobs(home, flt)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(title="shotsmith gallery", kind="gallery", group_label="style",
                    settings={"home": str(home), **{k: v for k, v in flt.describe().items() if v is not None},
                              "jobs": len(jobs)})
    analysed: list[list[AnalysedClip]] = []
    for index, job in enumerate(jobs):
        if on_job:
            on_job(index, len(jobs), job.id)
        row, clips = job_row(job, home / "jobs" / job.id, out_dir)
        report.rows.append(row)
        analysed.append(clips)
    mark_cross_duplicates(analysed)
    report.finished = True
    write_report(report, out_dir)
    return report


def job_row(job, job_dir: Path, out_dir: Path) -> tuple[RowReport, list[AnalysedClip]]:
    """One job: copy its files, measure each clip. Missing files are reported on the row."""
    started = time.perf_counter()
    spec = job.spec
    prompt = spec.get("prompt") or ""
    expected = slots_from_caption(prompt) if prompt else None
    row = RowReport(
        id=job.id, category=spec.get("style") or NO_STYLE, prompt=prompt, mode="i2v" if spec.get("image") else "t2v",
        enhanced_prompt=job.enhanced_prompt, style=spec.get("style"), seeds=list(job.seeds), expected=expected,
        model=spec.get("model"),
        timings={k: float(v) for k, v in (job.timings or {}).items() if isinstance(v, (int, float))},
        extra={"made": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_at)), "via": job.source},
    )
    if "total" in row.timings:
        row.timings["generate"] = row.timings["total"]
    target = out_dir / "clips" / job.id
    target.mkdir(parents=True, exist_ok=True)
    analysed: list[AnalysedClip] = []
    try:
        image = None
        if spec.get("image") and (job_dir / INPUT_IMAGE_NAME).is_file():
            image = _copy(job_dir / INPUT_IMAGE_NAME, target)
            row.first_frame = {"file": rel(image, out_dir), "source": "given", "how": "the image the user gave"}
        for k, clip in enumerate(job.outputs, 1):
            files = {kind: _copy(job_dir / Path(name).name, target) if name else None for kind, name in
                     (("video", clip.video), ("cover", clip.cover), ("gif", clip.gif), ("sprite", clip.sprite),
                      ("sidecar", clip.sidecar))}
            video = files.pop("video")
            sidecar = read_sidecar(video)
            meta = sidecar.get("metadata") or {}
            row.model = meta.get("model") or row.model
            native = (sidecar.get("clip") or {}).get("native") or {}
            requested = {"width": spec.get("width"), "height": spec.get("height"), "fps": spec.get("fps"),
                         "duration": native["frames"] / native["fps"] if native.get("frames") and native.get("fps")
                         else None}
            analysed.append(analyse_clip(
                video, out_dir, candidate=k, seed=clip.seed, label=f"{job.id[-8:]} #{k}", expected=expected,
                input_image=image, requested=requested, files=files,
                timings={k2: round(float(v), 3) for k2, v in (sidecar.get("timings") or {}).items()},
            ))
        if job.contact_sheet:
            row.contact_sheet = rel(_copy(job_dir / Path(job.contact_sheet).name, target), out_dir)
        mark_candidate_duplicates(analysed)
        row.clips = [a.report for a in analysed]
    except (OSError, ValueError, PostError) as exc:  # a job folder cleaned by hand, an unreadable file
        row.error = {"type": type(exc).__name__, "message": str(exc)}
    row.timings["analyse"] = round(time.perf_counter() - started, 3)
    return row, analysed


def _copy(source: Path, folder: Path) -> Path:
    """Copy a job file into the export (skipped when an identical copy is already there)."""
    if not source.is_file():
        raise FileNotFoundError(f"{source.parent.name}/{source.name} is missing from the job folder")
    dest = folder / source.name
    stat = source.stat()
    if not (dest.is_file() and dest.stat().st_size == stat.st_size and dest.stat().st_mtime >= stat.st_mtime):
        shutil.copy2(source, dest)
    return dest
