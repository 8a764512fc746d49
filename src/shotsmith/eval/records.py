"""What a report holds: rows (one prompt or one job) of clips (one per candidate), and
the summary tables computed from them. Plain dataclasses that serialise to the JSON
written beside the HTML (`results.json`); the eval runner and the gallery export both
fill them, and `shotsmith.eval.report` renders them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from shotsmith.eval.adherence import SLOTS, AdherenceResult, aggregate

UNGROUPED = "uncategorised"
PROBLEM_SEVERITIES = ("fail", "warn")


@dataclass
class ClipReport:
    """One finished clip: its files (paths relative to the report folder), numbers and flags."""

    candidate: int  # 1..K
    seed: int | None
    files: dict[str, str | None]  # video, poster, sheet, cover, sprite, gif, sidecar
    metrics: dict  # ClipMetrics.to_dict()
    flags: list[dict] = field(default_factory=list)  # Flag.to_dict()
    adherence: dict | None = None  # AdherenceResult.to_dict() + "detected"
    first_frame: dict | None = None  # FirstFrameMatch.to_dict() (image-to-video)
    timings: dict = field(default_factory=dict)  # seconds, from the clip's sidecar

    @property
    def problems(self) -> list[dict]:
        return [f for f in self.flags if f["severity"] in PROBLEM_SEVERITIES]

    def has(self, code: str) -> bool:
        return any(f["code"] == code for f in self.flags)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RowReport:
    """One prompt of a suite (or one job of the gallery) and the clips made from it."""

    id: str
    category: str
    prompt: str
    mode: str = "t2v"  # t2v | i2v
    subject: str | None = None
    enhanced_prompt: str | None = None
    model: str | None = None
    style: str | None = None
    seeds: list[int] = field(default_factory=list)
    expected: dict | None = None  # shapes-world slots, when the prompt states them
    first_frame: dict | None = None  # {"file": rel path, "source": t2v|world|given|job, "how": sentence}
    contact_sheet: str | None = None  # the studio's candidates sheet, rel path
    clips: list[ClipReport] = field(default_factory=list)
    timings: dict = field(default_factory=dict)  # seconds: generate total, first frame, analysis
    error: dict | None = None  # {"type", "message"} when the row could not be made
    note: str | None = None
    extra: dict = field(default_factory=dict)  # gallery: job id, created, source...

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    title: str
    kind: str  # eval | gallery
    rows: list[RowReport] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # how the clips were made (model, steps, size...)
    created_at: float = field(default_factory=time.time)
    finished: bool = False  # False while a run is still adding rows
    group_label: str = "category"

    def groups(self) -> list[tuple[str, list[RowReport]]]:
        """Rows by group, groups in order of first appearance."""
        out: dict[str, list[RowReport]] = {}
        for row in self.rows:
            out.setdefault(row.category or UNGROUPED, []).append(row)
        return list(out.items())

    def summary(self) -> dict:
        return {"groups": [{"name": name, **summarise(rows)} for name, rows in self.groups()],
                "overall": summarise(self.rows)}

    def to_dict(self) -> dict:
        return {"title": self.title, "kind": self.kind, "created_at": self.created_at, "finished": self.finished,
                "group_label": self.group_label, "settings": self.settings, "summary": self.summary(),
                "rows": [row.to_dict() for row in self.rows]}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def summarise(rows: list[RowReport]) -> dict:
    """The numbers of one summary-table line: counts, flags, means of the metrics, adherence."""
    clips = [clip for row in rows for clip in row.clips]
    flag_counts: dict[str, int] = {}
    for clip in clips:
        for flag in clip.flags:
            flag_counts[flag["code"]] = flag_counts.get(flag["code"], 0) + 1
    scored = [clip.adherence for clip in clips if clip.adherence]
    adherence = aggregate([AdherenceResult(slots={k: a["slots"].get(k) for k in SLOTS}, overall=a["overall"])
                           for a in scored]) if scored else None
    seconds = [row.timings["generate"] / len(row.clips) for row in rows if row.clips and "generate" in row.timings]
    firsts = [clip.first_frame["psnr"] for clip in clips if clip.first_frame]
    return {
        "prompts": len(rows),
        "clips": len(clips),
        "errors": sum(1 for row in rows if row.error),
        "flagged": sum(1 for clip in clips if clip.problems),
        "frozen": sum(1 for clip in clips if clip.has("frozen")),
        "near_duplicates": sum(1 for clip in clips if clip.has("near_duplicate")),
        "flag_counts": dict(sorted(flag_counts.items())),
        "flicker": _mean([clip.metrics["flicker"] for clip in clips]),
        "motion": _mean([clip.metrics["motion"] for clip in clips]),
        "duration": _mean([clip.metrics["duration"] for clip in clips]),
        "adherence": adherence,
        "first_frame_psnr": _mean(firsts),
        "seconds_per_clip": _mean(seconds),
        "seconds_total": round(sum(row.timings.get("total", 0.0) for row in rows), 2),
    }
