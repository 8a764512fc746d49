"""LoRA demo: teach the embedded model a shape it has never seen, on a CPU.

    python benchmarks/lora_demo.py [--out .train/lora-demo] [--results benchmarks/RESULTS_lora.md]

1. Renders `--clips` (<= 40) shapes-world clips of the novel concept (default: a
   five-point star in the base colours, with the base motions and backgrounds) as
   clip.mp4 + clip.txt pairs, one training-style caption each.
2. Checks that the model's VAE can carry the concept at all: the detector reads
   the training clips after a VAE round trip (a transformer LoRA cannot teach
   what the VAE cannot decode).
3. `train_lora` on them with one torch thread, under a wall-clock cap so that
   rendering + caching + training + saving stay within `--minutes` (15).
4. Adherence before and after (same seeds): held-out captions of the concept,
   written for this demo with other wording than the training captions, and a
   fixed sample of the base vocabulary's held-out captions
   (eval/data/heldout_captions.jsonl). Writes a markdown table to `--results`.

Every run starts from scratch (`--fresh`), so it can be re-run unchanged.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

REPO = Path(__file__).resolve().parents[1]
HELDOUT = REPO / "src" / "shotsmith" / "eval" / "data" / "heldout_captions.jsonl"

# Held-out captions of the novel concept: colour synonyms, verbs and sentence shapes
# that the training captions (world.caption / cinematic_caption) never use. {c} is
# the colour phrase (given here for the base colours), {s} the shape phrase.
NOVEL_HELDOUT = [
    ("Set against a daytime sky backdrop, one {c} {s} drifts leftwards", "scarlet", "sky", "red", "left"),
    ("We see a starless night; a single {c} {s} soars upward", "ivory", "night", "white", "up"),
    ("There is a {c} {s} which glides rightwards, and behind it golden dunes", "sapphire", "sand", "blue", "right"),
    ("On a grassy field, a {c} {s} remains stationary", "canary yellow", "grass", "yellow", "still"),
    ("An {c} {s} swells up against a neutral grey backdrop", "amber", "gray studio", "orange", "grows"),
    ("Over a sandy beach, one {c} {s} dwindles", "plum", "sand", "purple", "shrinks"),
    ("Against the night sky, a {c} {s} plunges downward", "lemon", "night", "yellow", "down"),
    ("A {c} {s} gets smaller and smaller on a plain grey backdrop", "navy", "gray studio", "blue", "shrinks"),
    ("Beneath a clear sky, an {c} {s} climbs upward", "ebony", "sky", "black", "up"),
    ("One {c} {s} heads to the left over warm sand", "jade", "sand", "green", "left"),
    ("On a lush lawn, a {c} {s} inflates", "ruby", "grass", "red", "grows"),
    ("A {c} {s} descends across a pale blue sky", "lilac", "sky", "purple", "down"),
    ("In a grey studio, a {c} {s} holds its position", "pearl white", "gray studio", "white", "still"),
    ("A {c} {s} ascends into the dark night sky", "golden", "night", "yellow", "up"),
    ("An {c} {s} travels eastward over a green meadow", "apricot", "grass", "orange", "right"),
    ("A {c} {s} becomes tiny against a dark night", "snowy", "night", "white", "shrinks"),
]
NOVEL_COLOUR_PHRASES = {"pink": ["rose pink", "fuchsia", "flamingo pink", "salmon pink", "candy pink",
                                 "blush pink"]}
NOVEL_SHAPE_PHRASES = {"star": ["star", "star-shaped object", "star", "five pointed star"]}
OLD_SAMPLE = 20  # base-vocabulary held-out captions: every third line from the first


def machine() -> str:
    import peft
    from run import machine as base_machine  # benchmarks/run.py: one description of the machine

    return f"{base_machine()}, peft {peft.__version__}"


def concept_rows(shape: str, colour: str | None) -> list[dict]:
    from shotsmith.eval.adherence import slots_from_caption

    rows = []
    shape_phrases = NOVEL_SHAPE_PHRASES.get(shape, [shape])
    for i, (template, colour_phrase, background, base_colour, motion) in enumerate(NOVEL_HELDOUT):
        if colour:  # a novel colour is named by its own held-out phrases
            phrases = NOVEL_COLOUR_PHRASES.get(colour, [colour])
            colour_phrase = phrases[i % len(phrases)]
        prompt = template.format(c=colour_phrase, s=shape_phrases[i % len(shape_phrases)])
        prompt = prompt.replace("An ", "A ", 1) if prompt.startswith("An ") and colour_phrase[0] not in "aeiou" \
            else prompt.replace(" an ", " a ", 1) if colour_phrase[0] not in "aeiou" else prompt
        expected = {"background": background, "count": 1,
                    "objects": [{"colour": colour or base_colour, "shape": shape, "motion": motion}]}
        parsed = slots_from_caption(prompt)
        if parsed != expected:  # the caption must state exactly what is scored
            raise SystemExit(f"held-out caption {prompt!r} parses as {parsed}, not {expected}")
        rows.append({"id": f"n{i + 1:02d}", "prompt": prompt, "expected": expected})
    return rows


def old_rows() -> list[dict]:
    rows = [json.loads(line) for line in HELDOUT.read_text().splitlines() if line.strip()]
    return [{"id": r["id"], "prompt": r["prompt"], "expected": r["expected"]} for r in rows[::3][:OLD_SAMPLE]]


def render_training_set(folder: Path, clips: int, shape: str, colour: str | None, seed: int) -> list[dict]:
    from shotsmith.train import clips as clipio
    from shotsmith.train import world

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    scenes = []
    for i in range(clips):
        # Cycle motions so that every one appears about equally often in so few clips.
        motion = world.MOTIONS[i % len(world.MOTIONS)]
        obj_colour = colour or rng.choice(list(world.COLOURS))
        scene = world.novel_scene(rng, colour=obj_colour, shape=shape, motions=(motion,))
        caption = world.caption(scene, rng) if i % 2 == 0 else world.cinematic_caption(scene, rng)
        clipio.write_clip(world.render(scene), folder / f"clip{i:02d}.mp4", fps=4)
        (folder / f"clip{i:02d}.txt").write_text(caption + "\n")
        scenes.append({"slots": scene.slots(), "caption": caption})
    return scenes


@torch.no_grad()
def vae_round_trip(folder: Path, model: str) -> dict:
    """Share of the concept's slots the detector still reads after VAE encode + decode."""
    from shotsmith.eval.adherence import aggregate, score, slots_from_caption
    from shotsmith.eval.detector import detect
    from shotsmith.models.loader import load_pipeline
    from shotsmith.models.registry import resolve
    from shotsmith.train.clips import decode_video

    pipe = load_pipeline(resolve(model), "cpu")
    results = []
    for video in sorted(folder.glob("*.mp4"))[:8]:
        frames, _ = decode_video(video)
        x = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1)[None]
        rec = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mean).sample[0].clamp(-1, 1)
        rec = ((rec + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()
        caption = video.with_suffix(".txt").read_text()
        results.append(score(slots_from_caption(caption), detect(rec)))
    return aggregate(results)


def evaluate(engine, rows: list[dict], model: str, seed: int, lora: str | None = None) -> dict:
    """Through the product path: the request names the LoRA, the engine switches it on."""
    from shotsmith.eval.shapes_eval import run_shapes_eval

    return run_shapes_eval(rows, model=model, engine=engine, seed=seed, lora=lora).summary


def fmt(summary: dict) -> list[str]:
    slots = summary["per_slot"]
    return [f"{summary['overall']:.1f}", *(f"{slots[k]:.0f}" for k in ("colour", "shape", "motion", "background",
                                                                          "count")), f"{summary['all_correct']:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".train" / "lora-demo")  # git-ignored
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS_lora.md")
    parser.add_argument("--model", default="cogvideox-shapes")
    parser.add_argument("--shape", default="star", help="novel (star) or base shape of the concept")
    parser.add_argument("--colour", default=None, help="a novel colour (pink); default: the base colours")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=15.0, help="cap for render + cache + train + save")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="only 6 + 6 evaluation captions (for debugging)")
    args = parser.parse_args()
    if not 1 <= args.clips <= 40:
        sys.exit("--clips: the demo uses at most 40 clips")

    torch.set_num_threads(1)  # the machine is shared: one core for this run
    from shotsmith.engine import Engine
    from shotsmith.quiet import quiet_libraries
    from shotsmith.train.lora import LoraRecipe, train_lora

    quiet_libraries()
    novel = concept_rows(args.shape, args.colour)
    old = old_rows()
    if args.quick:
        novel, old = novel[:6], old[:6]
    concept = f"{args.colour + ' ' if args.colour else ''}{args.shape}"
    data_dir, lora_dir = args.out / "data", args.out / "lora"

    # --- 1-3: render, cache, train: all inside the wall-clock cap
    started = time.time()
    render_training_set(data_dir, args.clips, args.shape, args.colour, seed=0)
    render_seconds = time.time() - started
    reserve = 1.0  # minutes kept for loading, caching, the final validation clip and saving
    train_minutes = max(0.5, args.minutes - (time.time() - started) / 60 - reserve)
    recipe = LoraRecipe(rank=args.rank, steps=args.steps, lr=args.lr, batch=args.batch, checkpoint_every=100,
                        minutes=train_minutes, threads=1,
                        validation_prompt=novel[0]["prompt"])
    result = train_lora(data_dir, lora_dir, args.model, recipe, log=lambda m: print(m, file=sys.stderr),
                        fresh=True, show_progress=sys.stderr.isatty())
    total_seconds = time.time() - started
    print(f"trained in {total_seconds / 60:.1f} min ({result.steps} steps)", file=sys.stderr)

    round_trip = vae_round_trip(data_dir, args.model)

    # --- 4: adherence before / after on the same seeds
    engine = Engine()
    from shotsmith.models.registry import resolve

    t = time.time()
    before = {"novel": evaluate(engine, novel, args.model, args.eval_seed),
              "old": evaluate(engine, old, args.model, args.eval_seed)}
    after = {"novel": evaluate(engine, novel, args.model, args.eval_seed, lora=str(lora_dir)),
             "old": evaluate(engine, old, args.model, args.eval_seed, lora=str(lora_dir))}
    eval_seconds = time.time() - t

    info = json.loads((lora_dir / "lora.json").read_text())
    lines = [
        "# LoRA demo: teaching the embedded model a new shape on a CPU",
        "",
        f"`python benchmarks/lora_demo.py` ({time.strftime('%Y-%m-%d %H:%M')}), "
        f"model `{args.model}`, concept **{concept}**.",
        "",
        f"Machine: {machine()}.",
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        f"| training clips | {result.clips} rendered {concept} clips (96x64, 25 frames), one caption each |",
        f"| LoRA | rank {args.rank}, to_q/to_k/to_v/to_out.0, lr {args.lr:g}, batch {info['batch']}, "
        f"object-weighted v-prediction loss |",
        f"| steps | {result.steps}{' (stopped by the time cap)' if result.stopped_early else ''} |",
        f"| wall time, render + cache + train + save | **{total_seconds / 60:.1f} min** (cap {args.minutes:g} min): "
        f"render {render_seconds:.0f} s, cache {result.seconds['cache']:.0f} s, "
        f"train {result.seconds['train']:.0f} s |",
        f"| final loss (EMA) | {info['final_loss']} |",
        f"| LoRA file | {(lora_dir / 'pytorch_lora_weights.safetensors').stat().st_size / 1e6:.1f} MB |",
        f"| VAE round trip of 8 training clips | detector reads shape {round_trip['per_slot']['shape']:.0f}%, "
        f"colour {round_trip['per_slot']['colour']:.0f}% (the ceiling for any transformer LoRA) |",
        "",
        "## Adherence before and after (same seeds; percent of slots the frame detector reads right)",
        "",
        "| captions | LoRA | overall | colour | shape | motion | background | count | all slots right |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {len(novel)} held-out {concept} captions | no | " + " | ".join(fmt(before["novel"])) + " |",
        f"| {len(novel)} held-out {concept} captions | yes | " + " | ".join(fmt(after["novel"])) + " |",
        f"| {len(old)} base-vocabulary held-out captions | no | " + " | ".join(fmt(before["old"])) + " |",
        f"| {len(old)} base-vocabulary held-out captions | yes | " + " | ".join(fmt(after["old"])) + " |",
        "",
        f"Evaluation: {engine_steps(args.model)} denoising steps per clip, guidance "
        f"{resolve(args.model).guidance:g} (the model's default), seeds "
        f"{args.eval_seed}+i, {eval_seconds / 60:.1f} min for all {2 * (len(novel) + len(old))} clips.",
        "The held-out concept captions are in `benchmarks/lora_demo.py` (`NOVEL_HELDOUT`); the base-vocabulary "
        f"sample is every third line of `eval/data/heldout_captions.jsonl` (first {len(old)}).",
        "",
    ]
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))


def engine_steps(model: str) -> int:
    from shotsmith.models.registry import resolve

    return resolve(model).steps


if __name__ == "__main__":
    main()
