"""Start-up, the warm CLI and the GIF preview, before and after (issue 20), in one run.

    python benchmarks/startup.py                  # ~6-8 minutes on 2 shared CPU cores
    python benchmarks/startup.py --rounds 5 --before 6ef2c59

Writes its section of benchmarks/RESULTS.md (``--out``), between the markers
``<!-- startup:begin -->`` and ``<!-- startup:end -->`` (replaced on a re-run; the
other sections are run.py's). "Before" is the code at ``--before`` (a git commit,
exported with ``git archive`` to a temp folder, reading the same model weights as
this tree); "after" is this tree. Every measurement runs the two interleaved in the
same run, round after round, and reports min / median over rounds; ratios are medians
of per-round ratios. Whole-process wall time, measured from here (fork to exit).

  cli       the product clip (1440x960, 6.25 s, 24 fps) from `shotsmith generate`:
            before (cold), after in-process (`--local`, cold) and after with a
            `shotsmith serve` running for the same home (warm);
  commands  `shotsmith --help`, `shotsmith models`, `shotsmith enhance TEXT`;
  serve     `shotsmith serve` from process start to /healthz answering, to /healthz `ok`
            and to the first product clip finished (submitted as soon as /healthz answers);
  gif       the 480x320 GIF preview of one finished product clip: time, bytes, PSNR
            against the clip (before: 12 fps, palette from every frame; after: see
            shotsmith.post.ffmpeg.gif_graph).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).parent))

from run import PROMPT, SEED, child_env, free_port, load_average, machine, mm  # noqa: E402

BEGIN, END = "<!-- startup:begin -->", "<!-- startup:end -->"
SECTIONS = ("cli", "commands", "serve", "gif")
ENHANCE_TEXT = "a red ball rolls to the right on green grass"


# ---------------------------------------------------------------- the two trees

def export_before(commit: str, into: Path) -> Path:
    """The `before` commit's src/ in a temp folder, with this tree's model weights (the same model)."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    weights = into / "src/shotsmith/models/weights"
    shutil.rmtree(weights, ignore_errors=True)
    weights.symlink_to(REPO / "src/shotsmith/models/weights")
    return into / "src"


def tree_env(src: Path, threads: int, home: Path, **extra: str) -> dict:
    env = child_env(threads)
    env = {k: v for k, v in env.items() if not k.startswith("SHOTSMITH_") or k == "SHOTSMITH_THREADS"}
    env.update(PYTHONPATH=str(src), SHOTSMITH_HOME=str(home), **extra)
    return env


def wall(args: list[str], env: dict, cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "shotsmith.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"shotsmith {' '.join(args[:2])} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed


def ratio_line(a: list[float], b: list[float]) -> str:
    paired = [x / y for x, y in zip(a, b)]
    return f"{statistics.median(paired):.2f}x (paired per round: {', '.join(f'{r:.2f}' for r in paired)})"


# ---------------------------------------------------------------- servers

class Serve:
    """`shotsmith serve` of one tree in a subprocess, with its times from process start."""

    def __init__(self, src: Path, home: Path, threads: int, log: Path):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "shotsmith.cli", "serve", "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=tree_env(src, threads, home),
                                     cwd=home.parent)
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.times: dict[str, float] = {}

    def wait(self, ready: bool, limit: float = 240) -> None:
        import httpx

        while time.perf_counter() - self.started < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                status = self.http.get("/healthz", timeout=2).json()["status"]
                self.times.setdefault("listening", time.perf_counter() - self.started)
                if status == "ok":
                    self.times.setdefault("ready", time.perf_counter() - self.started)
                if not ready or status == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"serve not {'ready' if ready else 'listening'} after {limit} s")

    def clip(self) -> float:
        """The product clip through the native API; seconds from process start to completed."""
        job = self.http.post("/api/v1/jobs", json={"prompt": PROMPT, "seed": SEED}).raise_for_status().json()
        while job["status"] not in ("completed", "failed", "cancelled"):
            time.sleep(0.02)
            job = self.http.get(f"/api/v1/jobs/{job['id']}").json()
            if "ready" not in self.times and self.http.get("/healthz").json()["status"] == "ok":
                self.times["ready"] = time.perf_counter() - self.started
        if job["status"] != "completed":
            raise RuntimeError(f"clip ended {job['status']}: {job.get('error')}")
        return time.perf_counter() - self.started

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


# ---------------------------------------------------------------- sections

