"""Clip timing, kept for old commands: the overhead and product sections of benchmarks/run.py.

    python benchmarks/bench_clip.py [--repeats 3]   # == python benchmarks/run.py --sections overhead,product
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import machine, main  # noqa: E402,F401 - machine() is used by bench_queue.py

if __name__ == "__main__":
    sys.exit(main(["--sections", "overhead,product", *sys.argv[1:]]))
