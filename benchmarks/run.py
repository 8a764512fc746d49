"""shotsmith benchmarks: one command, one markdown table file.

    python benchmarks/run.py                      # every section, ~8 minutes on 2 shared CPU cores
    python benchmarks/run.py --sections overhead,cache --repeats 5
    python benchmarks/run.py --gpu-5b-config      # on a CUDA machine: s/step, CogVideoX-5B shapes

Writes benchmarks/RESULTS.md (``--out``): the machine, the versions, and per section the
seconds as min / median of repeated runs with baseline and candidate interleaved in the
same run, so drift on a shared machine hits both alike. Torch runs with one thread
(``--threads``); subprocesses (CLI, server) get the same through OMP_NUM_THREADS and
SHOTSMITH_THREADS.

Sections:
  overhead  the service path (warm Studio -> finished MP4) against a bare warm
            CogVideoXPipeline + diffusers export_to_video, same settings, native size;
  product   the product clip (6.25 s, 1440x960, 24 fps, minterpolate) from the CLI in a
            fresh process, by stage, plus the post-processing split from ffmpeg runs;
  encode    libx264 presets on the product chain: time, size, SSIM/PSNR against lossless;
  cache     diffusers step caches (enable_cache) on held-out shapes captions: denoise
            speed, transformer work done, detector adherence, paired against no cache;
  support   which diffusers cache configs run on CogVideoXTransformer3DModel;
  scaling   denoise s/step and VAE decode time against frames and resolution, peak RSS;
  coldstart `shotsmith serve` until /healthz is ready, then the first and a second clip;
  profile   torch.profiler over one native clip: where the time goes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("overhead", "product", "encode", "cache", "support", "scaling", "coldstart", "profile")
PROMPT = "a red ball rolls to the right on green grass"
SEED = 7
# Step caches compared against "none" (spec/registry spellings; see models/registry.py).
CACHE_CANDIDATES = ("first-block:0.3", "pyramid-attention", "faster-cache", "taylorseer", "taylorseer:3")
CACHE_TARGET_SPEEDUP = 1.6
CACHE_MAX_LOSS_POINTS = 2.0
X264_PRESETS = ("veryfast", "superfast", "ultrafast")


# ---------------------------------------------------------------- small helpers

def machine(threads: int | None = None) -> str:
    import diffusers
    import torch

    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = threads or torch.get_num_threads()
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"diffusers {diffusers.__version__}, {threads} torch thread(s)")


def versions() -> str:
    import imageio_ffmpeg
    import transformers

    from shotsmith import __version__

    return (f"shotsmith {__version__}, transformers {transformers.__version__}, "
            f"ffmpeg {imageio_ffmpeg.get_ffmpeg_version()} (imageio-ffmpeg)")


def mm(values: list[float], digits: int = 2) -> str:
    """'min / median' of seconds."""
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f}"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), SHOTSMITH_THREADS=str(threads), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=os.pathsep.join(
                   filter(None, [str(REPO / "src"), env.get("PYTHONPATH")])))
    return env


def heldout(count: int) -> list[dict]:
    from shotsmith.eval.shapes_eval import load_prompt_file
    from shotsmith.eval.suite import HELDOUT_SUITE

    rows = load_prompt_file(HELDOUT_SUITE)
    step = max(1, len(rows) // count)  # spread over the file: it is ordered by kind of caption
    return rows[::step][:count]


@dataclass
class Report:
    out: Path
    parts: list[str]
    keep: str = ""  # benchmarks/startup.py's section of the file, carried over unchanged

    def add(self, text: str) -> None:
        self.parts.append(text.rstrip() + "\n")
        print(text, flush=True)
        # written as it goes: a killed run keeps what it had
        self.out.write_text("\n".join(self.parts) + (f"\n{self.keep}" if self.keep else ""))


def startup_section(path: Path) -> str:
    """The block benchmarks/startup.py writes between its markers, if the file has one."""
    text = path.read_text() if path.exists() else ""
    begin, end = "<!-- startup:begin -->", "<!-- startup:end -->"
    if begin not in text or end not in text:
        return ""
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


# ---------------------------------------------------------------- 1. overhead

def bare_pipeline():
    from diffusers import CogVideoXPipeline

    from shotsmith.models import embedded as emb

    folder = emb.WEIGHTS_DIR / "cogvideox-shapes"  # with the text encoder its recipe names
    pipe = CogVideoXPipeline.from_pretrained(folder, text_encoder=emb.load_text_encoder_model(
        emb.folder_text_encoder(folder)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bare_clip(pipe, prompt: str, seed: int, out: Path) -> float:
    """What a diffusers user writes: the pipeline call and export_to_video."""
    import torch
    from diffusers.utils import export_to_video

    from shotsmith.models.embedded import NATIVE_FPS

    t = time.perf_counter()
    frames = pipe(prompt, height=64, width=96, num_frames=25, num_inference_steps=20, guidance_scale=6.0,
                  generator=torch.Generator().manual_seed(seed)).frames[0]
    export_to_video(frames, str(out), fps=NATIVE_FPS)
    return time.perf_counter() - t


def service_clip(studio, prompt: str, seed: int, out: Path, cache: str = "none") -> tuple[float, dict]:
    from shotsmith.spec import build_spec

    spec = build_spec(prompt=prompt, seed=seed, width=96, height=64, fps=4, interpolation="none", enhance=False,
                      cache=cache)
    t = time.perf_counter()
    result = studio.generate(spec, out)
    wall = time.perf_counter() - t
    return wall, json.loads(result.clips[0].sidecar.read_text())["timings"]


def section_overhead(report: Report, args, tmp: Path) -> None:
    from shotsmith.models.registry import resolve
    from shotsmith.service import Studio

    try:
        import imageio  # noqa: F401 - diffusers' export_to_video needs it (else it wants OpenCV)
    except ImportError:
        report.add("## 1. Overhead\n\nSkipped: the baseline uses diffusers' `export_to_video`, which needs the "
                   "`imageio` package (`pip install imageio`).\n")
        return
    pipe, studio, stock = bare_pipeline(), Studio(), Studio()
    # The same service with diffusers' stock Conv3d path in the VAE: isolates the wrapper's own
    # overhead from the decode speed-up (models/loader.py route_conv3d_to_onednn).
    for layer in stock.engine.pipeline(resolve(None)).vae.modules():
        layer.__dict__.pop("_conv_forward", None)
    prompts = [row["prompt"] for row in heldout(max(args.repeats, 2))] or [PROMPT]
    bare_clip(pipe, PROMPT, SEED, tmp / "bare.mp4")  # warm all: weights paged in, first-call costs paid
    service_clip(studio, PROMPT, SEED, tmp / "service.mp4")
    service_clip(stock, PROMPT, SEED, tmp / "stock.mp4")
    default_cache = resolve(None).cache
    bare, ours, ours_stock, ours_default, splits = [], [], [], [], []
    for i in range(args.repeats):  # a new prompt each round, as a real request would be
        prompt = prompts[i % len(prompts)]
        bare.append(bare_clip(pipe, prompt, SEED + i, tmp / "bare.mp4"))
        wall, timings = service_clip(studio, prompt, SEED + i, tmp / "service.mp4")
        ours.append(wall)
        splits.append(timings)
        ours_stock.append(service_clip(stock, prompt, SEED + i, tmp / "stock.mp4")[0])
        if default_cache != "none":
            ours_default.append(service_clip(studio, prompt, SEED + i, tmp / "service.mp4", default_cache)[0])
    paired = [o / b for o, b in zip(ours, bare)]
    paired_stock = [o / b for o, b in zip(ours_stock, bare)]
    post = [s["post_total_s"] for s in splits]
    gif = [s["post_gif_s"] for s in splits]
    rows = [
        f"| bare diffusers: warm `CogVideoXPipeline(prompt)` + `export_to_video` | {mm(bare)} | 1.00 (baseline) |",
        f"| shotsmith service, warm, same settings (cache none): MP4 + GIF + cover + sprite + sidecar | {mm(ours)} | "
        f"**{statistics.median(paired):.3f}x** (median of paired ratios; min/min {min(ours) / min(bare):.3f}x) |",
        f"| the same with diffusers' stock Conv3d path in the VAE (wrapper overhead alone) | {mm(ours_stock)} | "
        f"{statistics.median(paired_stock):.3f}x (min/min {min(ours_stock) / min(bare):.3f}x) |",
    ]
    if ours_default:
        rows.append(f"| shotsmith service with the model's default cache `{default_cache}` | {mm(ours_default)} | "
                    f"{statistics.median([o / b for o, b in zip(ours_default, bare)]):.3f}x |")
    report.add(f"""## 1. Overhead: service path against bare diffusers (native size)