def section_cli(args, before: Path, after: Path, tmp: Path) -> str:
    home = tmp / "cli-home"
    server = Serve(after, home, args.threads, tmp / "cli-serve.log")
    try:
        server.wait(ready=True)
        cold_before, cold_after, warm = [], [], []
        for i in range(args.rounds):
            out = tmp / f"cli-{i}"
            cold_before.append(wall(["generate", PROMPT, "--seed", str(SEED), "--out", str(out / "b.mp4")],
                                    tree_env(before, args.threads, tmp / "before-home"), tmp))
            cold_after.append(wall(["generate", PROMPT, "--seed", str(SEED), "--local", "--out", str(out / "a.mp4")],
                                   tree_env(after, args.threads, home), tmp))
            warm.append(wall(["generate", PROMPT, "--seed", str(SEED), "--out", str(out / "w.mp4")],
                             tree_env(after, args.threads, home), tmp))
            print(f"  cli round {i + 1}: before {cold_before[-1]:.2f} s, cold {cold_after[-1]:.2f} s, warm "
                  f"{warm[-1]:.2f} s", file=sys.stderr, flush=True)
        from shotsmith.post import decode_frames

        identical = all((decode_frames(tmp / f"cli-{i}/a.mp4") == decode_frames(tmp / f"cli-{i}/w.mp4")).all()
                        for i in (0, args.rounds - 1))
    finally:
        server.stop()
    return f"""### Product clip from the CLI: cold in-process against warm (server running)

`shotsmith generate "{PROMPT}" --seed {SEED}` (1440x960, 6.25 s, 24 fps), whole-process wall time,
{args.rounds} interleaved rounds, seconds min / median. Warm: a `shotsmith serve` for the same home, started
and ready before the first round (the CLI finds it through HOME/server.json, submits through the
native API, follows the SSE stream and downloads MP4, GIF, cover, sprite and sidecar to `--out`).

| path | seconds | ratio |
|---|---|---|
| before (`{args.before}`), cold | {mm(cold_before)} | 1.00 |
| after, cold (`--local`: in-process) | {mm(cold_after)} | {ratio_line(cold_after, cold_before)} |
| after, warm (server running) | {mm(warm)} | {ratio_line(warm, cold_before)} |

Warm against cold (after): **{ratio_line(warm, cold_after)}** (target <= 0.4x); cold after against
before: **{ratio_line(cold_after, cold_before)}** (target <= 0.75x). Warm and cold clips of the same round
decode to identical frames: {'yes' if identical else 'NO'} (rounds 1 and {args.rounds}).
"""


def section_commands(args, before: Path, after: Path, tmp: Path) -> str:
    commands = {"`shotsmith --help`": ["--help"], "`shotsmith models`": ["models"],
                f'`shotsmith enhance "{ENHANCE_TEXT}"`': ["enhance", ENHANCE_TEXT]}
    times = {name: {"before": [], "after": []} for name in commands}
    for _ in range(args.rounds):
        for name, argv in commands.items():
            times[name]["before"].append(wall(argv, tree_env(before, args.threads, tmp / "cmd-before"), tmp))
            times[name]["after"].append(wall(argv, tree_env(after, args.threads, tmp / "cmd-after"), tmp))
    rows = "\n".join(f"| {name} | {mm(t['before'])} | {mm(t['after'])} | {ratio_line(t['after'], t['before'])} |"
                     for name, t in times.items())
    return f"""### Light commands

Whole-process wall time, {args.rounds} interleaved rounds, seconds min / median (no server running; target:
each under 1 s). None of them imports torch, diffusers or transformers (tests/test_warm_cli.py checks it).

| command | before | after | after / before |
|---|---|---|---|
{rows}
"""


def section_serve(args, before: Path, after: Path, tmp: Path) -> str:
    runs = {"before": [], "after": []}
    for i in range(args.serve_rounds):
        for name, src in (("before", before), ("after", after)):
            server = Serve(src, tmp / f"serve-{name}-{i}", args.threads, tmp / f"serve-{name}-{i}.log")
            try:
                server.wait(ready=False)
                server.times["first_clip"] = server.clip()
                server.wait(ready=True)
                t = time.perf_counter()
                server.clip()
                server.times["second_clip"] = time.perf_counter() - t
            finally:
                server.stop()
            runs[name].append(server.times)
    for name in runs:
        for r in runs[name]:
            r["first_after_ready"] = r["first_clip"] - r["ready"]
    col = lambda name, key: mm([r[key] for r in runs[name]])  # noqa: E731
    rows = "\n".join(f"| {label} | {col('before', key)} | {col('after', key)} |" for key, label in (
        ("listening", "process start -> /healthz answers"),
        ("ready", "process start -> /healthz `ok` (model loaded)"),
        ("first_clip", "process start -> first product clip completed (submitted when /healthz answers)"),
        ("first_after_ready", "the first clip from /healthz `ok` to completed (it waited for the load)"),
        ("second_clip", "a second product clip, submit -> completed (all warm)")))
    return f"""### `shotsmith serve` start-up

A fresh `shotsmith serve` (local worker, preloads the embedded model), /healthz polled every 20 ms; the
product clip is submitted through `POST /api/v1/jobs` as soon as /healthz answers, while the model loads.
{args.serve_rounds} interleaved rounds, seconds min / median.

| milestone | before | after |
|---|---|---|
{rows}
"""


