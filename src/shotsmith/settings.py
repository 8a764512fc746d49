"""Every setting, declared once: name, environment variable, default, rule, help.

This is the only module that reads the environment (as vLLM's envs.py does): the
server, the CLI, the registry (where models live), the LoRA folder, the engine's
thread count and the LLM backend all read `current()`, the one `Settings` of the
process. `Settings.from_env()` reads the variables; `serve` overrides some of them
from its options and installs the result with `configure()`, so `serve --home DIR`
moves jobs, models and LoRAs together. docs/api.md documents every variable (a test
checks that).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAX_IMAGE_PIXELS = 4096 * 4096  # the largest input image any surface accepts
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
LLM_ENV_PREFIX = "SHOTSMITH_LLM_"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("shotsmith"))


def _env(name: str, help: str, **kwargs) -> Any:
    """A field read from the environment variable `name`."""
    return Field(description=help, json_schema_extra={"env": name}, **kwargs)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = _env("SHOTSMITH_HOME", "Data folder: jobs.sqlite3, jobs/<id>/, models/ and loras/ "
                      "(default: the per-user data dir)", default_factory=default_home)
    models_dir: Path | None = _env("SHOTSMITH_MODELS", "Local diffusers folders of real checkpoints, one per "
                                   "model name (default HOME/models)", default=None)
    loras_dir: Path | None = _env("SHOTSMITH_LORAS", "LoRA folders, one per name (default HOME/loras)",
                                  default=None)
    text_encoders_dir: Path | None = _env("SHOTSMITH_TEXT_ENCODERS", "Where text encoders that ship as split "
                                          "archives (all-mpnet-base-v2) are joined on first use (default: the "
                                          "per-user cache dir)", default=None)
    api_keys: tuple[str, ...] = _env("SHOTSMITH_API_KEYS", "Comma-separated API keys; unset = auth off, "
                                     "loopback only", default=())
    admin_keys: tuple[str, ...] = _env("SHOTSMITH_ADMIN_KEYS", "Comma-separated API keys (each also in "
                                       "SHOTSMITH_API_KEYS) that may read every key's job counts in /metrics",
                                       default=())
    link_secret_file: Path | None = _env("SHOTSMITH_LINK_SECRET_FILE", "Secret that signs studio media links "
                                         "(default HOME/studio.key, made with mode 0600 on first start; delete "
                                         "it and restart to rotate)", default=None)
    public_url: str | None = _env("SHOTSMITH_PUBLIC_URL", "Base URL put in download links (Zhipu "
                                  "video_result); unset: links relative to the server root", default=None)
    max_body_bytes: int = _env("SHOTSMITH_MAX_BODY_BYTES", "Largest request body accepted (413 above)",
                               default=24 * 1024 * 1024, ge=1)
    max_image_bytes: int = _env("SHOTSMITH_MAX_IMAGE_BYTES", "Largest input image file accepted (413 above)",
                                default=10 * 1024 * 1024, ge=1)
    max_video_bytes: int = _env("SHOTSMITH_MAX_VIDEO_BYTES", "Largest source clip file (an edit's or an "
                                "extension's) accepted (413 above; a data URL's body must fit "
                                "SHOTSMITH_MAX_BODY_BYTES too)", default=16 * 1024 * 1024, ge=1)
    max_image_pixels: int = _env("SHOTSMITH_MAX_IMAGE_PIXELS", "Largest input image in pixels (W*H)",
                                 default=MAX_IMAGE_PIXELS, ge=1, le=MAX_IMAGE_PIXELS)
    fetch_image_urls: bool = _env("SHOTSMITH_FETCH_IMAGE_URLS", "Download http(s) image_url inputs (1/0)",
                                  default=True)
    allow_private_image_urls: bool = _env("SHOTSMITH_ALLOW_PRIVATE_IMAGE_URLS", "Allow image_url hosts on "
                                          "loopback/private networks (off: protects internal services)",
                                          default=False)
    image_fetch_timeout_s: float = _env("SHOTSMITH_IMAGE_FETCH_TIMEOUT_S", "Timeout of each network step of an "
                                        "image_url download (connect, each read)", default=20.0, gt=0)
    image_fetch_deadline_s: float = _env("SHOTSMITH_IMAGE_FETCH_DEADLINE_S", "Total time one image_url download "
                                         "may take, from DNS to the last byte (400 after)", default=30.0, gt=0,
                                         le=600)
    max_image_fetches_per_key: int = _env("SHOTSMITH_MAX_IMAGE_FETCHES_PER_KEY", "image_url downloads one key "
                                          "may run at once (429 above)", default=4, ge=1)
    poll_after_ms: int = _env("SHOTSMITH_POLL_AFTER_MS", "openai-poll-after-ms sent with unfinished videos",
                              default=1000, ge=0)
    max_active_jobs_per_key: int = _env("SHOTSMITH_MAX_ACTIVE_JOBS_PER_KEY", "Queued + running jobs one key "
                                        "may have (429 above)", default=50, ge=1)
    max_request_cost: float = _env("SHOTSMITH_MAX_REQUEST_COST", "Largest job one request may ask for, in "
                                   "giga pixel-steps: output width x height x native frames x steps x "
                                   "candidates / 1e9 (400 above; 0 = no limit)", default=40.0, ge=0)
    max_attempts: int = _env("SHOTSMITH_MAX_ATTEMPTS", "Times a job interrupted by a crash is started before "
                             "it is failed", default=3, ge=1)
    worker: bool = _env("SHOTSMITH_WORKER", "Run the local worker thread in the server process (1/0)",
                        default=True)
    preload: str = _env("SHOTSMITH_PRELOAD", "Model loaded when the worker starts ('' = none)",
                        default="cogvideox-shapes")
    queue_url: str | None = _env("SHOTSMITH_QUEUE", "Redis URL of the job queue (redis://HOST:6379/0): jobs go "
                                 "to `shotsmith worker` processes instead of the local worker", default=None)
    db_url: str | None = _env("SHOTSMITH_DB", "Job records database: postgresql://USER:PASS@HOST/DB, or an "
                              "SQLite path (default HOME/jobs.sqlite3)", default=None)
    lease_s: float = _env("SHOTSMITH_LEASE_S", "Seconds without a heartbeat after which a job is given to another worker "
                          "(a queue worker, or another server on the same database)", default=60.0, ge=2)
    model_aliases: dict[str, str] = _env("SHOTSMITH_MODEL_ALIASES", "Extra model names, e.g. "
                                         "'sora-2=cogvideox-shapes,cogvideox-3=cogvideox-shapes'",
                                         default_factory=dict)
    allow_downloads: bool = _env("SHOTSMITH_ALLOW_DOWNLOADS", "Let a request start a model download from the "
                                 "hub (serve --allow-downloads); off: only models already on disk are used",
                                 default=False)
    hf_offline: bool = _env(HF_OFFLINE_ENV, "Hugging Face offline mode: never contact the hub", default=False)
    threads: int | None = _env("SHOTSMITH_THREADS", "torch CPU threads for every render in this process "
                               "(unset: per model)", default=None, ge=1, le=256)
    server: str | None = _env("SHOTSMITH_SERVER", "URL of a running `shotsmith serve` that `generate` and "
                              "`enhance` send their work to (default: the server found in HOME/server.json, if "
                              "one runs; `--local` runs in-process)", default=None)
    api_key: str | None = _env("SHOTSMITH_API_KEY", "The key the CLI sends to that server (default: the first "
                               "of SHOTSMITH_API_KEYS)", default=None)
    server_timeout_s: float = _env("SHOTSMITH_SERVER_TIMEOUT_S", "Seconds the CLI waits for that server to "
                                   "answer /healthz or accept a job before it runs in-process", default=2.0,
                                   gt=0, le=60)
    llm: dict[str, str] = Field(default_factory=dict, description="SHOTSMITH_LLM_* variables (prompt agent's "
                                "LLM backend: BASE_URL, API_KEY, MODEL, TIMEOUT, TEMPERATURE, MAX_TOKENS), "
                                "validated by prompt.llm.LLMConfig")

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _keys(cls, value):
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("admin_keys")
    @classmethod
    def _admins_are_keys(cls, value: tuple[str, ...], info) -> tuple[str, ...]:
        if set(value) - set(info.data.get("api_keys", ())):
            raise ValueError("every admin key must also be in SHOTSMITH_API_KEYS")
        return value

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _aliases(cls, value):
        """'sora-2=cogvideox-shapes,cogvideox-3=cogvideox-shapes' -> {'sora-2': 'cogvideox-shapes', ...}"""
        if not isinstance(value, str):
            return value
        out = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            name, sep, target = pair.partition("=")
            if not sep or not name.strip() or not target.strip():
                raise ValueError(f"'{pair}' is not NAME=MODEL")
            out[name.strip().lower()] = target.strip().lower()
        return out

    @field_validator("home", "models_dir", "loras_dir", "text_encoders_dir", "link_secret_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).expanduser()

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return (value or "").rstrip("/") or None

    @field_validator("server")
    @classmethod
    def _server_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"'{value[:80]}' is not an http(s) URL like http://127.0.0.1:8000")
        return value or None

    @field_validator("queue_url")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        if value:
            from shotsmith.jobs.queue import check_queue_url

            check_queue_url(value)
        return value or None

    @field_validator("db_url")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value:
            from shotsmith.jobs.store import database_url

            database_url(value)
        return value or None

    @model_validator(mode="after")
    def _folders(self) -> "Settings":
        # Derived once: every part reads the same folders from the same home.
        if self.models_dir is None:
            object.__setattr__(self, "models_dir", self.home / "models")
        if self.loras_dir is None:
            object.__setattr__(self, "loras_dir", self.home / "loras")
        if self.link_secret_file is None:
            object.__setattr__(self, "link_secret_file", self.home / "studio.key")
        return self


    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Settings":
        """Settings from the environment, with `overrides` (e.g. `serve` options) on top; None = not given.

        A bad value raises ValueError naming its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            env = (info.json_schema_extra or {}).get("env")
            raw = environ.get(env) if env else None
            if raw is not None and raw.strip() != "":
                values[name] = raw
            elif raw is not None and name in ("api_keys", "admin_keys", "preload"):
                values[name] = raw  # '' means "none" here, not "unset"
        values["llm"] = {k[len(LLM_ENV_PREFIX):].lower(): v for k, v in environ.items()
                         if k.startswith(LLM_ENV_PREFIX) and v != ""}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(_validation_text(exc)) from None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def client_key(self) -> str | None:
        """The key the CLI sends to a server: SHOTSMITH_API_KEY, else the first of SHOTSMITH_API_KEYS."""
        return self.api_key or (self.api_keys[0] if self.api_keys else None)

    @property
    def server_file(self) -> Path:
        """Where a running `serve` for this home says where it listens (the CLI's warm path)."""
        return self.home / "server.json"


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        info = Settings.model_fields.get(name)
        env = (info.json_schema_extra or {}).get("env") if info else None
        parts.append(f"{env or name}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def variables() -> dict[str, str]:
    """Environment variable -> help, for every setting read from one (docs and tests)."""
    return {info.json_schema_extra["env"]: info.description for info in Settings.model_fields.values()
            if info.json_schema_extra and "env" in info.json_schema_extra}


_current: Settings | None = None


def current() -> Settings:
    """The process's settings: those `configure()` installed, else the environment as it is now."""
    return _current if _current is not None else Settings.from_env()


def configure(settings: Settings | None) -> Settings | None:
    """Install `settings` for the whole process (None: read the environment again on next use).
    Returns the settings installed before, so a caller (or a test) can put them back."""
    global _current
    previous, _current = _current, settings
    return previous


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