Embedded model, 96x64, 25 frames, 20 steps, CFG 6, a different held-out caption each round
(same for both), {args.repeats} interleaved rounds after one warm-up each. Seconds, min / median.
Target: <= 1.05x.

| path | seconds | ratio |
|---|---|---|
{chr(10).join(rows)}

Of the service's time, post-processing (ffmpeg encode, probe, GIF, cover, sprite, sidecar) took
{mm(post)} s, the 480x320 GIF preview alone {mm(gif)} s: the extra files the product delivers and the
bare path does not write. Paired ratios: {', '.join(f'{r:.3f}' for r in paired)}.
""")


# ---------------------------------------------------------------- 2. product clip

def cli_product_clip(out: Path, threads: int) -> tuple[float, dict]:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "shotsmith.cli", "generate", PROMPT, "--seed", str(SEED), "--out", str(out)],
                   check=True, capture_output=True, env=child_env(threads))
    return time.perf_counter() - t, json.loads(out.with_suffix(".json").read_text())["timings"]


def native_frames_for_post():
    """One native render (96x64, 25 frames) for the ffmpeg measurements."""
    from shotsmith.engine import Engine
    from shotsmith.spec import build_spec

    return Engine().render(build_spec(prompt=PROMPT, seed=SEED, enhance=False)).candidates[0].frames


def ffmpeg_seconds(frames, filters: str, output: list[str]) -> float:
    """Feed native frames through one ffmpeg filter chain; seconds for the whole process."""
    from shotsmith.post import ffmpeg

    rate = "4"
    args = [ffmpeg.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{frames.shape[2]}x{frames.shape[1]}", "-r", rate, "-i", "-", "-vf", filters, *output]
    t = time.perf_counter()
    subprocess.run(args, input=frames.tobytes(), check=True, capture_output=True)
    return time.perf_counter() - t


def post_split(frames, repeats: int) -> dict[str, list[float]]:
    """Upscale / interpolate / encode cost inside the one streaming ffmpeg process, by difference."""
    from shotsmith.post import ffmpeg
    from shotsmith.post.settings import PostSettings

    settings = PostSettings()
    out_frames = ffmpeg.output_frame_count(len(frames), 4, settings.fps)
    chain = ffmpeg.video_filter((frames.shape[2], frames.shape[1]), settings, out_frames)
    interp_only = chain.split(",scale=")[0]
    null = ["-f", "null", "-"]
    x264 = ["-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf), "-pix_fmt", "yuv420p",
            "-f", "mp4", os.devnull]
    runs = {"interpolate": [], "interpolate+upscale": [], "interpolate+upscale+encode": []}
    for _ in range(repeats):
        runs["interpolate"].append(ffmpeg_seconds(frames, interp_only, null))
        runs["interpolate+upscale"].append(ffmpeg_seconds(frames, chain, null))
        runs["interpolate+upscale+encode"].append(ffmpeg_seconds(frames, chain, x264))
    return runs


def section_product(report: Report, args, tmp: Path) -> None:
    from shotsmith.models.registry import resolve
    from shotsmith.post.settings import PostSettings

    walls, stages = [], []
    for i in range(args.repeats):
        wall, timings = cli_product_clip(tmp / f"product-{i}.mp4", args.threads)
        walls.append(wall)
        stages.append(timings)
    names = [("load", "load (pipeline from disk, incl. lazy diffusers/transformers imports)"), ("enhance", "prompt agent"),
             ("text", "text encoding"), ("denoise", "denoise (20 steps, CFG)"), ("decode", "VAE decode"),
             ("post_encode_s", "upscale + interpolate + H.264 encode (one streaming ffmpeg process)"),
             ("post_gif_s", "GIF preview"), ("post_images_s", "cover + sprite (decode finished MP4)")]
    rest = [w - sum(s.get(k, 0.0) for k, _ in names) for w, s in zip(walls, stages)]
    rows = "\n".join(f"| {label} | {mm([s.get(k, 0.0) for s in stages])} |" for k, label in names)
    split = post_split(native_frames_for_post(), args.repeats)
    interp, up, enc = (statistics.median(v) for v in split.values())
    report.add(f"""## 2. Product clip end to end from the CLI

