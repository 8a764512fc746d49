"""Signed media links: how a <video>, <img> or download link reaches a job's files.

A browser cannot put `Authorization: Bearer ...` on the request that a `<video src>`
or `<a download>` makes, so the studio's job views carry links signed for one
owner and one job, valid for a limited time:

    /studio/media/{job_id}/{name}?o=<owner>&e=<expiry>&s=<hmac>

The HMAC key is random, kept in `<home>/studio.key` (mode 0600) so links survive a
server restart; the owner is the stored SHA-256 of an API key (never the key), and
a link stops working as soon as its key is removed from SHOTSMITH_API_KEYS.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import quote

LINK_TTL_S = 12 * 3600
KEY_FILE = "studio.key"
_SIG_HEX = 32  # 128 bits of HMAC-SHA256


class LinkSigner:
    """Signs and checks media links with one secret, read (or made) on first use."""

    def __init__(self, home: Path, ttl_s: int = LINK_TTL_S, clock=time.time):
        self.home = Path(home)
        self.ttl_s = ttl_s
        self.clock = clock
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = _load_or_create_secret(self.home / KEY_FILE)
            return self._secret

    def expiry(self) -> int:
        return int(self.clock()) + self.ttl_s

    def signature(self, owner: str, job_id: str, expires: int) -> str:
        message = f"{owner}\n{job_id}\n{expires}".encode()
        return hmac.new(self.secret(), message, hashlib.sha256).hexdigest()[:_SIG_HEX]

    def url(self, owner: str, job_id: str, name: str, expires: int) -> str:
        sig = self.signature(owner, job_id, expires)
        return f"/studio/media/{job_id}/{quote(name)}?o={owner}&e={expires}&s={sig}"

    def valid(self, owner: str, job_id: str, expires: int, sig: str) -> bool:
        if expires < self.clock():
            return False
        # bytes, not str: compare_digest refuses non-ASCII str, and a bad link must be a 404, not a 500
        return hmac.compare_digest(self.signature(owner, job_id, expires).encode(), sig.encode("utf-8", "replace"))


def _load_or_create_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        corrupt = True
    except FileNotFoundError:
        corrupt = False
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        if corrupt:
            tmp.replace(path)
        else:  # another process may win the race: then everyone keeps the secret on disk
            os.link(tmp, path)
    except FileExistsError:
        data = path.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return data
