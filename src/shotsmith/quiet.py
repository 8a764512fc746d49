"""Keeping library chatter out of our output: progress bars and warnings from
diffusers/transformers would break up our own progress bars and one-line errors."""

from __future__ import annotations

import logging
import os


def quiet_libraries(now: bool = True) -> None:
    """Errors only, no progress bars. now=False: only set the libraries' own variables, which they
    read when they are imported, so a server answers /healthz before diffusers is loaded."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if not now:
        return
    try:
        import diffusers
        import transformers
    except ImportError:  # pragma: no cover
        return
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def server_logging(level: str) -> None:
    """Log lines with time and source, for the long-running `serve` and `worker` processes."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