`shotsmith generate "{PROMPT}" --seed {SEED}` in a fresh process: 25 native frames (6.25 s at 4 fps)
-> 1440x960, 24 fps, minterpolate, H.264 (preset `{PostSettings().preset}`), GIF, cover, sprite;
model `{resolve(None).name}` with its default step cache `{resolve(None).cache}`.
{args.repeats} runs, seconds min / median. Target: <= 15 s.

| stage | seconds |
|---|---|
{rows}
| process start, imports, CLI (wall minus the stages) | {mm(rest)} |
| **wall time** | **{mm(walls)}** |

Inside the ffmpeg process the stages stream into each other; run separately on the same native
frames (medians): interpolate {interp:.2f} s, + lanczos upscale to 1440x960 {up - interp:.2f} s,
+ libx264 encode {enc - up:.2f} s (total {enc:.2f} s).
""")


# ---------------------------------------------------------------- 3. encode presets

def section_encode(report: Report, args, tmp: Path) -> None:
    import re

    from shotsmith.post import ffmpeg
    from shotsmith.post.settings import PostSettings

    frames = native_frames_for_post()
    settings = PostSettings()
    out_frames = ffmpeg.output_frame_count(len(frames), 4, settings.fps)
    chain = ffmpeg.video_filter((frames.shape[2], frames.shape[1]), settings, out_frames)
    raw = tmp / "native.rgb"
    raw.write_bytes(frames.tobytes())
    source = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{frames.shape[2]}x{frames.shape[1]}", "-r", "4",
              "-i", str(raw)]
    rows = []
    times: dict[str, list[float]] = {p: [] for p in X264_PRESETS}
    for _ in range(args.repeats):  # presets interleaved
        for preset in X264_PRESETS:
            times[preset].append(ffmpeg_seconds(frames, chain, ["-c:v", "libx264", "-preset", preset, "-crf",
                                                                str(settings.crf), "-pix_fmt", "yuv420p",
                                                                str(tmp / f"{preset}.mp4")]))
    for preset in X264_PRESETS:
        video = tmp / f"{preset}.mp4"
        scores = {}
        for metric, pattern in (("ssim", r"All:([0-9.]+)"), ("psnr", r"average:([0-9.]+|inf)")):
            run = subprocess.run([ffmpeg.ffmpeg_exe(), "-hide_banner", "-i", str(video), *source, "-filter_complex",
                                  f"[1:v]{chain},format=yuv420p[ref];[0:v][ref]{metric}", "-f", "null", "-"],
                                 capture_output=True, text=True)
            found = re.search(pattern, run.stderr)
            scores[metric] = found.group(1) if found else "n/a"
        size = video.stat().st_size
        mark = " (default)" if preset == settings.preset else ""
        rows.append(f"| `{preset}`{mark} | {mm(times[preset])} | {size / 1024:.0f} KiB ({size * 8 / 6.25 / 1e6:.1f} Mbit/s) "
                    f"| {scores['ssim']} | {scores['psnr']} |")
    report.add(f"""## 3. H.264 preset for the product clip

