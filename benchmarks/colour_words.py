"""Which held-out colour words the text encoder itself reads as their colour, and what that costs the generator.

The T2V never trains on the held-out words (train/world.py drops them from its captions), so
with `--no-enhance` it can only follow a colour word as far as the frozen text encoder places it
near a colour it knows. This asks the encoder directly, zero-shot: the pooled sentence embedding
of "a PHRASE SHAPE" (and a second sentence frame) against the same sentence with each of the
world's eight colour names, over the three shapes; the colour named most often is its reading.
A phrase read as another colour, or tied, is one no generator on this encoder can be relied on
to follow as written.

With `--split` (shapes_adherence.py `--json` files of `--no-enhance` runs) it scores each run on
the held-out captions whose colour words the encoder reads and on those holding a misread one.

    python benchmarks/colour_words.py --split run_seed1000.json run_seed2000.json \\
        --out benchmarks/results/colour_words.md
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import torch

from shotsmith.models import embedded as emb
from shotsmith.train import world

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when imported
from text_probe import features  # noqa: E402

SLOTS = ("colour", "shape", "motion", "background", "count")
# The colour phrases of the held-out captions (eval/data/heldout_captions.jsonl) and the world
# colour each one means there. Evaluation only: training never reads this list.
COLOUR_PHRASES = {
    "orange-coloured": "orange", "amber": "orange", "sapphire": "blue", "deep blue": "blue",
    "inky black": "black", "coal black": "black", "canary yellow": "yellow", "sunny yellow": "yellow",
    "leaf green": "green", "bright green": "green", "purple-violet": "purple", "plum purple": "purple",
    "pure white": "white", "ivory white": "white", "scarlet": "red", "bright red": "red",
}
FRAMES = ("a {} {}", "one {} {} moves")


def pooled(texts: list[str], tokenizer, encoder) -> torch.Tensor:
    """Unit-length mean token features (the sentence embedding the encoder was trained to give)."""
    return torch.nn.functional.normalize(torch.from_numpy(features(texts, tokenizer, encoder)), dim=-1)


def encoder_reading(phrase: str, tokenizer, encoder) -> collections.Counter:
    """Votes over shapes and frames: which world colour the phrase's sentence is nearest."""
    colours = list(world.COLOURS)
    votes: collections.Counter = collections.Counter()
    for shape in world.SHAPES:
        for frame in FRAMES:
            query = pooled([frame.format(phrase, shape)], tokenizer, encoder)
            named = pooled([frame.format(c, shape) for c in colours], tokenizer, encoder)
            votes[colours[int((query @ named.T).argmax())]] += 1
    return votes


def reading(votes: collections.Counter) -> str:
    """The colour named most often, or "tie" when two are named equally often."""
    ranked = votes.most_common()
    return "tie" if len(ranked) > 1 and ranked[1][1] == ranked[0][1] else ranked[0][0]


def misread(phrase: str, votes: collections.Counter) -> bool:
    """Read as another colour, or the right colour only tied with another."""
    return reading(votes) != COLOUR_PHRASES[phrase]


def slot_scores(rows: list[dict]) -> dict[str, float]:
    scores = {s: 100 * sum(r["adherence"]["slots"][s] for r in rows) / len(rows) for s in SLOTS}
    scores["overall"] = 100 * sum(r["adherence"]["overall"] for r in rows) / len(rows)
    return scores


def split_table(paths: list[Path], bad_phrases: set[str]) -> str:
    """Per run: overall on all captions, every slot on the captions the encoder reads, overall on the rest."""
    lines = ["| run | all | captions the encoder reads: " + " / ".join(SLOTS) + " | overall | "
             "captions with a misread word: overall |", "|---|---|---|---|---|"]
    for path in paths:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        hard = [r for r in rows if any(p in r["prompt"].lower() for p in bad_phrases)]
        easy = [r for r in rows if r not in hard]
        whole, read = slot_scores(rows), slot_scores(easy) if easy else None
        rest = f"{slot_scores(hard)['overall']:.1f} ({len(hard)})" if hard else "- (0)"
        mid = " / ".join(f"{read[s]:.1f}" for s in SLOTS) + f" | {read['overall']:.1f} ({len(easy)})" if read else "- | -"
        lines.append(f"| {path.name} | {whole['overall']:.1f} | {mid} | {rest} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default=None, choices=sorted(emb.TEXT_ENCODERS),
                    help="the text encoder to ask (default: the shipped T2V's)")
    ap.add_argument("--split", type=Path, nargs="*", default=[],
                    help="shapes_adherence.py --json files of --no-enhance runs to score split by the reading")
    ap.add_argument("--out", type=Path, help="write the tables (markdown) here too")
    args = ap.parse_args(argv)
    for path in args.split:  # checked before the encoder loads
        try:
            slot_scores(json.loads(path.read_text(encoding="utf-8"))["rows"])
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
            ap.error(f"--split: {path} is not a shapes_adherence.py --json file ({type(exc).__name__}: {exc})")
    torch.set_num_threads(1)
    name = args.encoder or emb.folder_text_encoder(emb.WEIGHTS_DIR / emb.T2V_NAME)
    tokenizer, encoder = emb.load_text_encoder(name)
    lines = ["| held-out colour phrase | means | encoder reads | votes (3 shapes x 2 sentences) |", "|---|---|---|---|"]
    bad = set()
    for phrase, colour in COLOUR_PHRASES.items():
        votes = encoder_reading(phrase, tokenizer, encoder)
        if misread(phrase, votes):
            bad.add(phrase)
        lines.append(f"| {phrase} | {colour} | {reading(votes)}{' (miss)' if phrase in bad else ''} | "
                     + ", ".join(f"{c} {n}" for c, n in votes.most_common()) + " |")
    table = "\n".join(lines)
    if args.split:
        table += ("\n\nAs-written scores split by that reading (a caption is misread when it holds a "
                  f"phrase marked miss: {', '.join(sorted(bad)) or 'none'}):\n\n" + split_table(args.split, bad))
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"Zero-shot colour reading of the {name} text encoder on the held-out colour phrases\n\n"
                            f"{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
