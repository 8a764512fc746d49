"""The service layer: one clip from one spec. CLI, API and studio all call this.

    spec -> prompt agent (enhance) -> engine (denoise + decode) -> post (upscale,
    interpolate, encode) -> files on disk with a sidecar that can re-make the clip.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shotsmith import __version__
from shotsmith.engine import Cancelled, Engine, Progress, RenderResult
from shotsmith.engine.engine import CancelFn, ProgressFn
from shotsmith.post import ClipFiles, PostSettings, finish_clip
from shotsmith.post.finish import clip_paths, contact_sheet_path, temp_path
from shotsmith.spec import GenerationSpec

log = logging.getLogger(__name__)

INPUT_FILE_FIELDS = ("image", "last_image", "video", "extend_from")  # spec fields that name a file


@dataclass
class GenerationOutput:
    spec: GenerationSpec  # as run: enhanced_prompt filled in
    clips: list[ClipFiles]
    seeds: list[int]
    contact_sheet: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    enhancement: dict | None = None
    notes: list[str] = field(default_factory=list)  # what the service changed, said to the user


def enhance_spec(spec: GenerationSpec, tokenizer=None) -> tuple[GenerationSpec, dict | None]:
    """Run the prompt agent when asked to; the spec keeps both prompts.

    The model's own tokenizer makes the 226-token check exact."""
    if not spec.enhance or spec.enhanced_prompt:
        return spec, None
    from shotsmith.prompt import enhance

    entry = spec.entry()
    result = enhance(spec.prompt or None, style=spec.style, mode=entry.task, backend=spec.enhance_backend,
                     token_limit=entry.text_limit, tokenizer=tokenizer)
    info = result.model_dump(mode="json")
    return spec.model_copy(update={"enhanced_prompt": result.prompt}), info


def post_settings(spec: GenerationSpec) -> PostSettings:
    return PostSettings(width=spec.width, height=spec.height, fps=spec.fps, interpolation=spec.interpolation,
                        upscaler=spec.upscaler)


def clip_metadata(spec: GenerationSpec, render: RenderResult, seed: int, index: int) -> dict:
    """Everything needed to make the clip again from its own files."""
    return {
        "prompt": spec.prompt,
        "enhanced_prompt": spec.enhanced_prompt,
        "negative_prompt": spec.negative_prompt,
        "seed": seed,
        "candidate": index + 1,
        "candidates": spec.candidates,
        "model": render.entry.name,
        "steps": render.steps,
        # a recipe with a stage of its own (LTX-Video's refine steps after the upsampler) ran more
        **({"steps_run": render.candidate_steps} if render.candidate_steps > render.steps else {}),
        "guidance": render.guidance,
        "native": {"width": render.width, "height": render.height, "frames": render.frames,
                   "fps": render.entry.fps},
        "output": {"width": spec.width, "height": spec.height, "fps": spec.fps},
        "style": spec.style,
        # Input files by their names only: a sidecar or MP4 tag never carries a server path.
        "spec": spec.model_dump(mode="json", exclude={"seed", "candidates"}) | {"seed": seed} | {
            name: Path(getattr(spec, name)).name if getattr(spec, name) else None for name in INPUT_FILE_FIELDS},
        "shotsmith_version": __version__,
    }