The product chain (interpolate + upscale to 1440x960 + libx264 CRF {settings.crf}) on one native render;
quality is measured against the same chain's lossless output (SSIM, PSNR in dB, yuv420p).
{args.repeats} interleaved runs, seconds min / median.

| preset | seconds | file | SSIM | PSNR |
|---|---|---|---|---|
{chr(10).join(rows)}
""")


# ---------------------------------------------------------------- 4. step caching

class WorkCounter:
    """Counts attention and feed-forward calls in the transformer blocks: the work a cache saved,
    free of timing noise."""

    def __init__(self, transformer):
        self.attention = self.feed_forward = 0
        self.handles = []
        for block in transformer.transformer_blocks:
            self.handles.append(block.attn1.to_q.register_forward_hook(lambda *_: self._add("attention")))
            self.handles.append(block.ff.net[0].register_forward_hook(lambda *_: self._add("feed_forward")))

    def _add(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)

    def reset(self) -> tuple[int, int]:
        counts = (self.attention, self.feed_forward)
        self.attention = self.feed_forward = 0
        return counts


def section_cache(report: Report, args, tmp: Path) -> None:
    from shotsmith.engine import Engine
    from shotsmith.eval.adherence import score
    from shotsmith.eval.detector import detect
    from shotsmith.eval.shapes_eval import psnr
    from shotsmith.models.registry import resolve
    from shotsmith.spec import build_spec

    engine = Engine()
    entry = resolve(None)
    rows = heldout(args.captions)
    choices = ("none", *CACHE_CANDIDATES)
    pipe = engine.pipeline(entry)
    counter = WorkCounter(pipe.transformer)
    engine.render(build_spec(prompt=PROMPT, seed=SEED, enhance=False, cache="none"))  # warm
    results = {c: {"denoise": [], "adherence": [], "psnr": [], "attention": 0, "ff": 0} for c in choices}
    for i, row in enumerate(rows):
        reference = None
        for choice in choices:  # every cache on the same caption and seed, back to back
            spec = build_spec(prompt=row["prompt"], seed=1000 + i, enhance=False, cache=choice)
            counter.reset()
            candidate = engine.render(spec).candidates[0]
            attention, ff = counter.reset()
            reference = candidate.frames if reference is None else reference  # "none" runs first
            r = results[choice]
            r["denoise"].append(candidate.timings["denoise"])
            r["adherence"].append(100 * score(row["expected"], detect(candidate.frames)).overall)
            r["psnr"].append(psnr(candidate.frames, reference))
            r["attention"] += attention
            r["ff"] += ff
    base = results["none"]
    table, picks = [], []
    for choice in choices:
        r = results[choice]
        speed = [b / c for b, c in zip(base["denoise"], r["denoise"])]
        diffs = [c - b for b, c in zip(base["adherence"], r["adherence"])]
        mean_diff = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        work = 100 * r["attention"] / max(1, base["attention"]), 100 * r["ff"] / max(1, base["ff"])
        ok = statistics.median(speed) >= CACHE_TARGET_SPEEDUP and mean_diff >= -CACHE_MAX_LOSS_POINTS
        if choice != "none" and ok:
            picks.append((statistics.median(speed), choice))
        fidelity = "-" if choice == "none" else f"{statistics.median(r['psnr']):.1f}"
        table.append(f"| `{choice}` | {mm(r['denoise'])} | {statistics.median(speed):.2f}x | {work[0]:.0f}% / {work[1]:.0f}% "
                     f"| {fidelity} | {statistics.fmean(r['adherence']):.1f} | {mean_diff:+.1f} ± {se:.1f} "
                     f"| {'yes' if ok else 'no'} |")
    verdict = (f"Meets both (>= {CACHE_TARGET_SPEEDUP}x, <= {CACHE_MAX_LOSS_POINTS:g} points lost): "
               + ", ".join(f"`{c}` ({s:.2f}x)" for s, c in sorted(picks, reverse=True))) if picks else (
        f"No cache meets both >= {CACHE_TARGET_SPEEDUP}x and <= {CACHE_MAX_LOSS_POINTS:g} points lost in this run.")
    report.add(f"""## 4. Step caching (diffusers `enable_cache`) on held-out shapes captions

