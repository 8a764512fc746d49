"""Checkpoint files shared by the training commands."""
from __future__ import annotations

import os
from pathlib import Path


def save_atomically(obj, path: Path) -> Path:
    """torch.save through a temporary file beside `path` and a rename into place.

    A run killed while writing (an 80 MB state takes seconds on this machine) keeps the
    previous checkpoint whole instead of a truncated file that cannot be resumed.
    """
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path
