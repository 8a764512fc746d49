"""How well the frozen text encoder's features of the training captions carry the held-out wording.

A cheap probe (about a minute on one core) that bounds what `--no-enhance` can reach: a linear
classifier per slot is fitted on the mean MiniLM token features of training captions of one
wording (`--captions base|wide|broad`) and then reads the held-out captions
(eval/data/heldout_captions.jsonl): colour, shape and motion of one-object captions, the
background and the object count of all. A generator trained on that wording reads its captions
through the same features, so a slot the probe cannot read from the held-out words is one the
model will not follow as written either.

    python benchmarks/text_probe.py --captions wide broad --out benchmarks/results/text_probe.md

With `--compare` (shapes_adherence.py `--json` files of a `--no-enhance` run) it also counts, per
slot, how many of the generator's misses fall on held-out captions that the probe of the last
wording misreads too: where the two agree, the words (not the generator) are the limit.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

from shotsmith.models import embedded as emb
from shotsmith.train import world

SLOTS = ("colour", "shape", "motion", "background", "count")


def features(texts: list[str], tokenizer, encoder, batch: int = 64) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            tok = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=48, return_tensors="pt")
            hidden = encoder(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def labels(slots: dict) -> dict:
    one = slots["objects"][0] if slots["count"] == 1 else None
    return {"colour": one and one["colour"], "shape": one and one["shape"], "motion": one and one["motion"],
            "background": slots["background"], "count": slots["count"]}


def fit_linear(x: np.ndarray, y: list[str], steps: int = 300, decay: float = 1e-3):
    """A multinomial logistic regression (torch, full batch, L-BFGS); returns predict(x) -> labels."""
    classes = sorted(set(y))
    xt = torch.tensor(x, dtype=torch.float32)
    mean, std = xt.mean(0), xt.std(0) + 1e-6
    xt = (xt - mean) / std
    yt = torch.tensor([classes.index(v) for v in y])
    layer = torch.nn.Linear(x.shape[1], len(classes))
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(xt), yt) + decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)

    def predict(z: np.ndarray) -> list[str]:
        with torch.no_grad():
            out = layer((torch.tensor(z, dtype=torch.float32) - mean) / std).argmax(-1)
        return [classes[int(i)] for i in out]

    return predict


def generator_misses(paths: list[Path]) -> list[tuple[str, str]]:
    """(caption id, slot) for every slot a shapes_adherence --json run got wrong, over all the files."""
    misses = []
    for path in paths:
        for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
            for slot, right in row["adherence"]["correct"].items():
                if not right:
                    misses.append((row["id"], slot))
    return misses


def agreement_table(misses: list[tuple[str, str]], probe_read: dict[str, set[str]],
                    probe_wrong: dict[str, set[str]], runs: int) -> str:
    """Per slot: the generator's misses on captions the probe reads (one-object captions for the
    per-object slots), and how many of them are on captions the probe misreads as well."""
    lines = [f"| slot | captions the probe misreads | generator misses ({runs} runs) | of them on those captions |",
             "|---|---|---|---|"]
    for slot in SLOTS:
        mine = [cid for cid, s in misses if s == slot and cid in probe_read.get(slot, set())]
        shared = sum(1 for cid in mine if cid in probe_wrong.get(slot, set()))
        share = f"{100 * shared / len(mine):.0f} %" if mine else "-"
        read, wrong = len(probe_read.get(slot, ())), len(probe_wrong.get(slot, ()))
        lines.append(f"| {slot} | {wrong} of {read} | {len(mine)} | {shared} ({share}) |")
    return "\n".join(lines)


def training_set(wording: str, scenes: int, seed: int) -> tuple[list[str], list[dict]]:
    rng = random.Random(seed)
    texts, rows = [], []
    for _ in range(scenes):
        scene = world.random_scene(rng, two_objects_share=0.5)
        for text in world.captions_for(scene, rng, wide=wording == "wide", broad=wording == "broad"):
            texts.append(text)
            rows.append(labels(scene.slots()))
    return texts, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", nargs="+", default=["wide", "broad"], choices=["base", "wide", "broad"])
    ap.add_argument("--scenes", type=int, default=1500, help="training scenes per wording (4 captions each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the table (markdown) here too")
    ap.add_argument("--encoder", type=Path,
                    help="another text encoder to probe instead of the shipped MiniLM: a local transformers folder "
                         "(e.g. a sentence-transformers model saved on disk)")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="shapes_adherence.py --json files of --no-enhance runs to set against the probe's misreads")
    args = ap.parse_args(argv)
    for path in args.compare:  # checked before the encoder loads: a wrong file costs a second, not a minute
        try:
            generator_misses([path])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            ap.error(f"--compare: {path} is not a shapes_adherence.py --json file ({type(exc).__name__}: {exc})")
    torch.set_num_threads(1)
    if args.encoder is None:
        tokenizer, encoder = emb.load_text_encoder()
    elif not (args.encoder / "config.json").is_file():
        ap.error(f"--encoder: {args.encoder} is not a transformers model folder (no config.json)")
    else:
        from transformers import AutoModel, AutoTokenizer

        tokenizer, encoder = AutoTokenizer.from_pretrained(args.encoder), AutoModel.from_pretrained(args.encoder).eval()
    held = [json.loads(line) for line in world.HELDOUT_CAPTIONS.read_text().splitlines() if line.strip()]
    held_x = features([h["prompt"] for h in held], tokenizer, encoder)
    held_y = [labels(h["expected"]) for h in held]
    lines = ["| training wording | " + " | ".join(SLOTS) + " | mean |", "|---" * (len(SLOTS) + 2) + "|"]
    for wording in args.captions:  # --compare reads the last wording's misreads
        texts, rows = training_set(wording, args.scenes, args.seed)
        x = features(texts, tokenizer, encoder)
        scores: list[float] = []
        probe_read: dict[str, set[str]] = {}
        probe_wrong: dict[str, set[str]] = {}
        for slot in SLOTS:
            keep = [i for i, r in enumerate(rows) if r[slot] is not None]
            predict = fit_linear(x[keep], [str(rows[i][slot]) for i in keep])
            test = [i for i, r in enumerate(held_y) if r[slot] is not None]
            pred = predict(held_x[test])
            scores.append(100 * float(np.mean([p == str(held_y[i][slot]) for p, i in zip(pred, test)])))
            probe_read[slot] = {held[i]["id"] for i in test}
            probe_wrong[slot] = {held[i]["id"] for p, i in zip(pred, test) if p != str(held_y[i][slot])}
        lines.append(f"| {wording} | " + " | ".join(f"{s:.0f}" for s in scores) + f" | {np.mean(scores):.1f} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    if args.compare:
        names = ", ".join(path.name for path in args.compare)
        table += (f"\n\nThe generator's misses ({names}) against the probe of the {args.captions[-1]} wording:\n\n"
                  + agreement_table(generator_misses(args.compare), probe_read, probe_wrong, len(args.compare)))
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        name = "MiniLM" if args.encoder is None else args.encoder.name
        args.out.write_text(f"Linear probe of {name} mean features, {args.scenes} scenes x 4 captions per wording, "
                            f"read on the {len(held)} held-out captions (per-object slots: one-object captions "
                            f"only)\n\n{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
