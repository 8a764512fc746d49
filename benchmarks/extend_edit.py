"""Extend and edit on the embedded models, on held-out prompts: what the joins look like before
and after the seam handling, what strength 0 and 1 do, and how long each takes.

For each of N held-out captions (every 6th of src/shotsmith/eval/data/heldout_captions.jsonl):

1. source: the caption rendered as a product clip (`Studio.generate`, embedded T2V);
2. extend: 8 s more on the embedded I2V (two chained segments: 24 + 8 new frames at 4 fps),
   stitched twice from the same render: *after* = the product's stitch (colour held to the
   source's last second, the start residual faded, the lead frame interpolated from); *before* =
   the model's frames as they come (first frame still dropped), hard cut onto the source. Every
   join is measured on the written MP4 (post/seams.py): jump ratio = mean absolute difference
   across the join / median frame-to-frame difference of the second each side; colour shift =
   mean |per-channel mean| difference between the second before and the second after;
3. edit at strength 0 of the source (PSNR against the source at native size) and at strength 1
   of the *next* caption's clip with this caption's prompt, scored for adherence like a plain
   generation of this caption (the source clip of step 1): both decoded and read back at native
   size, so both go through the same encode.

    python benchmarks/extend_edit.py [--rows 10] [--out benchmarks/results/extend_edit.json]
    python benchmarks/extend_edit.py --adherence-only --seed 2000 --out benchmarks/results/edit_adherence_seed2000.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--size", default="720x480", help="output size of every clip")
    ap.add_argument("--work", type=Path, default=Path("/tmp/shotsmith-extend-edit"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "extend_edit.json")
    ap.add_argument("--adherence-only", action="store_true",
                    help="only the strength-1 edits against plain generation (another seed's check)")
    args = ap.parse_args(argv)

    from shotsmith.engine import RenderResult
    from shotsmith.engine.extend import render_chains
    from shotsmith.eval.adherence import aggregate, score
    from shotsmith.eval.detector import detect
    from shotsmith.eval.shapes_eval import psnr
    from shotsmith.post.source import read_resampled, read_tail, resize_frame
    from shotsmith.post.stitch import stitch_clip
    from shotsmith.service import Studio, clip_metadata, post_settings
    from shotsmith.spec import build_spec, parse_size

    width, height = parse_size(args.size)
    out_opts = dict(width=width, height=height, fps=24)
    lines = (ROOT / "src" / "shotsmith" / "eval" / "data" / "heldout_captions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()][::6][: args.rows]
    args.work.mkdir(parents=True, exist_ok=True)
    studio = Studio()

    def native(path: Path) -> np.ndarray:
        return read_resampled(path, 96, 64, 25, 4)[0]

    # 1. Sources
    sources, plain = [], []
    for i, row in enumerate(rows):
        path = args.work / f"{row['id']}-source.mp4"
        studio.generate(build_spec(prompt=row["prompt"], seed=args.seed + i, **out_opts), path)
        sources.append(path)
        plain.append(score(row["expected"], detect(native(path))))
        print(f"source {row['id']}: adherence {plain[-1].overall:.2f}", flush=True)

    results = []
    edit1 = []
    for i, row in enumerate(rows):
        source = sources[i]
        rec: dict = {"id": row["id"], "prompt": row["prompt"], "seed": args.seed + i}
        if args.adherence_only:
            other = sources[(i + 1) % len(rows)]
            redone = studio.generate(build_spec(prompt=row["prompt"], video=str(other), strength=1.0,
                                                seed=args.seed + i, **out_opts), args.work / f"{row['id']}-edit1.mp4")
            edit1.append(score(row["expected"], detect(native(redone.clips[0].video))))
            rec["adherence_plain"] = round(plain[i].overall * 100, 1)
            rec["adherence_edit1"] = round(edit1[-1].overall * 100, 1)
            results.append(rec)
            print(f"{row['id']}: adherence plain {rec['adherence_plain']} edit1 {rec['adherence_edit1']}", flush=True)
            continue
        # 2. Extend by 8 s
        spec = build_spec(prompt=row["prompt"], extend_from=str(source), seconds=8, seed=args.seed + i,
                          **out_opts).check_inputs()
        pipe = studio.engine.pipeline(spec.entry())
        from shotsmith.service import enhance_spec

        spec, _ = enhance_spec(spec, pipe.tokenizer)
        t = time.perf_counter()
        tail = read_tail(source)
        reference = np.stack([resize_frame(f, 96, 64) for f in tail])
        start = reference[-1]
        chain = render_chains(studio.engine, spec, start, reference)[0]
        render = RenderResult(spec.entry(), [], 20, 1.0, 96, 64, len(chain.frames))
        meta = clip_metadata(spec, render, chain.seed, 0)
        bounds = np.cumsum([p["kept"] for p in chain.segments])[:-1].tolist()
        nat = {"frames": len(chain.frames), "width": 96, "height": 64, "fps": 4.0}
        after = stitch_clip(source, chain.frames, start, 4, args.work / f"{row['id']}-after.mp4",
                            post_settings(spec), dict(meta), nat, bounds)
        rec["extend_seconds"] = round(time.perf_counter() - t, 2)
        before = stitch_clip(source, chain.raw, None, 4, args.work / f"{row['id']}-before.mp4",
                             post_settings(spec), dict(meta), nat, bounds)
        rec["duration"] = {"source": 6.25, "after": round(after.duration, 3), "before": round(before.duration, 3)}
        rec["joins_after"] = json.loads(after.sidecar.read_text())["metadata"]["joins"]
        rec["joins_before"] = json.loads(before.sidecar.read_text())["metadata"]["joins"]
        # 3. Edits
        t = time.perf_counter()
        kept = studio.generate(build_spec(prompt=row["prompt"], video=str(source), strength=0.0,
                                          seed=args.seed + i, **out_opts), args.work / f"{row['id']}-edit0.mp4")
        rec["edit0_seconds"] = round(time.perf_counter() - t, 2)
        rec["edit0_psnr"] = round(psnr(native(kept.clips[0].video), native(source)), 2)
        other = sources[(i + 1) % len(rows)]
        t = time.perf_counter()
        redone = studio.generate(build_spec(prompt=row["prompt"], video=str(other), strength=1.0,
                                            seed=args.seed + i, **out_opts), args.work / f"{row['id']}-edit1.mp4")
        rec["edit1_seconds"] = round(time.perf_counter() - t, 2)
        edit1.append(score(row["expected"], detect(native(redone.clips[0].video))))
        rec["adherence_plain"] = round(plain[i].overall * 100, 1)
        rec["adherence_edit1"] = round(edit1[-1].overall * 100, 1)
        results.append(rec)
        ja, jb = rec["joins_after"], rec["joins_before"]
        print(f"{row['id']}: joins before {[j['ratio'] for j in jb]} after {[j['ratio'] for j in ja]}; colour "
              f"before {[j['colour_shift'] for j in jb]} after {[j['colour_shift'] for j in ja]}; "
              f"extend {rec['extend_seconds']} s; edit0 PSNR {rec['edit0_psnr']}; adherence plain "
              f"{rec['adherence_plain']} edit1 {rec['adherence_edit1']}", flush=True)

    if args.adherence_only:
        summary = {"rows": len(rows), "seed": args.seed, "adherence_plain": aggregate(plain)["overall"],
                   "adherence_edit1": aggregate(edit1)["overall"]}
        print(json.dumps(summary, indent=1))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "rows": results}, indent=1) + "\n")
        return 0

    def stats(key: str, field: str, which: int | None = None) -> dict:
        values = [j[field] for r in results for n, j in enumerate(r[key]) if which is None or n == which]
        return {"mean": round(float(np.mean(values)), 3), "max": round(float(np.max(values)), 3)}

    summary = {
        "rows": len(rows), "output": f"{width}x{height}@24 minterpolate",
        "jump_ratio_before": stats("joins_before", "ratio"), "jump_ratio_after": stats("joins_after", "ratio"),
        "jump_ratio_after_source_join": stats("joins_after", "ratio", 0),
        "jump_ratio_after_segment_join": stats("joins_after", "ratio", 1),
        "colour_shift_before": stats("joins_before", "colour_shift"),
        "colour_shift_after": stats("joins_after", "colour_shift"),
        "joins_after_over_1_5": sum(j["ratio"] > 1.5 for r in results for j in r["joins_after"]),
        "joins": sum(len(r["joins_after"]) for r in results),
        "edit0_psnr_min": min(r["edit0_psnr"] for r in results),
        "adherence_plain": aggregate(plain)["overall"], "adherence_edit1": aggregate(edit1)["overall"],
        "extend_seconds_mean": round(float(np.mean([r["extend_seconds"] for r in results])), 2),
        "edit0_seconds_mean": round(float(np.mean([r["edit0_seconds"] for r in results])), 2),
        "edit1_seconds_mean": round(float(np.mean([r["edit1_seconds"] for r in results])), 2),
        "durations_ok": all(abs(r["duration"]["after"] - 14.25) <= 0.2 for r in results),
    }
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": results}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
