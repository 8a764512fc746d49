"""Chinese vs English ideas on the embedded shapes model: does the model follow a Chinese
prompt as well as the same idea in English?

Each row of tests/data/shapes_zh.jsonl is a Chinese sentence written (in its own words)
from the meaning of one held-out English caption (`en_id`). Both go through the same path
a user's prompt takes: the prompt agent (rules backend; a Chinese shapes-world idea is
translated) and the embedded model at its native size, with the same seed per pair; the
eval's detector then scores the frames against the row's expected slots
(src/shotsmith/eval/shapes_eval.py).

    python benchmarks/zh_adherence.py [--rows 30] [--threads 1] [--out benchmarks/results/zh_adherence.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine may be shared)")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "zh_adherence.json")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from shotsmith.engine import Engine
    from shotsmith.eval.shapes_eval import run_shapes_eval

    zh_rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "shapes_zh.jsonl")
               .read_text(encoding="utf-8").splitlines() if line.strip()][: args.rows]
    heldout = {json.loads(line)["id"]: json.loads(line) for line in
               (ROOT / "src" / "shotsmith" / "eval" / "data" / "heldout_captions.jsonl").read_text().splitlines()
               if line.strip()}
    en_rows = [{"id": r["en_id"], "prompt": heldout[r["en_id"]]["prompt"], "expected": r["expected"]}
               for r in zh_rows]
    engine = Engine()
    out: dict = {"rows": args.rows, "seed": args.seed, "threads": args.threads}
    for name, rows in (("en", en_rows), ("zh", zh_rows)):
        t = time.perf_counter()
        result = run_shapes_eval(rows, enhance=True, seed=args.seed, engine=engine)
        out[name] = {"summary": result.summary, "seconds": round(time.perf_counter() - t, 1),
                     "rows": [{k: r[k] for k in ("id", "prompt", "model_prompt", "adherence")} for r in result.rows]}
        s = result.summary
        print(f"{name}: overall {s['overall']}%  all-correct {s['all_correct']}%  per slot {s['per_slot']}  "
              f"({out[name]['seconds']} s)", flush=True)
    out["overall_gap_zh_minus_en"] = round(out["zh"]["summary"]["overall"] - out["en"]["summary"]["overall"], 2)
    print(f"Chinese - English overall adherence: {out['overall_gap_zh_minus_en']:+.2f} points")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
