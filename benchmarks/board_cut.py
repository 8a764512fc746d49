"""A storyboard's export: the cut (board/cut.py) and the shot list (board/shotlist.py), timed on
product-sized takes, with the checks the cut must pass.

N synthetic takes (a soft ball moving over a graded background, a different colour per take) are
written at the product size and rate (default 1440x960, 24 fps, 6.25 s: what the embedded model's
takes are by default), then cut with hard cuts and with a 0.5 s crossfade, and the shot list is
written for them. Reported per run: wall seconds, the cut's duration against the sum of the takes,
its chapters read back with PyAV, and the PSNR of each chapter's first frame against its take's
first frame (hard cuts).

    python benchmarks/board_cut.py [--shots 5] [--size 1440x960] [--seconds 6.25] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def take_frames(count: int, width: int, height: int, hue: int):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(hue)
    sky, ball = rng.integers(20, 235, 3).astype(np.float32), rng.integers(20, 235, 3).astype(np.float32)
    background = sky * (1 - 0.4 * (y / height))[..., None]
    for i in range(count):
        cx, cy, r = width * (0.2 + 0.6 * i / max(count - 1, 1)), height * 0.5, height * 0.2
        alpha = np.clip(r - np.hypot(x - cx, y - cy), 0, 1)[..., None]
        yield (background * (1 - alpha) + ball * alpha).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--size", default="1440x960")
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=6.25)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/shotsmith-board-cut"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "board_cut.json")
    args = ap.parse_args(argv)

    import av

    from run import machine
    from shotsmith.board.cut import CutPiece, cut_board
    from shotsmith.board.shotlist import write_shot_list
    from shotsmith.eval.shapes_eval import psnr
    from shotsmith.post import ffmpeg
    from shotsmith.post.media import iter_frames, probe_video
    from shotsmith.spec import parse_size

    width, height = parse_size(args.size)
    frames = round(args.seconds * args.fps)
    args.work.mkdir(parents=True, exist_ok=True)
    pieces = []
    for i in range(args.shots):
        path = args.work / f"take{i + 1}.mp4"
        ffmpeg.run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(args.fps),
                           "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p",
                           str(path)], "write a take", stdin_frames=take_frames(frames, width, height, i))
        pieces.append(CutPiece(path, f"Shot {i + 1}"))
    total = sum(probe_video(p.path)["frames"] / probe_video(p.path)["fps"] for p in pieces)
    firsts = [next(f for _, f in iter_frames(p.path, [0])) for p in pieces]

    runs = []
    for crossfade in (0.0, 0.5):
        for repeat in range(args.repeats):
            started = time.perf_counter()
            result = cut_board(pieces, args.work / f"cut-{crossfade:g}.mp4", width=width, height=height, fps=args.fps,
                               crossfade=crossfade)
            seconds = time.perf_counter() - started
            with av.open(str(result.path)) as container:
                chapters = container.chapters()
            run = {"crossfade": crossfade, "repeat": repeat, "seconds": round(seconds, 2),
                   "duration": round(result.duration, 4), "sum_of_takes": round(total, 4),
                   "chapters_read_back": len(chapters)}
            if crossfade == 0 and repeat == 0:
                starts = [round(c[1] * args.fps) for c in result.chapters]
                at = {s: f for s, f in iter_frames(result.path, starts)}
                run["chapter_first_frame_psnr"] = [round(psnr(at[s], firsts[k]), 1) for k, s in enumerate(starts)]
            runs.append(run)
            print(json.dumps(run))

    board = {"name": "benchmark", "width": width, "height": height, "fps": args.fps, "shots": [
        {"id": f"s{i}", "title": p.title, "text": "a ball moves right", "prompt": "a ball moves right", "mode": "t2v",
         "duration": args.seconds, "seed": i, "candidates": 1, "picked_take_id": f"t{i}", "model": "cogvideox-shapes",
         "takes": [{"id": f"t{i}", "job_id": f"j{i}", "seed": i, "status": "completed"}]}
        for i, p in enumerate(pieces)]}
    by_take = {f"t{i}": p.path for i, p in enumerate(pieces)}
    started = time.perf_counter()
    write_shot_list(board, args.work / "list", take_files=lambda t: by_take.get(t["id"]))
    shotlist_seconds = time.perf_counter() - started
    print(f"shot list: {shotlist_seconds:.2f} s")

    report = {"machine": machine(), "shots": args.shots, "size": f"{width}x{height}", "fps": args.fps,
              "take_seconds": args.seconds, "runs": runs, "shot_list_seconds": round(shotlist_seconds, 2),
              "note": "measured with `nice -n 10` while model training ran on both cores"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
