"""Server settings, declared once: name, environment variable, default, help.

`Settings.from_env()` reads SHOTSMITH_* variables; the `serve` command overrides
some of them from its options. docs/api.md documents every entry of SETTINGS (a
test checks that).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from shotsmith.spec import MAX_IMAGE_PIXELS


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("shotsmith"))


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"'{text}' is not a boolean (use 1/0, true/false)")


def _keys(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def _aliases(text: str) -> dict[str, str]:
    """'sora-2=cogvideox-shapes,cogvideox-3=cogvideox-shapes' -> {'sora-2': 'cogvideox-shapes', ...}"""
    out = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"'{pair}' is not NAME=MODEL")
        out[name.strip().lower()] = target.strip().lower()
    return out


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    help: str
    parse: object = str


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "SHOTSMITH_HOME", "Data folder: jobs.sqlite3 and jobs/<id>/ (default: the per-user data dir)",
            Path),
    Setting("api_keys", "SHOTSMITH_API_KEYS", "Comma-separated API keys; unset = auth off, loopback only", _keys),
    Setting("admin_keys", "SHOTSMITH_ADMIN_KEYS",
            "Comma-separated API keys (each also in SHOTSMITH_API_KEYS) that may read every key's job counts in "
            "/metrics", _keys),
    Setting("link_secret_file", "SHOTSMITH_LINK_SECRET_FILE",
            "Secret that signs studio media links (default HOME/studio.key, made with mode 0600 on first start; "
            "delete it and restart to rotate)", Path),
    Setting("public_url", "SHOTSMITH_PUBLIC_URL",
            "Base URL put in download links (Zhipu video_result); default: the URL the request came to"),
    Setting("max_body_bytes", "SHOTSMITH_MAX_BODY_BYTES", "Largest request body accepted (413 above)", int),
    Setting("max_image_bytes", "SHOTSMITH_MAX_IMAGE_BYTES", "Largest input image file accepted (413 above)", int),
    Setting("max_image_pixels", "SHOTSMITH_MAX_IMAGE_PIXELS", "Largest input image in pixels (W*H)", int),
    Setting("fetch_image_urls", "SHOTSMITH_FETCH_IMAGE_URLS", "Download http(s) image_url inputs (1/0)", _bool),
    Setting("allow_private_image_urls", "SHOTSMITH_ALLOW_PRIVATE_IMAGE_URLS",
            "Allow image_url hosts on loopback/private networks (off: protects internal services)", _bool),
    Setting("image_fetch_timeout_s", "SHOTSMITH_IMAGE_FETCH_TIMEOUT_S",
            "Timeout of each network step of an image_url download (connect, each read)", float),
    Setting("image_fetch_deadline_s", "SHOTSMITH_IMAGE_FETCH_DEADLINE_S",
            "Total time one image_url download may take, from DNS to the last byte (400 after)", float),
    Setting("max_image_fetches_per_key", "SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY",
            "image_url downloads one key may run at once (429 above)", int),
    Setting("poll_after_ms", "SHOTSMITH_POLL_AFTER_MS", "openai-poll-after-ms sent with unfinished videos", int),
    Setting("max_active_jobs_per_key", "SHOTSMITH_MAX_ACTIVE_JOBS_PER_KEY",
            "Queued + running jobs one key may have (429 above)", int),
    Setting("max_attempts", "SHOTSMITH_MAX_ATTEMPTS",
            "Times a job interrupted by a crash is started before it is failed", int),
    Setting("worker", "SHOTSMITH_WORKER", "Run the local worker thread in the server process (1/0)", _bool),
    Setting("preload", "SHOTSMITH_PRELOAD", "Model loaded when the worker starts ('' = none)"),
    Setting("queue_url", "SHOTSMITH_QUEUE",
            "Redis URL of the job queue (redis://HOST:6379/0): jobs go to `shotsmith worker` processes "
            "instead of the local worker"),
    Setting("db_url", "SHOTSMITH_DB",
            "Job records database: postgresql://USER:PASS@HOST/DB, or an SQLite path (default HOME/jobs.sqlite3)"),
    Setting("lease_s", "SHOTSMITH_LEASE_S",
            "Seconds without a heartbeat after which a queue worker's job is given to another worker", float),
    Setting("model_aliases", "SHOTSMITH_MODEL_ALIASES",
            "Extra model names, e.g. 'sora-2=cogvideox-shapes,cogvideox-3=cogvideox-shapes'", _aliases),
)


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=default_home)
    api_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    link_secret_file: Path | None = None
    public_url: str | None = None
    max_body_bytes: int = 24 * 1024 * 1024
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = MAX_IMAGE_PIXELS
    fetch_image_urls: bool = True
    allow_private_image_urls: bool = False
    image_fetch_timeout_s: float = 20.0
    image_fetch_deadline_s: float = 30.0
    max_image_fetches_per_key: int = 4
    poll_after_ms: int = 1000
    max_active_jobs_per_key: int = 50
    max_attempts: int = 3
    worker: bool = True
    preload: str = "cogvideox-shapes"
    model_aliases: dict = field(default_factory=dict)
    queue_url: str | None = None
    db_url: str | None = None
    lease_s: float = 60.0

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is None or (raw == "" and setting.name in ("home", "public_url", "queue_url", "db_url",
                                                                          "link_secret_file")):
                continue
            try:
                values[setting.name] = setting.parse(raw)
            except ValueError as exc:
                raise ValueError(f"{setting.env}: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> "Settings":
        for name in ("max_body_bytes", "max_image_bytes", "max_image_pixels", "max_active_jobs_per_key",
                     "max_attempts", "max_image_fetches_per_key"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.max_image_pixels > MAX_IMAGE_PIXELS:
            raise ValueError(f"max_image_pixels may not exceed {MAX_IMAGE_PIXELS} (got {self.max_image_pixels})")
        if not 0 < self.image_fetch_deadline_s <= 600:
            raise ValueError(f"image_fetch_deadline_s must be more than 0 and at most 600 (got "
                             f"{self.image_fetch_deadline_s})")
        if set(self.admin_keys) - set(self.api_keys):
            raise ValueError("SHOTSMITH_ADMIN_KEYS: every admin key must also be in SHOTSMITH_API_KEYS")
        if self.lease_s < 2:
            raise ValueError(f"lease_s must be at least 2 seconds (got {self.lease_s})")
        if self.queue_url:
            from shotsmith.jobs.queue import check_queue_url

            check_queue_url(self.queue_url)
        if self.db_url:
            from shotsmith.jobs.store import database_url

            database_url(self.db_url)
        if self.poll_after_ms < 0:
            raise ValueError(f"poll_after_ms must be 0 or more (got {self.poll_after_ms})")
        home = Path(self.home).expanduser()
        secret = Path(self.link_secret_file).expanduser() if self.link_secret_file else home / "studio.key"
        return replace(self, home=home, public_url=(self.public_url or "").rstrip("/") or None,
                       link_secret_file=secret)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
