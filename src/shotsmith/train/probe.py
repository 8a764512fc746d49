"""A cheap gate before a long training run: train a recipe from scratch on a few scenes,
then generate from pure noise on its own captions and score the clips.

    OMP_NUM_THREADS=1 python -m shotsmith.train.probe --out probe-runs/p4 --scenes 32 --minutes 12 \\
        --patch-size 4 --text-tokens 48 --layout canonical --lr 2.4e-3

It runs the project's own recipe (`train_shapes` with the shipped VAE, no I2V phase)
on `--scenes` scenes, then:
  - object error: mean squared error on object latents of the model's x0 prediction from
    pure noise (t=999), next to two references on the same clips (background only, and
    the time-averaged "static smear" clip); lower is better, 0 is perfect;
  - adherence: `--eval` training captions (one per scene) and `--eval` captions of slot
    combinations absent from the probe's scenes, generated through the plain diffusers
    `CogVideoXPipeline` (20 steps, guidance 1.5, no cache) and read by the project's
    detector (`shotsmith.eval`).
A design goes to a long run when the probe reaches >= 90 % on its own captions.
Results: OUT/result.json (and the log in OUT/log.txt).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from shotsmith.models import embedded as emb
from shotsmith.train import shapes, world


def _key(slots: dict) -> tuple:
    return (slots["background"],) + tuple((o["colour"], o["shape"], o["motion"]) for o in slots["objects"])


@torch.no_grad()
def object_error(folder: Path, data: dict, t: int = 999, clips: int = 32, seed: int = 123) -> dict:
    """Object-latent MSE of the x0 prediction at timestep t, and the two reference errors."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

    tr = CogVideoXTransformer3DModel.from_pretrained(folder / "transformer").eval()
    sched = CogVideoXDDIMScheduler.from_pretrained(folder / "scheduler")
    alphas = sched.alphas_cumprod.float()
    owners = data["owners"]
    idx = torch.arange(0, len(owners), max(1, len(owners) // clips))[:clips]
    x0 = data["latents"][owners[idx]].float()
    text = data["embeds"][idx].float()
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g)
    a = alphas[t]
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    rot = shapes._rotary(tr, x0.shape[1]) if tr.config.use_rotary_positional_embeddings else None
    v = tr(hidden_states=noisy, encoder_hidden_states=text, timestep=torch.full((len(idx),), t),
           image_rotary_emb=rot).sample
    x0_hat = a.sqrt() * noisy - (1 - a).sqrt() * v
    mask = shapes._object_mask(x0)
    denom = mask.sum().item() * x0.shape[2] + 1e-6

    def err(pred):
        return round((((pred - x0) ** 2) * mask).sum().item() / denom, 3)

    return {"t": t, "model": err(x0_hat), "background_only": err(x0 * (1 - mask)),
            "static_smear": err(x0.mean(1, keepdim=True).expand_as(x0))}


def eval_items(data: dict, n: int, seed: int, two_objects_share: float, layout: str,
               object_scale: float = 1.0) -> dict[str, list]:
    """`n` training captions (one per scene) and `n` captions of unseen slot combinations."""
    scenes = data["scenes"]
    owners = data["owners"].tolist()
    first_caption = {}
    for i, owner in enumerate(owners):
        first_caption.setdefault(owner, i)
    train = []
    for owner in range(min(n, len(scenes))):
        slots = world.Scene(background=scenes[owner]["background"],
                            objects=[world.ShapeObject(**o) for o in scenes[owner]["objects"]]).slots()
        train.append({"caption_index": first_caption[owner], "slots": slots})
    seen = {_key(item["slots"]) for item in train}
    seen |= {_key(world.Scene(background=s["background"],
                              objects=[world.ShapeObject(**o) for o in s["objects"]]).slots()) for s in scenes}
    rng = random.Random(seed + 4242)
    new, keys = [], set()
    tries = 0
    while len(new) < n and tries < 100_000:
        tries += 1
        scene = world.random_scene(rng, two_objects_share, layout=layout, object_scale=object_scale)
        k = _key(scene.slots())
        if k in seen or k in keys:
            continue
        keys.add(k)
        new.append({"caption": world.caption(scene, rng), "slots": scene.slots()})
    return {"train": train, "new": new}


@torch.no_grad()
def score_folder(folder: Path, items: list[dict], captions: list[str], text_tokens: int, seed: int = 1000,
                 steps: int = 20, guidance: float = 1.5, frames_out: Path | None = None) -> dict:
    """Generate each caption from pure noise in the plain pipeline; detector adherence."""
    from diffusers import CogVideoXPipeline

    from shotsmith.eval.adherence import aggregate, score
    from shotsmith.eval.detector import detect
    from shotsmith.models.loader import route_conv3d_to_onednn

    text_encoder = emb.load_text_encoder_model(emb.folder_text_encoder(folder))
    pipe = CogVideoXPipeline.from_pretrained(folder, text_encoder=text_encoder)
    route_conv3d_to_onednn(pipe.vae)
    pipe.set_progress_bar_config(disable=True)
    results = []
    for k, (item, text) in enumerate(zip(items, captions)):
        video = pipe(prompt=text, height=emb.NATIVE_HEIGHT, width=emb.NATIVE_WIDTH, num_frames=emb.NATIVE_FRAMES,
                     num_inference_steps=steps, guidance_scale=guidance, use_dynamic_cfg=False,
                     max_sequence_length=text_tokens, generator=torch.Generator().manual_seed(seed + k),
                     output_type="np").frames[0]
        frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
        results.append(score(item["slots"], detect(frames)))
        if frames_out is not None and k < 8:
            frames_out.mkdir(parents=True, exist_ok=True)
            np.save(frames_out / f"{k}.npy", frames)
    return aggregate(results)


def run_probe(out: Path, recipe: shapes.ShapesRecipe, n_eval: int = 16, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    paths = shapes.train_shapes(out, recipe, log=log)
    folder = paths[emb.T2V_NAME]
    trained_s = time.time() - started
    data = torch.load(out / "checkpoints" / "data.pt")
    steps = None
    for line in (out / "log.txt").read_text().splitlines() if (out / "log.txt").exists() else []:
        if "transformer done:" in line:
            steps = int(line.split("done:")[1].split()[0])
    err = object_error(folder, data)
    log(f"object error from pure noise: {err}")
    items = eval_items(data, n_eval, recipe.seed, recipe.two_objects_share, recipe.layout, recipe.object_scale)
    result = {"recipe": {k: v for k, v in vars(recipe).items()}, "scenes": recipe.scenes, "steps": steps,
              "train_minutes": round(trained_s / 60, 1), "object_error": err}
    train_caps = data["captions"]
    for which in ("train", "new"):
        group = items[which]
        caps = ([train_caps[item["caption_index"]] for item in group] if which == "train"
                else [item["caption"] for item in group])
        agg = score_folder(folder, group, caps, recipe.text_tokens, frames_out=out / f"frames-{which}")
        result[which] = agg
        log(f"EVAL {which}: overall {agg['overall']} "
            + " ".join(f"{s}={agg['per_slot'][s]}" for s in agg["per_slot"]))
    result["total_minutes"] = round((time.time() - started) / 60, 1)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m shotsmith.train.probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scenes", type=int, default=32)
    ap.add_argument("--minutes", type=float, default=12.0, help="training wall time (the cosine follows it)")
    ap.add_argument("--steps", type=int, default=100_000, help="step cap")
    ap.add_argument("--patch-size", type=int, default=4)
    ap.add_argument("--text-tokens", type=int, default=48)
    ap.add_argument("--layout", default="canonical")
    ap.add_argument("--captions", default="wide")
    ap.add_argument("--two-objects-share", type=float, default=0.0)
    ap.add_argument("--object-scale", type=float, default=1.0, help="objects' sizes times this (1-1.5)")
    ap.add_argument("--layers", type=int, default=4, help="transformer blocks")
    ap.add_argument("--heads", type=int, default=4, help="attention heads of 32 channels")
    ap.add_argument("--t2v-init", default=None, help="start from this T2V folder instead of random weights")
    ap.add_argument("--lr", type=float, default=2.4e-3)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--captions-per-scene", type=int, default=3)
    ap.add_argument("--eval", type=int, default=16, help="clips per evaluation set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape-aux-weight", type=float, default=0.0,
                    help="training-only loss reading each object token's shape from a middle block")
    args = ap.parse_args(argv)
    recipe = shapes.ShapesRecipe(
        scenes=args.scenes, t2v_steps=args.steps, t2v_minutes=args.minutes, i2v_steps=0, patch_size=args.patch_size,
        text_tokens=args.text_tokens, layout=args.layout, captions=args.captions,
        two_objects_share=args.two_objects_share, object_scale=args.object_scale, layers=args.layers, heads=args.heads, t2v_init=args.t2v_init, lr=args.lr, warmup_steps=args.warmup_steps,
        captions_per_scene=args.captions_per_scene, seed=args.seed, shape_aux_weight=args.shape_aux_weight,
        vae_init=str(emb.WEIGHTS_DIR / emb.T2V_NAME))
    args.out.mkdir(parents=True, exist_ok=True)
    logf = open(args.out / "log.txt", "a")

    def log(msg: str) -> None:
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    log(f"probe {vars(args)}")
    run_probe(args.out, recipe, n_eval=args.eval, log=log)


if __name__ == "__main__":
    main()