class Studio:
    """The one core object: holds the engine (models stay loaded) and makes clips."""

    def __init__(self, engine: Engine | None = None):
        self.engine = engine or Engine()

    def generate(self, spec: GenerationSpec, out: Path, on_progress: ProgressFn | None = None,
                 should_cancel: CancelFn | None = None) -> GenerationOutput:
        started = time.perf_counter()
        if on_progress:
            on_progress(Progress("load"))
        pipe = self.engine.pipeline(spec.entry())  # loaded once per process
        load_time = time.perf_counter() - started
        t = time.perf_counter()
        spec, enhancement = enhance_spec(spec, pipe.tokenizer)
        enhance_time = time.perf_counter() - t
        notes: list[str] = []
        extra: dict = {}
        kept_sound = None  # an edit's source sound: (samples, rate, parts)
        if spec.operation == "extend":
            return self._extend(spec, out, enhancement, enhance_time, started, load_time, on_progress,
                                should_cancel)
        if spec.operation == "edit":
            render, extra = self._edit(spec, notes, on_progress, should_cancel)
            kept_sound = edit_sound(spec, render, notes)
        else:
            render = self.engine.render(spec, on_progress, should_cancel)
        render.timings["load"] = load_time
        out.parent.mkdir(parents=True, exist_ok=True)
        clips = []
        for index, (candidate, path) in enumerate(zip(render.candidates, clip_paths(out, len(render.candidates)))):
            if should_cancel and should_cancel():
                raise Cancelled("cancelled before encoding")
            if on_progress:
                per = render.candidate_steps or render.steps  # every stage's steps, as the render counted them
                on_progress(Progress("encode", per * (index + 1), per * len(render.candidates), index))
            timings = {"enhance": enhance_time, **render.timings, **candidate.timings}
            meta = clip_metadata(spec, render, candidate.seed, index) | extra
            if notes:
                meta["notes"] = notes
            if enhancement:
                meta["enhancement"] = {"slots": enhancement.get("slots"), "backend": enhancement.get("backend_used")}
            sound = candidate.audio if spec.with_sound(render.entry) else None
            rate, parts = candidate.sample_rate, None
            if kept_sound is not None:
                sound, rate, parts = kept_sound
            clips.append(finish_clip(candidate.frames, render.entry.fps, path, post_settings(spec), meta, timings,
                                     audio=sound, sample_rate=rate if sound is not None else None,
                                     audio_from=parts))
        sheet = None
        if len(render.candidates) > 1:
            sheet = contact_sheet_path(out)
            write_contact_sheet([c.frames for c in render.candidates], [c.seed for c in render.candidates], sheet)
        timings = {"enhance": enhance_time, **render.timings, "total": time.perf_counter() - started}
        return GenerationOutput(spec, clips, [c.seed for c in render.candidates], sheet, timings, enhancement,
                                notes)

    def _edit(self, spec: GenerationSpec, notes: list[str], on_progress, should_cancel) -> tuple[RenderResult, dict]:
        """An edit: the source resampled to the model's native frames, then video-to-video."""
        from shotsmith.engine.edit import edit_steps, render_edit
        from shotsmith.post.source import read_resampled
        from shotsmith.spec import DEFAULT_EDIT_STRENGTH

        entry = spec.entry()
        width, height = spec.native_size(entry)
        t = time.perf_counter()
        source, note = read_resampled(spec.video, width, height, spec.native_frames(entry), entry.fps)
        read_time = time.perf_counter() - t
        notes.append(note)
        render = render_edit(self.engine, spec, source, on_progress, should_cancel)
        render.timings["source"] = read_time
        strength = DEFAULT_EDIT_STRENGTH if spec.strength is None else spec.strength
        if render.steps == 0:
            notes.append(f"strength {strength:g} leaves no denoising step of {spec.denoise_steps(entry)}: "
                         "the source is given back unchanged")
        edit = {"source": Path(spec.video).name, "strength": strength,
                "steps_run": edit_steps(spec.denoise_steps(entry), strength)}
        return render, {"edit": edit}

    def _extend(self, spec: GenerationSpec, out: Path, enhancement: dict | None, enhance_time: float,
                started: float, load_time: float, on_progress, should_cancel) -> GenerationOutput:
        """An extension: chained image-to-video segments from the source's last frame, the joins
        corrected and measured, the source and the new frames stitched into one clip per candidate."""
        from shotsmith.engine.extend import render_chains
        from shotsmith.post.source import (
            probe_source,
            read_tail,
            resize_frame,
            source_segments,
        )
        from shotsmith.post.stitch import stitch_clip

        entry = spec.entry()
        width, height = spec.native_size(entry)
        t = time.perf_counter()
        source = probe_source(spec.extend_from)
        tail = read_tail(spec.extend_from, 1.0)
        reference = np.stack([resize_frame(frame, width, height) for frame in tail])
        start = reference[-1]
        earlier, extensions = source_segments(spec.extend_from)
        read_time = time.perf_counter() - t
        notes = [f"extends {source.name} ({source.describe()}): its last frame starts the new part"]
        if (source.width, source.height) != (spec.width, spec.height) or abs(source.fps - spec.fps) > 0.01:
            notes.append(f"source {source.name} resampled to {spec.width}x{spec.height} at {spec.fps} fps")
        chains = render_chains(self.engine, spec, start, reference, on_progress, should_cancel)
        steps = spec.denoise_steps(entry)
        guidance = spec.guidance_scale(entry)
        out.parent.mkdir(parents=True, exist_ok=True)
        clips = []
        for index, (chain, path) in enumerate(zip(chains, clip_paths(out, len(chains)))):
            if should_cancel and should_cancel():
                raise Cancelled("cancelled before encoding")
            if on_progress:
                total = steps * len(chain.segments) * len(chains)
                on_progress(Progress("encode", total, total, index))
            render = RenderResult(entry, [], steps, guidance, width, height, len(chain.frames))
            # One segment per extension (what a user re-makes: this prompt, seed and length); the
            # image-to-video renders it took (8 s on the embedded model is two) are listed inside it.
            renders = [{"seed": part["seed"], "frames": part["frames"], "kept": part["kept"],
                        "seconds": round(part["kept"] / entry.fps, 3)} for part in chain.segments]
            new_segments = [{"kind": "extension", "extension": extensions + 1, "prompt": spec.prompt,
                             "enhanced_prompt": spec.enhanced_prompt, "model": entry.name, "seed": chain.seed,
                             "kept": sum(r["kept"] for r in renders),
                             "seconds": round(sum(r["kept"] for r in renders) / entry.fps, 3), "renders": renders}]
            meta = clip_metadata(spec, render, chain.seed, index) | {
                "extension": {"count": extensions + 1, "source": source.name,
                              "source_seconds": round(source.duration, 3),
                              "added_seconds": round(len(chain.frames) / entry.fps, 3)},
                "segments": earlier + new_segments, "notes": notes}
            if enhancement:
                meta["enhancement"] = {"slots": enhancement.get("slots"), "backend": enhancement.get("backend_used")}
            bounds = np.cumsum([part["kept"] for part in chain.segments])[:-1].tolist()
            native = {"frames": len(chain.frames), "width": width, "height": height, "fps": float(entry.fps)}
            timings = {"enhance": enhance_time, "load": load_time, "source": read_time, **chain.timings}
            new_sound = chain.audio if spec.with_sound(entry) else None
            clips.append(stitch_clip(Path(spec.extend_from), chain.frames, start, entry.fps, path,
                                     post_settings(spec), meta, native, bounds, timings, sound=spec.audio is not False,
                                     new_audio=new_sound, sample_rate=chain.sample_rate))
        sheet = None
        if len(chains) > 1:
            sheet = contact_sheet_path(out)
            write_contact_sheet([c.frames for c in chains], [c.seed for c in chains], sheet)
        timings = {"enhance": enhance_time, "load": load_time, "source": read_time,
                   "total": time.perf_counter() - started}
        return GenerationOutput(spec, clips, [c.seed for c in chains], sheet, timings, enhancement, notes)