def gif_psnr(gif: Path, video: Path, fps: int) -> float:
    import numpy as np
    from PIL import Image

    from shotsmith.post.media import iter_frames

    with Image.open(gif) as img:
        frames = []
        for i in range(img.n_frames):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB"), dtype=np.float64))
    step = round(24 / fps)
    clip = dict(iter_frames(video, [i * step for i in range(len(frames))]))
    mse = [np.mean((f - np.asarray(Image.fromarray(clip[i * step]).resize(
        (f.shape[1], f.shape[0]), Image.Resampling.LANCZOS), dtype=np.float64)) ** 2)
        for i, f in enumerate(frames) if i * step in clip]
    return float(10 * np.log10(255**2 / np.mean(mse)))


def section_gif(args, before: Path, after: Path, tmp: Path) -> str:
    from shotsmith.post import ffmpeg

    video = tmp / "cli-0" / "a.mp4"
    if not video.exists():
        wall(["generate", PROMPT, "--seed", str(SEED), "--local", "--out", str(video)],
             tree_env(after, args.threads, tmp / "gif-home"), tmp)
    before_graph = ("fps=12,scale=480:320:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];"
                    "[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle")
    variants = {
        "before: 12 fps, palette from every frame": (["-filter_complex", before_graph, "-loop", "0", "-f", "gif"], 12,
                                                     "before.gif"),
        f"after: {ffmpeg.GIF_FPS} fps, palette from every {ffmpeg.GIF_PALETTE_EVERY}th frame (shipped)": (
            ["-filter_complex", ffmpeg.gif_graph((480, 320), 24), "-loop", "0", "-f", "gif"], ffmpeg.GIF_FPS,
            "after.gif"),
        "animated WebP, 12 fps, quality 70 (measured, not shipped)": (
            ["-vf", "fps=12,scale=480:320:flags=lanczos", "-c:v", "libwebp_anim", "-quality", "70",
             "-compression_level", "1", "-loop", "0", "-f", "webp"], 12, "preview.webp"),
    }
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (output, _fps, file) in variants.items():
            t = time.perf_counter()
            ffmpeg.run_ffmpeg(["-i", str(video), *output, str(tmp / file)], f"make {file}")
            times[name].append(time.perf_counter() - t)
    rows = []
    for name, (_output, fps, file) in variants.items():
        size = (tmp / file).stat().st_size
        psnr = f"{gif_psnr(tmp / file, video, fps):.1f} dB" if file.endswith(".gif") else "-"
        rows.append(f"| {name} | {mm(times[name])} | {size / 1024:.0f} KiB | {psnr} |")
    first = list(times)[0]
    shipped = list(times)[1]
    return f"""### GIF preview

The 480x320 preview of one finished product clip (1440x960, 150 frames), made from the MP4 by one ffmpeg
process, {args.rounds} interleaved runs, seconds min / median; PSNR of the GIF's frames against the clip's
frames at the same times, scaled to 480x320 (higher is closer). In `finish_clip` the GIF's ffmpeg process
now also runs beside the cover + sprite decoding instead of before it.

| preview | seconds | file | PSNR |
|---|---|---|---|
{chr(10).join(rows)}

GIF after / before: {ratio_line(times[shipped], times[first])}.
"""


# ---------------------------------------------------------------- main

def write_section(out: Path, text: str) -> None:
    old = out.read_text() if out.exists() else ""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    out.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from: {', '.join(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measurement (>= 5 for RESULTS)")
    parser.add_argument("--serve-rounds", type=int, default=3, help="interleaved rounds of the serve section")
    parser.add_argument("--before", default="6ef2c59", help="the commit to compare with (before issue 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every process")
    parser.add_argument("--note", default="", help="a sentence on the machine's state, printed with the numbers")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    if args.rounds < 1 or args.serve_rounds < 1 or args.threads < 1:
        parser.error("--rounds, --serve-rounds and --threads must be >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    load_start = load_average()
    parts = []
    with tempfile.TemporaryDirectory(prefix="shotsmith-startup-") as tmp_name:
        tmp = Path(tmp_name)
        before = export_before(args.before, tmp / "before")
        after = REPO / "src"
        for name in sections:
            t = time.perf_counter()
            parts.append(globals()[f"section_{name}"](args, before, after, tmp))
            print(parts[-1], flush=True)
            print(f"[{name}: {time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
    command = (f"python benchmarks/startup.py --rounds {args.rounds} --serve-rounds {args.serve_rounds} "
               f"--before {args.before}" + (f" --sections {args.sections}" if sections != list(SECTIONS) else ""))
    header = f"""## 9. Start-up, the warm CLI and the GIF preview (issue 20)

Machine: {machine(args.threads)}.
Run: `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.perf_counter() - started:.0f} s;
load average {load_start} at the start, {load_average()} at the end. Torch threads: {args.threads} in every process.
Before = commit `{args.before}` (exported with `git archive`, same model weights), after = this tree.
{args.note}
"""
    write_section(args.out, header + "\n" + "\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
