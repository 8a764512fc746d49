"""First+last keyframes on the embedded I2V model: which last-frame constraint to ship.

For N shapes-world scenes with one moving object (rendered by train/world.py), the
clip's frame 0 and last frame are the keyframes. Each design renders the clip from
the two images (the first-frame lock always on) and is scored at native size on:
first-frame PSNR, last-frame PSNR against the given last image, whether the
detector's object position goes monotonically from the first image's position to
the last one's, and how big the step into the last four frames is (the join the
last latent frame's decoding makes, over the median step inside the clip).

    python benchmarks/keyframes.py [--pairs 12] [--steps 20] [--guidance G] [--designs none,held,...] [--model FOLDER] [--out FILE]

Designs are `TARGET[+cond][/release=K][/ahead=A][/nolock]`: TARGET is how the last image becomes the
last latent frame (engine.LAST_FRAME_TARGETS, or "none" for the first-frame lock alone), +cond
also puts it in the transformer's image-conditioning channels (engine.last_frame_condition: what a
model trained with `i2v_last_frame_share` learned to read), K is the final steps left
unreplaced, A how many steps ahead (less noisy) the replaced frame is, and /nolock leaves the
last latent frame unreplaced (the condition alone). --model renders another I2V folder (a
training snapshot) with the shipped entry's settings. The table goes to
stdout (and --out, as markdown); --json writes every pair's numbers. docs/models.md keeps the
measured table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

from shotsmith.engine.engine import (Engine, FirstFrameLock, LastFrameLock, decode, encode_first_frame,
                                     encode_last_frame, last_frame_condition)
from shotsmith.eval.keyframes import keyframe_path
from shotsmith.eval.shapes_eval import psnr
from shotsmith.models.registry import ENTRIES
from shotsmith.models.embedded import I2V_NAME, folder_last_frame_condition, folder_text_limit
from shotsmith.train import world

MOVERS = ("left", "right", "up", "down")
DEFAULT_DESIGNS = ("none", "single", "held", "fade", "held/release=2", "held/ahead=20", "held+cond")


def keyframe_pairs(count: int, seed: int = 2100) -> list[dict]:
    """Scenes with one object that moves (left/right/up/down), their caption and rendered clip."""
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        scene = world.random_scene(rng, two_objects_share=0.0)
        if scene.objects[0].motion not in MOVERS:
            continue
        clip = world.render(scene)
        pairs.append({"scene": scene, "prompt": world.caption(scene, rng), "clip": clip})
    return pairs


def join_ratio(frames: np.ndarray, at: int) -> float:
    """Mean absolute change from frame at-1 to at, over the median change between neighbours."""
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    return float(steps[at - 1] / max(np.median(steps), 1e-6))


def parse_design(text: str) -> tuple[str, int, bool, int, bool]:
    """'held+cond/release=2/ahead=5' -> ('held', 2, True, 5, True): target, final steps left unreplaced,
    last latent also in the transformer's image-conditioning channels, how many steps ahead (less
    noisy) the replaced frame is, and whether the last latent frame is replaced at all (/nolock: no)."""
    lock = not text.endswith("/nolock")
    design, _, ahead = text.removesuffix("/nolock").partition("/ahead=")
    design, _, release = design.partition("/release=")
    target, _, cond = design.partition("+")
    return target, int(release or 0), cond == "cond", int(ahead or 0), lock


@torch.inference_mode()
def render(engine: Engine, pipe, entry, pair: dict, design: str, steps: int, seed: int) -> np.ndarray:
    target, release, cond, ahead, lock = parse_design(design)
    first, last = (Image.fromarray(pair["clip"][i]) for i in (0, -1))
    h, w, num_frames = entry.height, entry.width, entry.frames
    first_lock = FirstFrameLock(encode_first_frame(pipe, first, h, w), pipe.scheduler, seed)
    last_lock, latent = None, None
    if target != "none":
        latent = encode_last_frame(pipe, last, h, w, target, first=first)
        if lock:
            last_lock = LastFrameLock(latent, pipe.scheduler, seed, steps, release, ahead)

    def on_step(pipe_, i, t, kwargs):
        latents = first_lock(kwargs["latents"], t)
        kwargs["latents"] = last_lock(latents, t, i) if last_lock is not None else latents
        return kwargs

    text = dict(engine.text_embeddings(pipe, entry, pair["prompt"]))
    if entry.guidance > 1:  # the model's negative prompt, in the same caption window (as Engine.prompt_arguments)
        text.update(entry.rules.as_negative(engine.text_embeddings(pipe, entry, entry.negative_prompt or "")))
    with last_frame_condition(pipe, latent if cond else None):
        return _denoise(pipe, entry, first, text, h, w, num_frames, steps, seed, on_step)


def _denoise(pipe, entry, first, text, h, w, num_frames, steps, seed, on_step) -> np.ndarray:
    latents = pipe(**text, image=first, height=h, width=w, num_frames=num_frames,
                   num_inference_steps=steps, guidance_scale=entry.guidance, use_dynamic_cfg=False,
                   output_type="latent", generator=torch.Generator().manual_seed(seed),
                   callback_on_step_end=on_step).frames
    return decode(pipe, latents, num_frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's own")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--designs", default=",".join(DEFAULT_DESIGNS))
    parser.add_argument("--model", default=None, help="an I2V folder to render instead of the shipped one")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's own")
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None, help="write every pair's numbers per design here")
    args = parser.parse_args(argv)
    entry = ENTRIES[I2V_NAME]
    if args.model:
        from dataclasses import replace

        entry = replace(entry, path=args.model, text_limit=folder_text_limit(args.model),
                        last_frame_condition=folder_last_frame_condition(args.model))
    if args.guidance is not None:
        from dataclasses import replace

        entry = replace(entry, guidance=args.guidance)
    steps = args.steps or entry.steps
    engine = Engine()
    pipe = engine.pipeline(entry)
    pairs = keyframe_pairs(args.pairs)
    designs = args.designs.split(",")
    # the VAE's own round trip of each last image held four frames: the ceiling for the last frame
    ceiling = []
    for pair in pairs:
        held = torch.from_numpy(np.stack([pair["clip"][-1]] * 5)).float().permute(3, 0, 1, 2)[None] / 127.5 - 1
        with torch.no_grad():
            out = pipe.vae.decode(pipe.vae.encode(held).latent_dist.mean).sample
        out = ((out[0, :, -1].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        ceiling.append(psnr(out, pair["clip"][-1]))
    rows, per_pair = [], {}
    for design in designs:
        firsts, lasts, moves, joins, seconds = [], [], [], [], []
        for n, pair in enumerate(pairs):
            t = time.perf_counter()
            frames = render(engine, pipe, entry, pair, design, steps, args.seed + n)
            seconds.append(time.perf_counter() - t)
            firsts.append(psnr(frames[0], pair["clip"][0]))
            lasts.append(psnr(frames[-1], pair["clip"][-1]))
            moves.append(keyframe_path(frames, pair["clip"][0], pair["clip"][-1]))
            joins.append(join_ratio(frames, len(frames) - 4))
        rows.append((design, firsts, lasts, moves, joins, seconds))
        if args.json:
            import json
            from dataclasses import asdict

            per_pair[design] = [{"prompt": pair["prompt"], "motion": pair["scene"].objects[0].motion,
                                 "first_psnr": f, "last_psnr": la, "path": asdict(m), "join": j}
                                for pair, f, la, m, j in zip(pairs, firsts, lasts, moves, joins)]
            with open(args.json, "w") as fh:
                json.dump(per_pair, fh, indent=1)
        print(f"{design}: first {statistics.mean(firsts):.1f} last {statistics.mean(lasts):.1f} "
              f"(min {min(lasts):.1f}) monotonic {sum(m.ok for m in moves)}/{len(moves)}", file=sys.stderr)
    lines = [f"{args.model or I2V_NAME}: {len(pairs)} pairs, {steps} steps, {entry.width}x{entry.height}x{entry.frames}, seeds "
             f"{args.seed}..{args.seed + len(pairs) - 1}; VAE round trip of the held last image (ceiling): "
             f"{statistics.mean(ceiling):.1f} dB mean, min {min(ceiling):.1f}", "",
             "| design | first PSNR mean (min) | last PSNR mean (min) | last >= 22 dB | monotonic first->last "
             "| max backward step (of travel) | end position (1 = last image) | join into last 4 frames | s/clip |",
             "|---|---|---|---|---|---|---|---|---|"]
    for design, firsts, lasts, moves, joins, seconds in rows:
        backward = [m.backward for m in moves]
        ends = [m.end for m in moves]
        lines.append(f"| {design} | {statistics.mean(firsts):.1f} ({min(firsts):.1f}) | {statistics.mean(lasts):.1f} "
                     f"({min(lasts):.1f}) | {sum(v >= 22 for v in lasts)}/{len(lasts)} | "
                     f"{sum(m.ok for m in moves)}/{len(moves)} | {np.nanmax(backward):.2f} | "
                     f"{np.nanmedian(ends):.2f} | {statistics.median(joins):.2f} | "
                     f"{statistics.median(seconds):.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
