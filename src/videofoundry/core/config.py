"""All settings, read from the environment and an optional `.env` file.

Every backend is picked by a URL: leave it unset for the embedded default (SQLite, in-process
queue and status bus, files under `DATA_DIR`), set it for the distributed deployment.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from limits import parse_many
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
SECRET_KEY_FILE = "secret_key"
# Keys published in this repository's history, its templates and common tutorials: anyone can
# sign tokens with them, so no environment accepts them.
KNOWN_DEFAULT_KEYS = frozenset(
    {
        "dev-insecure-secret-change-me",
        "changethis",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secret_key",
        "your_secret_key_here",
        "your-secret-key",
        "supersecret",
    }
)
# Requests per window, counted per account or per client address (see api/rate_limits.py).
DEFAULT_RATE_LIMITS = {
    "login_account": "10/minute;100/day",  # failed sign-ins against one email
    "login_address": "30/minute",  # sign-in attempts from one address
    "register_address": "20/hour",
    "token_account": "20/hour",  # API tokens created
    "render_account": "30/minute",  # renders started (dry runs are free)
    "render_address": "60/minute",
}
_KEY_HINT = "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    ENVIRONMENT: Literal["development", "test", "production"] = "development"
    """`development` generates a SECRET_KEY in DATA_DIR when none is set; anything else refuses
    to start without a real one."""

    SECRET_KEY: str = ""
    """Signs access tokens and media links. Required outside development, at least 32 bytes;
    empty in development means a random key kept in DATA_DIR/secret_key (see `signing_key`)."""

    DATA_DIR: Path = Path("var")
    """Embedded run: where the SQLite file and local media live."""

    DATABASE_URL: str = ""
    """`postgresql://...` or `sqlite:///...`; empty means SQLite under DATA_DIR."""

    RABBITMQ_URL: str = ""
    """`amqp://...`; empty means an in-process queue (embedded run only)."""

    QUEUE_PREFIX: str = ""
    """Prefix of every queue and exchange name, to share one broker between deployments."""

    REDIS_URL: str = ""
    """`redis://...`; empty means an in-process status store and event bus."""

    S3_BUCKET: str = ""
    """Bucket for every video asset; empty means files under DATA_DIR/media."""
    S3_ENDPOINT_URL: str = ""
    """For S3-compatible stores (MinIO, R2, moto). Empty means AWS."""
    AWS_ACCESS_KEY_ID: str = ""
    AWS_SECRET_ACCESS_KEY: str = ""
    AWS_REGION: str = "us-east-1"

    RUNWAY_API_KEY: str = ""
    RUNWAY_BASE_URL: str = "https://api.dev.runwayml.com"
    RUNWAY_FIRST_FRAME: Literal["", "stability"] = ""
    """How a text-only segment on an image-only Runway model gets its first frame: `stability`
    (Stable Image Core, needs STABILITY_API_KEY) or nothing (the segment is refused)."""
    LUMA_API_KEY: str = Field(
        default="", validation_alias=AliasChoices("LUMA_API_KEY", "LUMAAI_API_KEY")
    )
    """Also read from LUMAAI_API_KEY, the name Luma's own SDK uses."""
    LUMA_BASE_URL: str = "https://api.lumalabs.ai"
    REPLICATE_API_TOKEN: str = ""
    REPLICATE_BASE_URL: str = "https://api.replicate.com"
    STABILITY_API_KEY: str = ""
    STABILITY_BASE_URL: str = "https://api.stability.ai"
    STABILITY_ENABLE_DEPRECATED: bool = False
    """The Stable Video endpoint was shut down on 2025-07-24; only for compatible proxies."""
    DIFFUSERS_MODEL_DIR: str = ""
    """Directory of local diffusers-format video models (one sub-directory each)."""
    DIFFUSERS_CPU_OFFLOAD: bool = False
    """On a GPU, keep only the running sub-model on it (slower, far less GPU memory)."""
    DIFFUSERS_DECODE_CHUNK_SIZE: int = Field(default=8, ge=1, le=64)
    """Frames a local model's VAE decodes at once where it takes `decode_chunk_size`."""

    PROVIDER_CONCURRENCY: dict[str, int] = {}
    """Tasks in flight per provider and worker process, e.g. {"runway": 4}; the default is 1,
    the lowest tier's limit, so large renders queue politely instead of failing with 429s."""

    EXTRA_ADAPTERS: str = ""
    """Comma-separated `module:Class` adapters to load besides the installed entry points."""

    REGISTRATION: Literal["open", "closed", "invite"] = "open"
    """Who may create an account with POST /api/auth/register: anyone, nobody (operators use
    `videofoundry users create`), or whoever holds an invitation from `videofoundry users
    invite EMAIL`."""
    DEFAULT_BUDGET_USD: Decimal | None = Field(default=Decimal(0), ge=0, max_digits=12)
    """Spending cap of a new account for paid models; `none` for no cap. Only an operator
    raises it (`videofoundry users budget`); a user may only lower their own."""

    MAX_REQUEST_BYTES: int = Field(default=1 << 20, ge=1024)
    """Largest request body outside uploads (which have their own caps); a larger one is
    refused with 413 while it is read, before it is parsed or the caller authenticated."""
    RATE_LIMITS_ENABLED: bool = True
    RATE_LIMITS: dict[str, str] = {}
    """Overrides of DEFAULT_RATE_LIMITS by name, in `limits` notation ("10/minute",
    "5/minute;50/hour"); an empty string turns one off. Kept in Redis when REDIS_URL is set,
    so every API process counts together."""

    ACCESS_TOKEN_MINUTES: int = Field(default=60 * 24, ge=1)
    """Lifetime of tokens issued by /api/auth/token."""

    MAX_SEGMENTS_PER_PROJECT: int = Field(default=200, ge=1)
    SEGMENT_MAX_ATTEMPTS: int = Field(default=3, ge=1)
    """Attempts per segment on retryable errors before the segment fails."""
    RETRY_BASE_SECONDS: float = Field(default=2.0, ge=0)
    """First retry delay; doubles per attempt, with jitter."""
    QUEUE_DELIVERY_LIMIT: int = Field(default=5, ge=1)
    """Deliveries of one message before RabbitMQ dead-letters it."""
    HEARTBEAT_SECONDS: float = Field(default=10.0, gt=0)
    """How often a worker refreshes the lease of the segment it works on."""
    LEASE_SECONDS: float = Field(default=60.0, gt=0)
    """A segment whose lease is older than this is handed to another worker."""
    AI_WORKER_CONCURRENCY: int = Field(default=4, ge=1)
    """Segments one AI worker process takes at once. Four keep both cores busy with the local
    model and overlap each segment's uploads and database round trips with the others' work
    (with two the worker mostly waits on them; docs/benchmarks.md); raise it with
    PROVIDER_CONCURRENCY for hosted models; 1 for a GPU diffusers worker."""
    STATUS_TTL_SECONDS: int = Field(default=24 * 3600, ge=60)

    RENDERS_IN_FLIGHT_PER_USER: int = Field(default=4, ge=1)
    """Render jobs (variations included) one user may have queued, generating or composing at
    once; one more is refused with 429 and Retry-After (docs/operations.md, Quotas)."""
    RENDER_MAX_MEGAPIXEL_FRAMES: float = Field(default=40_000, gt=0)
    """The most work one render may ask for: over the segments it generates, frames (duration x
    fps) times megapixels (width x height / 10^6). 40,000 is ten minutes of 1080p at 30 fps; a
    larger render is refused with 422 saying what to reduce. Reused clips count nothing."""
    SEGMENTS_IN_FLIGHT_PER_USER: int = Field(default=4, ge=1)
    """Segment tasks of one user queued or generating at once, over all their renders; the rest
    wait and are released, oldest render first, as that user's segments finish, so one large
    render cannot hold back another user's small one. About the AI worker slots of the whole
    deployment (AI_WORKER_CONCURRENCY x workers): fewer leave slots idle while one user renders
    alone, more let one user's tasks queue ahead of everyone else's."""

    METRICS_PORT: int = Field(default=0, ge=0, le=65535)
    """Worker processes: serve Prometheus metrics on this port (0: off; the API uses /metrics)."""

    WEBHOOK_ALLOWED_HOSTS: str = ""
    """Comma-separated `host` or `host:port` that webhooks may reach even when they resolve to a
    loopback or private address (a receiver on the same network); nothing else private is."""
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    """Connect-and-answer limit of one delivery attempt."""
    WEBHOOK_RETRY_BASE_SECONDS: float = Field(default=5.0, gt=0)
    """Delay before the first retry; multiplied by 4 per attempt up to the maximum below."""
    WEBHOOK_RETRY_MAX_DELAY_SECONDS: float = Field(default=6 * 3600.0, gt=0)
    WEBHOOK_RETRY_WINDOW_SECONDS: float = Field(default=28 * 3600.0, gt=0)
    """Retries stop once this long has passed since the event (the default: over a day)."""
    WEBHOOK_DELIVERY: bool = True
    """Whether this API process dispatches and delivers webhooks (any number may; they share)."""

    API_WORKERS: int = Field(default=1, ge=1)
    """Processes `videofoundry api` runs on its port (distributed run; `--workers` overrides)."""

    CORS_ORIGINS: list[str] = []
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = False

    @field_validator("DEFAULT_BUDGET_USD", mode="before")
    @classmethod
    def _no_cap(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in {"none", "null", "unlimited"}:
                return None
            if not value.strip():
                return Decimal(0)  # an empty variable must not lift every new account's cap
        return value

    @field_validator("RATE_LIMITS")
    @classmethod
    def _known_limits(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(DEFAULT_RATE_LIMITS)
        if unknown:
            raise ValueError(
                f"unknown rate limits {sorted(unknown)}; known: {sorted(DEFAULT_RATE_LIMITS)}"
            )
        for name, text in value.items():
            if text:
                try:
                    parse_many(text)
                except ValueError as exc:
                    raise ValueError(f"rate limit {name}={text!r}: {exc}") from exc
        return value

    def rate_limits(self) -> dict[str, str]:
        """Every named limit in force (empty when switched off)."""
        if not self.RATE_LIMITS_ENABLED:
            return {}
        merged = {**DEFAULT_RATE_LIMITS, **self.RATE_LIMITS}
        return {name: text for name, text in merged.items() if text}

    @model_validator(mode="after")
    def _check(self) -> Settings:
        key = self.SECRET_KEY
        if key.strip().lower() in KNOWN_DEFAULT_KEYS:
            raise ValueError(
                "SECRET_KEY is a published placeholder that anyone could sign tokens with; "
                + _KEY_HINT
            )
        if self.ENVIRONMENT != "development":
            if not key:
                raise ValueError(
                    f"SECRET_KEY must be set when ENVIRONMENT={self.ENVIRONMENT}; " + _KEY_HINT
                )
            if len(key.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"SECRET_KEY is too short ({len(key.encode())} bytes, at least "
                    f"{MIN_SECRET_BYTES} needed when ENVIRONMENT={self.ENVIRONMENT}); " + _KEY_HINT
                )
        return self

    @property
    def database_url(self) -> str:
        """The URL with an async driver, defaulting to SQLite under DATA_DIR."""
        url = self.DATABASE_URL or f"sqlite:///{(self.DATA_DIR / 'videofoundry.db').resolve()}"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def media_dir(self) -> Path:
        return self.DATA_DIR / "media"

    @property
    def embedded(self) -> bool:
        """True when the queue and status bus live inside one process."""
        return not self.RABBITMQ_URL


@lru_cache
def get_settings() -> Settings:
    return Settings()


def signing_key(settings: Settings) -> str:
    """The key that signs tokens and media links: SECRET_KEY, or (development only, where it
    may be empty) a random key generated on first start and kept in the data directory."""
    if settings.SECRET_KEY:
        return _hmac_sized(settings.SECRET_KEY)
    return _data_dir_key(settings.DATA_DIR.resolve())


@lru_cache
def _hmac_sized(key: str) -> str:
    """A key shorter than HS256's 32 bytes (development accepts one) goes through SHA-256, so
    PyJWT does not warn about its length on every login; we say it once, at first use."""
    if len(key.encode()) >= MIN_SECRET_BYTES:
        return key
    logging.getLogger(__name__).warning(
        "SECRET_KEY is %d bytes: fine for local development only (test and production refuse "
        "fewer than %d); leave it empty to have one generated",
        len(key.encode()),
        MIN_SECRET_BYTES,
    )
    return hashlib.sha256(key.encode()).hexdigest()


@lru_cache
def _data_dir_key(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: a concurrent
        # first start either wins the link or reads the winner's complete key.
        staging = data_dir / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(MIN_SECRET_BYTES) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(staging, path)
        finally:
            staging.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a copy restored with looser permissions
    key = path.read_text().strip()
    if len(key.encode()) < MIN_SECRET_BYTES or key.lower() in KNOWN_DEFAULT_KEYS:
        raise ValueError(
            f"{path} does not hold a usable key; delete it to have a new one generated "
            "(everyone is signed out) or set SECRET_KEY"
        )
    return key


def protect_data_dir(settings: Settings) -> None:
    """The embedded run's files readable by this user only: the SQLite database, the login
    and key files 0600, the media tree 0700/0600, and a umask so files made later (media, the
    database's journal) are private too. Only the product's own files are touched, whatever
    DATA_DIR points at."""
    data = settings.DATA_DIR
    if not data.is_dir():
        return
    os.umask(0o077)
    own = [data / name for name in ("login.txt", SECRET_KEY_FILE)]
    if not settings.DATABASE_URL:
        own += [data / f"videofoundry.db{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    if not settings.S3_BUCKET and settings.media_dir.is_dir():
        own += [settings.media_dir, *settings.media_dir.rglob("*")]
    for path in own:
        if path.is_symlink() or not path.exists():
            continue
        wanted = 0o700 if path.is_dir() else 0o600
        if path.stat().st_mode & 0o777 != wanted:
            path.chmod(wanted)