Embedded model `{entry.name}` (registry default cache: `{entry.cache}`), 96x64, 25 frames, 20 steps, CFG 6;
{len(rows)} held-out captions (every {max(1, 60 // len(rows))}th of eval/data/heldout_captions.jsonl), seed 1000+i,
every cache on each caption back to back. Speed: median over captions of (denoise without cache /
with). Work: attention / feed-forward calls in the transformer blocks, % of no cache (deterministic).
PSNR: the cached clip against the same caption and seed without cache (median over captions, dB; how far
the cache moves the output). Adherence: shotsmith.eval detector + adherence score, mean % over captions;
change: mean paired difference against no cache ± its standard error.

| cache | denoise s (min / median) | speed | work (attn / ff) | PSNR vs none | adherence | change (points) | target met |
|---|---|---|---|---|---|---|---|
{chr(10).join(table)}

{verdict}
""")


def section_support(report: Report, args, tmp: Path) -> None:
    """Every cache config diffusers ships, on CogVideoXTransformer3DModel: does a short run work?"""
    import diffusers.hooks as hooks
    import torch

    from shotsmith.engine import Engine
    from shotsmith.models.registry import resolve

    pipe = Engine().pipeline(resolve(None))
    counter = WorkCounter(pipe.transformer)
    now = lambda: pipe.current_timestep  # noqa: E731

    def short_run() -> tuple[int, int]:
        counter.reset()
        pipe(PROMPT, height=32, width=48, num_frames=9, num_inference_steps=8, output_type="latent",
             generator=torch.Generator().manual_seed(0))
        return counter.reset()

    attention0, ff0 = short_run()
    configs = {
        "FirstBlockCacheConfig": lambda: hooks.FirstBlockCacheConfig(threshold=0.3),
        "PyramidAttentionBroadcastConfig": lambda: hooks.PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2, current_timestep_callback=now),
        "FasterCacheConfig": lambda: hooks.FasterCacheConfig(current_timestep_callback=now, tensor_format="BFCHW",
                                                             attention_weight_callback=lambda _: 0.3),
        "TaylorSeerCacheConfig": lambda: hooks.TaylorSeerCacheConfig(taylor_factors_dtype=torch.float32),
        "MagCacheConfig (calibrate=True)": lambda: hooks.MagCacheConfig(calibrate=True, num_inference_steps=8),
        "SeaCacheConfig": lambda: getattr(hooks, "SeaCacheConfig")(),
        "TextKVCacheConfig": lambda: getattr(hooks, "TextKVCacheConfig")(),
    }
    rows = []
    for name, make in configs.items():
        try:
            config = make()
            pipe.transformer.enable_cache(config)
            attention, ff = short_run()
            rows.append(f"| `{name}` | runs | {100 * attention / attention0:.0f}% / {100 * ff / ff0:.0f}% |")
        except Exception as exc:  # noqa: BLE001 - the table reports what failed and why
            rows.append(f"| `{name}` | fails: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} | |")
        finally:
            if pipe.transformer.is_cache_enabled:
                pipe.transformer.disable_cache()
    report.add(f"""## 5. Which diffusers caches run on CogVideoXTransformer3DModel

diffusers {__import__('diffusers').__version__}: each config (diffusers' defaults, plus the callbacks it requires) enabled
on the embedded transformer for 8 steps at 48x32. "Runs" means no error; the work column (attention /
feed-forward calls in the blocks, % of no cache) shows whether it skipped anything.

| config | result | work (attn / ff) |
|---|---|---|
{chr(10).join(rows)}
""")


# ---------------------------------------------------------------- 6. scaling and memory

SCALING_SHAPES = [(96, 64, 9), (96, 64, 17), (96, 64, 25), (96, 64, 49), (192, 128, 25), (288, 192, 25),
                  (192, 128, 49)]


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples this process's RSS every 5 ms: a per-shape peak (ru_maxrss only ever grows)."""

    def __enter__(self):
        self.peak, self._stop = rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def scaling_child(steps: int) -> None:
    """Runs in a fresh process (so memory is this section's own); one JSON line per shape."""
    import torch

    from shotsmith.engine import Engine
    from shotsmith.spec import build_spec

    torch.set_num_threads(int(os.environ.get("SHOTSMITH_THREADS", "1")))
    engine = Engine()
    engine.render(build_spec(prompt=PROMPT, seed=SEED, enhance=False, steps=1, cache="none"))
    print(json.dumps({"loaded_rss": rss_bytes()}), flush=True)
    for width, height, frames in SCALING_SHAPES:
        spec = build_spec(prompt=PROMPT, seed=SEED, enhance=False, steps=steps, cache="none", native_width=width,
                          native_height=height, frames=frames)
        with PeakRSS() as peak:
            candidate = engine.render(spec).candidates[0]
        tokens = ((frames - 1) // 4 + 1) * (height // 8) * (width // 8)  # latent frames x patches
        print(json.dumps({"width": width, "height": height, "frames": frames, "tokens": tokens,
                          "step_s": candidate.timings["denoise"] / steps, "decode_s": candidate.timings["decode"],
                          "peak_rss": peak.peak, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}),
              flush=True)


def section_scaling(report: Report, args, tmp: Path) -> None:
    steps = 3
    proc = subprocess.run([sys.executable, __file__, "--scaling-child", str(steps)], capture_output=True, text=True,
                          env=child_env(args.threads), check=True)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    loaded = lines[0]["loaded_rss"]
    shapes = lines[1:]
    base = shapes[2]  # 96x64x25, the native clip
    rows = []
    for s in shapes:
        rows.append(f"| {s['width']}x{s['height']} | {s['frames']} | {s['tokens']} | {s['step_s']:.3f} | "
                    f"{s['step_s'] / base['step_s']:.1f}x | {s['decode_s']:.2f} | {s['decode_s'] / base['decode_s']:.1f}x | "
                    f"{s['peak_rss'] / 2**20:.0f} | {(s['peak_rss'] - loaded) / 2**20:.0f} |")

    def slope(key: str, picks: list[dict]) -> float:
        xs = [math.log(p["tokens"]) for p in picks]
        ys = [math.log(p[key]) for p in picks]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)

    frames_set = [s for s in shapes if (s["width"], s["height"]) == (96, 64)]
    size_set = [s for s in shapes if s["frames"] == 25]
    report.add(f"""## 6. Scaling with frames and resolution, and peak memory

One fresh process, {steps} denoising steps per shape (s/step = denoise / steps, CFG batch of 2), cache none.
Tokens = latent frames x (H/8) x (W/8) video tokens (+226 text tokens in every attention call).
Peak RSS sampled every 5 ms during each render; the process held {loaded / 2**20:.0f} MiB after loading the model.
One run per shape (single measurements; expect +-10% noise on this shared machine).

| size | frames | video tokens | denoise s/step | vs native | VAE decode s | vs native | peak RSS MiB | above loaded MiB |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Growth, as the log-log slope of time against video tokens: denoise step ~ tokens^{slope('step_s', frames_set):.2f}
over frames, ~ tokens^{slope('step_s', size_set):.2f} over resolution; VAE decode ~ tokens^{slope('decode_s', frames_set):.2f}
over frames, ~ tokens^{slope('decode_s', size_set):.2f} over resolution. (Attention is quadratic in the
sequence, the projections and the VAE linear; at these sizes the linear parts still weigh in.)
""")


# ---------------------------------------------------------------- 7. cold start

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cold_start_once(tmp: Path, threads: int) -> dict:
    import httpx

    home, port = tmp / f"serve-{time.monotonic_ns()}", free_port()
    env = child_env(threads)
    env.pop("SHOTSMITH_API_KEYS", None)  # loopback without keys: the out-of-the-box local setup
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / f"serve-{port}.log", "wb")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "shotsmith.cli", "serve", "--port", str(port), "--home", str(home)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    times: dict[str, float] = {}
    try:
        while time.perf_counter() - started < 180:
            if proc.poll() is not None:
                raise RuntimeError(f"shotsmith serve exited with {proc.returncode}; see {log.name}")
            try:
                status = httpx.get(f"{url}/healthz", timeout=2).json()["status"]
                times.setdefault("listening", time.perf_counter() - started)
                if status == "ok":
                    times["ready"] = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=60) as http:
            for label in ("first_clip", "second_clip"):
                t = time.perf_counter()
                job_id = http.post("/v1/videos", json={"prompt": PROMPT, "seed": SEED}).raise_for_status().json()["id"]
                while True:
                    job = http.get(f"/api/v1/jobs/{job_id}").json()
                    if job["status"] in ("completed", "failed", "cancelled"):
                        break
                    time.sleep(0.05)
                if job["status"] != "completed":
                    raise RuntimeError(f"{label} ended {job['status']}: {job.get('error')}")
                times[label] = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    return times


def section_coldstart(report: Report, args, tmp: Path) -> None:
    runs = [cold_start_once(tmp, args.threads) for _ in range(min(2, args.repeats))]
    col = lambda k: mm([r[k] for r in runs])  # noqa: E731
    report.add(f"""## 7. Cold start: `shotsmith serve`

Fresh `shotsmith serve` process (local worker, preloads the embedded model); /healthz polled every 50 ms;
then `POST /v1/videos` with the product defaults (1440x960, 24 fps) and the job polled until completed.
{len(runs)} runs, seconds min / median.

| milestone | seconds |
|---|---|
| process start -> /healthz answers | {col('listening')} |
| process start -> /healthz `ok` (model loaded, worker ready) | {col('ready')} |
| first clip: submit -> completed | {col('first_clip')} |
| second clip (warm): submit -> completed | {col('second_clip')} |
""")


# ---------------------------------------------------------------- 8. profile

def section_profile(report: Report, args, tmp: Path) -> None:
    from torch.profiler import ProfilerActivity, profile

    from shotsmith.service import Studio

    studio = Studio()
    service_clip(studio, PROMPT, SEED, tmp / "warm.mp4")
    with profile(activities=[ProfilerActivity.CPU]) as prof:  # a new prompt: its text encoding is in the profile
        wall, timings = service_clip(studio, heldout(2)[1]["prompt"], SEED + 1, tmp / "profiled.mp4")
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1
    rows = "\n".join(f"| `{e.key}` | {e.count} | {e.self_cpu_time_total / 1e6:.3f} | {100 * e.self_cpu_time_total / total:.0f}% |"
                     for e in events)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if isinstance(v, (int, float)))
    report.add(f"""## 8. Profile of one native clip (torch.profiler, CPU)

Service path, native size, warm; wall {wall:.2f} s under the profiler. Stages (s): {stages}.
Top torch ops by self CPU time (the rest is Python, ffmpeg and waiting on it):

| op | calls | self s | share of torch time |
|---|---|---|---|
{rows}
""")


# ---------------------------------------------------------------- GPU: CogVideoX-5B shapes

CONFIG_5B = dict(  # THUDM/CogVideoX-5b transformer/config.json
    num_attention_heads=48, attention_head_dim=64, in_channels=16, out_channels=16, num_layers=42,
    text_embed_dim=4096, time_embed_dim=512, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
    max_text_seq_length=226, flip_sin_to_cos=True, freq_shift=0, norm_eps=1e-5, attention_bias=True,
    activation_fn="gelu-approximate", timestep_activation_fn="silu", spatial_interpolation_scale=1.875,
    temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False,
)


def random_5b_pipeline(device: str, dtype, overrides: dict | None = None):
    """CogVideoXPipeline around a random-weight transformer of the 5B config (no download): a
    tiny random VAE with the 5B latent layout (16 channels, 8x spatial, 4x temporal) and a
    one-layer random text encoder of the 5B text width. Only the transformer's cost is real."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel
    from transformers import AutoTokenizer, BertConfig, BertModel

    from shotsmith.models import embedded as emb

    config = {**CONFIG_5B, **(overrides or {})}
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in bfloat16 directly: float32 first would need twice the memory
    try:
        with torch.device(device):
            transformer = CogVideoXTransformer3DModel(**config).to(dtype)
    finally:
        torch.set_default_dtype(previous)
    vae = AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                 latent_channels=config["in_channels"], layers_per_block=1, norm_num_groups=4,
                                 temporal_compression_ratio=4)
    tokenizer = AutoTokenizer.from_pretrained(emb.text_encoder_dir())
    heads = max(1, config["text_embed_dim"] // 128)
    text_encoder = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=config["text_embed_dim"],
                                        num_hidden_layers=1, num_attention_heads=heads, intermediate_size=256,
                                        max_position_embeddings=256))
    scheduler = CogVideoXDDIMScheduler(**emb.SCHEDULER_CONFIG)
    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                             scheduler=scheduler)
    pipe.vae.to(device, dtype)
    pipe.text_encoder.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def gpu_5b_benchmark(device: str = "cuda", overrides: dict | None = None, size: tuple[int, int] = (720, 480),
                     frames: int = 49, steps: int = 5, repeats: int = 3,
                     caches: tuple[str, ...] = ("first-block:0.3", "pyramid-attention", "faster-cache",
                                                "taylorseer")) -> dict:
    """s/step of the 5B-config transformer: plain diffusers call against the shotsmith engine on
    the same pipeline object, interleaved; then the engine with each step cache."""
    import torch

    from shotsmith.engine import Engine
    from shotsmith.models.registry import entry_from_folder
    from shotsmith.spec import build_spec

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    pipe = random_5b_pipeline(device, dtype, overrides)
    folder = Path(tempfile.mkdtemp(prefix="cogvideox-5b-config-"))
    pipe.save_config(folder)  # configs only (no weights): enough for the registry to describe the model
    pipe.transformer.save_config(folder / "transformer")
    pipe.vae.save_config(folder / "vae")
    entry = entry_from_folder(folder)
    engine = Engine(device=device)
    engine._pipes[engine.pipeline_key(entry)] = pipe  # the engine runs this very pipeline object
    width, height = size
    prompt_embeds, _ = pipe.encode_prompt(PROMPT, do_classifier_free_guidance=False, device=device)
    negative_embeds, _ = pipe.encode_prompt("", do_classifier_free_guidance=False, device=device)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def plain() -> float:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            pipe(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds, height=height, width=width,
                 num_frames=frames, num_inference_steps=steps, guidance_scale=6.0, output_type="latent",
                 generator=torch.Generator().manual_seed(SEED))
        sync()
        return (time.perf_counter() - t) / steps

    def ours(cache: str) -> float:
        spec = build_spec(prompt=PROMPT, model=str(folder), seed=SEED, steps=steps, native_width=width,
                          native_height=height, frames=frames, enhance=False, cache=cache)
        return engine.render(spec).candidates[0].timings["denoise"] / steps

    plain(), ours("none")  # warm-up: kernels chosen, memory pool grown
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    results = {"plain": [], "none": []}
    for _ in range(repeats):
        results["plain"].append(plain())
        results["none"].append(ours("none"))
    for cache in caches:
        results[cache] = [ours(cache) for _ in range(repeats)]
    results["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return results


def run_gpu_5b(args) -> int:
    import torch

    if not torch.cuda.is_available():
        print("--gpu-5b-config: no CUDA device here; skipped (nothing written).")
        return 0
    results = gpu_5b_benchmark(steps=args.gpu_steps, repeats=args.repeats)
    base = statistics.median(results["plain"])
    rows = [f"| plain diffusers `CogVideoXPipeline` call | {mm(results['plain'], 3)} | 1.00 |"]
    for key, values in results.items():
        if key in ("plain", "peak_gib"):
            continue
        label = "shotsmith engine, no cache" if key == "none" else f"shotsmith engine, cache `{key}`"
        rows.append(f"| {label} | {mm(values, 3)} | {statistics.median(values) / base:.3f} |")
    out = args.out.with_name("RESULTS_gpu.md") if args.out.name == "RESULTS.md" else args.out
    text = f"""# GPU: CogVideoX-5B-config transformer, random weights

Machine: {torch.cuda.get_device_name()}, {machine()}; {versions()}.
Run: `python benchmarks/run.py --gpu-5b-config --repeats {args.repeats}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.
720x480, 49 frames, {args.gpu_steps} steps per run, CFG 6, bfloat16; seconds per step, min / median of {args.repeats}.
Peak GPU memory allocated: {results['peak_gib']:.1f} GiB. Cache speeds on random weights say nothing about quality.

| path | s/step | time vs plain |
|---|---|---|
{chr(10).join(rows)}
"""
    out.write_text(text)
    print(text)
    return 0


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per measurement")
    parser.add_argument("--captions", type=int, default=10, help="held-out captions for the cache section")
    parser.add_argument("--threads", type=int, default=1, help="torch threads here and in subprocesses")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    parser.add_argument("--gpu-5b-config", action="store_true",
                        help="time s/step of a random-weight CogVideoX-5B transformer, shotsmith vs plain diffusers "
                             "(CUDA only; skips cleanly without it)")
    parser.add_argument("--gpu-steps", type=int, default=5, help="denoising steps per run for --gpu-5b-config")
    parser.add_argument("--scaling-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(REPO / "src"))
    if args.scaling_child:
        scaling_child(args.scaling_child)
        return 0
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    if args.repeats < 1 or args.captions < 2 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1, --captions >= 2")

    import torch

    from shotsmith.quiet import quiet_libraries

    quiet_libraries()
    if args.gpu_5b_config:  # a GPU box: its own thread settings
        return run_gpu_5b(args)
    torch.set_num_threads(args.threads)
    os.environ["SHOTSMITH_THREADS"] = str(args.threads)
    started = time.perf_counter()
    report = Report(args.out, keep=startup_section(args.out), parts=[f"""# shotsmith benchmarks

Machine: {machine(args.threads)}.
Versions: {versions()}.
Run: `python benchmarks/run.py --repeats {args.repeats} --captions {args.captions}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};
load average at start {load_average()} (the machine is shared: another process keeps about one core busy).
Torch threads: {args.threads} here and in every subprocess. Seconds are min / median of interleaved runs.
"""])
    with tempfile.TemporaryDirectory(prefix="shotsmith-bench-") as tmp:
        for name in sections:
            t = time.perf_counter()
            globals()[f"section_{name}"](report, args, Path(tmp))
            print(f"[{name}: {time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
    report.add(f"Whole run: {time.perf_counter() - started:.0f} s; load average at the end {load_average()}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
