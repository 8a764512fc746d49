"""Signed media links: how a <video>, <img> or download link reaches a job's files.

A browser cannot put `Authorization: Bearer ...` on the request that a `<video src>`
or `<a download>` makes, so the studio's job views carry links signed for one
owner and one job, valid for a limited time:

    /studio/media/{job_id}/{name}?o=<owner id>&e=<expiry>&s=<signature>

A storyboard's files (its cut, its shot list and what the list shows beside it, its
shots' images) get one link for the whole board folder, signed in the path, so that
the shot list's own relative links (`takes/...mp4`) resolve under the same signature:

    /studio/board-files/<owner id>/<expiry>/<signature>/{board_id}/{name}

- `s` is an HMAC-SHA256 (itsdangerous `Signer`, as datasette signs its tokens) of
  owner id, job and expiry under the server secret.
- `o` is an opaque owner id: an HMAC of the stored owner under the same secret (with
  its own salt). Without the secret it says nothing about the key, not even its hash,
  so a shared link, the access log or a browser history reveals no key material.
  The server maps it back by computing it for each configured key, so a link stops
  working as soon as its key is removed from SHOTSMITH_API_KEYS.
- The secret is random, made on first start in SHOTSMITH_LINK_SECRET_FILE (default
  `<home>/studio.key`, mode 0600) so links survive a restart. To rotate it, delete the
  file (or point the setting at a new path) and restart: every link issued before stops
  working, and the studio page fetches new ones when it reloads.
- The access log shows a media link without its signature (`RedactLinkSignatures`):
  whoever reads the log cannot replay the link.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import stat
import threading
import time
from pathlib import Path
from urllib.parse import quote

from itsdangerous import BadSignature, Signer

log = logging.getLogger(__name__)

LINK_TTL_S = 12 * 3600
KEY_FILE = "studio.key"
SECRET_BYTES = 32
OWNER_ID_CHARS = 22  # 132 bits of the owner HMAC, URL-safe base64
_SIGNATURE_PARAM = re.compile(r"([?&]s=)[^&\s]*")
BOARD_FILES_PREFIX = "/studio/board-files"
_BOARD_SIGNATURE = re.compile(r"(/studio/board-files/[^/\s]+/\d+/)[^/\s]+")
_LINK_SALT = "shotsmith.studio.media-link"
_OWNER_SALT = "shotsmith.studio.owner-id"


class LinkSigner:
    """Signs and checks media links with one secret, read (or made) on first use."""

    def __init__(self, home: Path, ttl_s: int = LINK_TTL_S, clock=time.time, secret_file: Path | None = None):
        self.path = Path(secret_file) if secret_file is not None else Path(home) / KEY_FILE
        self.ttl_s = ttl_s
        self.clock = clock
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = _load_or_create_secret(self.path)
            return self._secret

    def _signer(self, salt: str) -> Signer:
        return Signer(self.secret(), salt=salt, digest_method=hashlib.sha256, key_derivation="hmac")

    def expiry(self) -> int:
        return int(self.clock()) + self.ttl_s

    def owner_id(self, owner: str) -> str:
        """The opaque id a link carries for an owner: keyed by the secret, one-way."""
        return self._signer(_OWNER_SALT).get_signature(owner).decode("ascii")[:OWNER_ID_CHARS]

    def signature(self, owner_id: str, job_id: str, expires: int) -> str:
        return self._signer(_LINK_SALT).get_signature(f"{owner_id}\n{job_id}\n{expires}").decode("ascii")

    def url(self, owner: str, job_id: str, name: str, expires: int) -> str:
        owner_id = self.owner_id(owner)
        sig = self.signature(owner_id, job_id, expires)
        return f"/studio/media/{job_id}/{quote(name)}?o={owner_id}&e={expires}&s={sig}"

    def board_files_url(self, owner: str, board_id: str, expires: int) -> str:
        """The folder link of a board's files: append a file name (board and job ids never collide)."""
        owner_id = self.owner_id(owner)
        return f"{BOARD_FILES_PREFIX}/{owner_id}/{expires}/{self.signature(owner_id, board_id, expires)}/{board_id}/"

    def valid(self, owner_id: str, job_id: str, expires: int, sig: str) -> bool:
        if expires < self.clock():
            return False
        try:  # itsdangerous compares in constant time; a non-ASCII or garbled signature is just invalid
            return self._signer(_LINK_SALT).verify_signature(f"{owner_id}\n{job_id}\n{expires}", sig)
        except (BadSignature, UnicodeError, ValueError):
            return False

    def owner(self, owner_id: str, job_id: str, expires: int, sig: str, owners) -> str | None:
        """The owner a valid, unexpired link was signed for, if that owner is among `owners`
        (the configured keys' owners); None otherwise."""
        if not self.valid(owner_id, job_id, expires, sig):
            return None
        return next((o for o in owners if secrets.compare_digest(self.owner_id(o), owner_id)), None)


def _load_or_create_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if len(data) >= SECRET_BYTES:
            _keep_private(path)
            return data
        corrupt = True
    except FileNotFoundError:
        corrupt = False
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(SECRET_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        if corrupt:
            tmp.replace(path)
        else:  # another process may win the race: then everyone keeps the secret on disk
            os.link(tmp, path)
        log.info("made a new media-link secret in %s", path)
    except FileExistsError:
        data = path.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return data


def _keep_private(path: Path) -> None:
    """A secret others can read is no secret: put a loosened file back to 0600 (and say so)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); set it to 0600", path, mode)
        os.chmod(path, 0o600)


def redact(text: str) -> str:
    """A logged request line with any link signature in it replaced by `...`."""
    if "/studio/media/" in text:
        text = _SIGNATURE_PARAM.sub(r"\1...", text)
    if BOARD_FILES_PREFIX in text:
        text = _BOARD_SIGNATURE.sub(r"\1...", text)
    return text


class RedactLinkSignatures(logging.Filter):
    """For uvicorn's access log: `/studio/media/...?...&s=<signature>` is logged as `s=...`, and a
    board link's signature (in its path) as `...`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) for a in args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install RedactLinkSignatures on the access log, once per process."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactLinkSignatures) for f in logger.filters):
        logger.addFilter(RedactLinkSignatures())
