"""Held-out (or fresh) shapes-world adherence of one embedded model, at its native size.

What the training doc's tables are measured with: each caption is generated once
(seed + row), read back by the detector and scored slot by slot. `heldout` is the
packaged 60 captions (words the training captions never use); `fresh` is 60
training-style captions of newly drawn scenes (seed 777), which no choice is made on.

    python benchmarks/shapes_adherence.py cogvideox-shapes --set heldout --seed 1000
    python benchmarks/shapes_adherence.py runs/x/cogvideox-shapes-i2v --set heldout --json out.json

MODEL is a registry name or a model folder; an image-to-video model gets a rendered
first frame per caption and its first-frame PSNR is reported too.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from shotsmith.eval.shapes_eval import load_prompt_file, run_shapes_eval
from shotsmith.errors import FieldError
from shotsmith.models.registry import parse_cache, resolve
from shotsmith.train import world

HELDOUT = Path(__file__).resolve().parents[1] / "src/shotsmith/eval/data/heldout_captions.jsonl"


def fresh_rows(count: int = 60, seed: int = 777) -> list[dict]:
    rng, rows = random.Random(seed), []
    for n in range(count):
        scene = world.random_scene(rng, two_objects_share=0.25, layout="canonical")
        rows.append({"id": f"f{n:02d}", "prompt": world.caption(scene, rng, wide=True), "expected": scene.slots()})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--set", choices=("heldout", "fresh"), default="heldout")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--guidance", type=float, help="default: the model's own")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cache", help="step cache (e.g. none, taylorseer); default: the model's own")
    ap.add_argument("--enhance", action="store_true", help="run the prompt agent first, as generate does")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", type=Path, help="write every row's detection and score here")
    args = ap.parse_args()

    if args.limit is not None and args.limit < 1:
        ap.error("--limit: must be 1 or more")
    try:
        resolve(args.model)
    except ValueError as exc:  # unknown name, or a folder that is not a model: one line, no traceback
        ap.error(f"MODEL: {exc}")
    if args.cache is not None:
        try:
            parse_cache(args.cache, field="--cache")
        except FieldError as exc:
            ap.error(str(exc))
    rows = load_prompt_file(HELDOUT) if args.set == "heldout" else fresh_rows()
    rows = rows[: args.limit] if args.limit else rows
    frames = args.json.with_suffix(".frames") if args.json else None  # each clip's frames, beside the rows
    if frames:
        frames.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = run_shapes_eval(rows, model=args.model, enhance=args.enhance, seed=args.seed, steps=args.steps,
                             guidance=args.guidance, frames_out=frames, cache=args.cache)
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    summary = {**result.summary, "set": args.set, "seed": args.seed, "seconds": round(time.perf_counter() - start)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