def edit_sound(spec: GenerationSpec, render: RenderResult, notes: list[str]) -> tuple | None:
    """An edit re-renders the picture only, so the source's sound track stays, for the edit's
    length (cut, or padded with silence): (samples, rate, parts for the sidecar), or None where
    the source is silent or the request says `audio: false`."""
    from shotsmith.post.source import fit_audio, probe_source, read_audio

    if spec.audio is False:
        return None
    found = read_audio(spec.video)
    if found is None:
        return None
    samples, rate = found
    seconds = render.frames / render.entry.fps
    heard = samples.shape[1] / rate
    name = Path(spec.video).name
    parts = [{"sound": "source", "file": name, "seconds": round(min(heard, seconds), 3)}]
    if heard < seconds - 0.0005:
        parts.append({"sound": "silence", "seconds": round(seconds - heard, 3)})
    source = probe_source(spec.video)
    if abs(source.duration - seconds) > 0.1:
        notes.append(f"the sound of {name} is kept as it was ({heard:.2f} s), not retimed with the picture "
                     f"({source.duration:.2f} s to {seconds:.2f} s)")
    return fit_audio(samples, rate, seconds), rate, parts


def write_contact_sheet(videos: list[np.ndarray], seeds: list[int], path: Path, columns: int = 6) -> Path:
    """One row per candidate: evenly spaced frames, labelled with the seed."""
    from PIL import Image, ImageDraw

    h, w = videos[0].shape[1:3]
    scale = max(1, 160 // w)
    tw, th = w * scale, h * scale
    label = 18
    sheet = Image.new("RGB", (columns * tw, len(videos) * (th + label)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for row, (frames, seed) in enumerate(zip(videos, seeds)):
        y = row * (th + label)
        draw.text((4, y + 3), f"candidate {row + 1}  seed {seed}", fill=(230, 230, 230))
        for col, idx in enumerate(np.linspace(0, len(frames) - 1, columns).round().astype(int)):
            tile = Image.fromarray(frames[idx]).resize((tw, th), Image.Resampling.NEAREST)
            sheet.paste(tile, (col * tw, y + label))
    tmp = temp_path(path, "contact.jpg")  # marked, so a restart after a crash clears it
    sheet.save(tmp, quality=90)
    tmp.replace(path)
    return path
