"""Token counting for the text encoder's limit (226 tokens for CogVideoX).

With a tokenizer (a transformers tokenizer, a `tokenizers.Tokenizer`, or anything with
`encode`) the count is exact, special tokens included. Without one the count is a
deliberately high word-piece estimate, so a prompt that passes the estimate also fits
T5 (CogVideoX) and BERT-style (the embedded model) tokenizers.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"[A-Za-z]+|[0-9]+|\S")


def estimate_tokens(text: str) -> int:
    """Conservative word-piece count: long and rare words split, every symbol counts."""
    n = 2  # start/end special tokens
    for m in _PIECE.finditer(text):
        piece = m.group()
        if piece.isascii() and piece.isalpha():
            n += 1 + max(0, len(piece) - 3) // 4  # "the" 1, "lighting" 2, "atmosphere" 2, "cinematically" 3
        elif piece.isdigit():
            n += len(piece)
        else:
            n += 1  # punctuation, and each non-ASCII character on its own
    return n


def count_tokens(text: str, tokenizer=None) -> int:
    if tokenizer is None:
        return estimate_tokens(text)
    if hasattr(tokenizer, "encode"):
        ids = tokenizer.encode(text)
        ids = getattr(ids, "ids", ids)  # tokenizers.Tokenizer returns an Encoding
        return len(ids)
    return len(tokenizer(text)["input_ids"])
