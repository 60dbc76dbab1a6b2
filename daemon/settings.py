"""One typed settings object, loaded once per process.

Precedence, highest first: CLI flags, ``ASSEMBLYD_*`` environment variables, the
TOML file, then the defaults below. The TOML file is ``$ASSEMBLYD_CONFIG`` if set,
else ``./config/assemblyd.toml``, else ``/etc/assemblyd/assemblyd.toml``.
``config/assemblyd.toml`` in the repository documents every setting.

Every tunable lives here, with the reason for its default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .states import TERMINAL

CONFIG_CANDIDATES = (Path("config/assemblyd.toml"), Path("/etc/assemblyd/assemblyd.toml"))
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: What a webhook may ask to hear about: the ends of a job.
WEBHOOK_EVENTS = tuple(sorted(TERMINAL))
#: How ``assemblyd up`` hands its workers the settings in force, whole: JSON, secrets
#: included, in this environment variable. A process that finds it takes its settings
#: from it (and its own flags) alone, so whatever ``up`` was given (flags, environment,
#: TOML) is what every worker runs with.
EFFECTIVE_ENV = "ASSEMBLYD_EFFECTIVE_SETTINGS"
#: Shortest secret accepted (job_secret, a webhook's secret): a guessed key is a farm taken.
MIN_SECRET = 16


class Webhook(BaseModel):
    """One receiver of job ends: ``{url, events, secret}``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http:// or https:// URL that receives a POST per event.")
    events: list[str] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS),
        description="Which job ends to send (terminal states); default every one.",
    )
    secret: SecretStr = Field(
        description="Key of the HMAC-SHA256 signature sent with each POST (X-Assemblyd-Signature)."
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
        return value

    @field_validator("events")
    @classmethod
    def _terminal(cls, value: list[str]) -> list[str]:
        for event in value:
            if event not in TERMINAL:
                raise ValueError(
                    f"'{event}' is not a job end; choose from {', '.join(WEBHOOK_EVENTS)}"
                )
        return value

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"a webhook secret needs at least {MIN_SECRET} characters")
        return value


def config_file() -> Path | None:
    explicit = os.environ.get("ASSEMBLYD_CONFIG")
    if explicit:
        return Path(explicit)
    return next((p for p in CONFIG_CANDIDATES if p.is_file()), None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSEMBLYD_", extra="forbid")

    # --- rendering -------------------------------------------------------------
    audio_sample_rate: int = Field(
        48000, description="Every shot's audio is resampled to this; 48 kHz is the video norm."
    )
    audio_bitrate: str = Field("192k", description="AAC bitrate; transparent for stereo.")
    ffmpeg_threads: int = Field(
        0,
        ge=0,
        description=(
            "Encoder threads per worker; 0 is automatic: ffmpeg uses every core, except "
            "under 'assemblyd up --workers N', which gives each worker max(1, cores // N) "
            "so that N renders at once do not fight over the cores."
        ),
    )
    decode_check: Literal["keyframes", "full"] = Field(
        "keyframes",
        description=(
            "How much of each shot validation decodes. 'keyframes' decodes the first "
            "frames at the in point and every keyframe of the used range: it finds "
            "truncation and most damage in a fraction of a real-time pass. 'full' "
            "decodes every frame of the used range."
        ),
    )
    duration_tolerance_frames: float = Field(
        1.0,
        gt=0,
        description=(
            "Verify accepts this many output frames of difference per shot between "
            "the planned and the probed duration."
        ),
    )

    cache_dir: Path | None = Field(
        None,
        description=(
            "Where normalized segments are kept. Unset: <root>/.assemblyd-cache for "
            "projects under a watch root (shared by every worker on the NAS), else "
            "<project>/.assemblyd-cache."
        ),
    )
    cache_max_bytes: int = Field(
        50 * 1024**3,
        gt=0,
        description=(
            "Size limit of the segment cache; least recently used segments go first. "
            "50 GB holds a few hours of 1080p at 5 Mb/s."
        ),
    )

    # --- conform ---------------------------------------------------------------
    media_dirs: list[Path] = Field(
        default_factory=lambda: [Path(".")],
        description=(
            "Where a timeline's media are looked for by name, relative to the project "
            "folder: an EDL names clips and reels, not files, and an XML or OTIO path "
            "from the editor's machine rarely exists here. Default: the whole project "
            "(exports/ and hidden folders are never searched); a large project is "
            "listed faster, and matched with fewer ambiguities, with e.g. "
            "['media']. Entries leading outside the project are refused."
        ),
    )

    # --- watching --------------------------------------------------------------
    roots: list[Path] = Field(
        default_factory=list,
        description="Watch roots. Projects are folders below a root holding a request file.",
    )
    project_depth: int = Field(
        3,
        ge=0,
        le=10,
        description=(
            "How many folders below a root a project may sit: 0 is the root itself, "
            "3 allows root/show/sequence/shot/. Deeper request files are ignored."
        ),
    )
    observer: Literal["auto", "inotify", "polling"] = Field(
        "auto",
        description=(
            "'auto' polls roots on network filesystems (NFS, SMB/CIFS, sshfs...) and FUSE "
            "mounts, where inotify never hears writes made by other machines, and uses "
            "inotify elsewhere."
        ),
    )
    poll_interval: float = Field(2.0, gt=0, description="Seconds between polls of a polled root.")
    rescan_interval: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds between full rescans. inotify drops events when its queue "
            "overflows; the rescan also reconciles the status files with the queue."
        ),
    )
    stable_seconds: float = Field(
        2.0,
        ge=0,
        description="A request is acted on once its size and mtime have not changed for this long.",
    )
    sweep_interval: float = Field(
        300.0,
        gt=0,
        description=(
            "Seconds between sweeps for what dead runs leave: partial exports, segment "
            "cache temporaries, project.json entries still saying running. Also at start."
        ),
    )
    source_settle_seconds: float = Field(
        2.0,
        ge=0,
        description=(
            "A shot whose size or modification time changed within this many seconds "
            "is still being written: its job waits until it has been quiet this long."
        ),
    )
    source_wait_seconds: float = Field(
        120.0,
        ge=0,
        description=(
            "How long a job waits for its shots to settle before it fails with "
            "source_changed, naming the shot still being written."
        ),
    )

    # --- queue -----------------------------------------------------------------
    redis_url: str | None = Field(
        None,
        description=(
            "Redis to share with workers on other machines, e.g. "
            "rediss://assemblyd@render-master:6380/0 (TLS, ACL user). Unset: a private "
            "redis-server is started for the roots, on a Unix socket in state_dir."
        ),
    )
    redis_password: SecretStr | None = Field(
        None,
        description=(
            "Password of redis_url's user. Kept apart from the URL so that it can come "
            "from the environment (ASSEMBLYD_REDIS_PASSWORD) rather than a file."
        ),
    )
    redis_ca_certs: Path | None = Field(
        None,
        description=(
            "CA certificate(s) that signed the Redis server's certificate (rediss:// "
            "only). Unset: the system's trusted CAs."
        ),
    )
    redis_certfile: Path | None = Field(
        None,
        description=(
            "This machine's client certificate, for a Redis with tls-auth-clients "
            "(rediss:// only; with redis_keyfile)."
        ),
    )
    redis_keyfile: Path | None = Field(
        None, description="The private key of redis_certfile (rediss:// only)."
    )
    job_secret: SecretStr | None = Field(
        None,
        description=(
            "Key of the HMAC that signs every job; a worker runs only jobs signed with "
            "it, so whoever can write to Redis cannot make it run anything. Unset: "
            "generated into the embedded Redis's folder in state_dir. Required with "
            "redis_url: the same on every machine, at least 16 characters."
        ),
    )
    state_dir: Path = Field(
        Path("~/.local/state/assemblyd"),
        description=(
            "Embedded Redis data, socket and generated job_secret: one folder per set "
            "of roots (redis-<hash of the roots>), so that two studios on one machine "
            "never see each other's jobs."
        ),
    )
    queue_name: str = Field("assemblyd", description="RQ queue the daemon fills and workers drain.")
    job_timeout: int = Field(
        6 * 3600,
        gt=0,
        description="Seconds a render may run; hours of 4K conform are real, forever is not.",
    )
    result_ttl: int = Field(
        7 * 86400, description="Seconds finished jobs stay visible in Redis (a week)."
    )
    failure_ttl: int = Field(
        30 * 86400, description="Seconds failed and canceled jobs stay in Redis (a month)."
    )
    heartbeat_interval: int = Field(
        5,
        ge=1,
        description=(
            "Seconds between a worker's heartbeats while rendering. A job whose worker "
            "died is failed after three missed beats (at least 10 s)."
        ),
    )
    redis_wait_seconds: float = Field(
        300.0,
        gt=0,
        description=(
            "How long a job that has finished rendering waits for a Redis that went "
            "away to come back, to record its end there. Workers and the watcher "
            "reconnect for as long as it takes, with backoff."
        ),
    )
    progress_interval: float = Field(
        0.25, gt=0, description="Minimum seconds between progress messages (4 a second)."
    )
    workers: int = Field(1, ge=1, description="Workers 'assemblyd up' starts.")
    worker_respawn_delay: float = Field(
        1.0,
        gt=0,
        description=(
            "Pause before 'assemblyd up' replaces a worker that died young (within a "
            "minute); it doubles with each young death in a row, up to a minute."
        ),
    )
    worker_respawn_limit: int = Field(
        5,
        ge=1,
        description=(
            "Young deaths in a row of one worker (crashes or exits, not kills from outside) "
            "after which 'assemblyd up' gives up and exits 1: a worker that cannot start "
            "(a broken install, a Redis refusing it) will not start the next time "
            "either, and systemd should hear of it."
        ),
    )
    fanout_min_segments: int = Field(
        2,
        ge=0,
        description=(
            "A queued request with at least this many shots to re-encode is split into "
            "one job per shot, so that every worker can take a share; 0 never splits."
        ),
    )
    path_map: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Prefix rewrites for workers that mount the NAS elsewhere, "
            'e.g. {"/mnt/nas" = "/Volumes/nas"}. Best avoided: mount it at the same path.'
        ),
    )

    # --- web -------------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1",
        description="Address the web app binds to. Any other than loopback needs api_token.",
    )
    web_port: int = Field(8000, ge=0, le=65535, description="Port of the web app.")
    api_token: str | None = Field(
        None,
        description=(
            "Bearer token required by everything but /healthz. Browsers pass it as "
            "?token= or a cookie for WebSocket and SSE."
        ),
    )
    max_request_bytes: int = Field(
        1_000_000,
        gt=0,
        description=(
            "Largest request document, as a file or an API body (a shot list is KBs); "
            "larger ones are refused unread."
        ),
    )
    max_timeline_bytes: int = Field(
        64_000_000,
        gt=0,
        description=(
            "Largest timeline file dropped as a request (an EDL is KBs, an AAF of a "
            "feature a few MB); larger ones are refused unread."
        ),
    )

    # --- notifications -----------------------------------------------------------
    webhooks: list[Webhook] = Field(
        default_factory=list,
        description=(
            "Receivers of job ends, [{url, events, secret}]: each gets a POST of the job's "
            "final view, signed with HMAC-SHA256. Sent by the watcher, retried with "
            "backoff; never in a render's way."
        ),
    )
    webhook_attempts: int = Field(
        8,
        ge=1,
        description=(
            "Tries per delivery before it is given up (logged). With the default pauses "
            "(5 s doubling) a receiver may be away for about ten minutes."
        ),
    )
    webhook_retry_seconds: float = Field(
        5.0, gt=0, description="Pause before the first retry of a delivery; it doubles."
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds a receiver has to answer a delivery."
    )

    # --- logging ---------------------------------------------------------------
    log_level: str = Field(
        "INFO", description="Python logging level name: DEBUG, INFO, WARNING or ERROR."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description=(
            "'text' for people; 'json' writes one JSON object per line (time, level, "
            "logger, message) for log shippers."
        ),
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not a log level; choose one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("state_dir")
    @classmethod
    def _expand_state_dir(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("redis_ca_certs", "redis_certfile", "redis_keyfile")
    @classmethod
    def _expand_file(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("job_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(
                f"needs at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)"
            )
        return value

    @model_validator(mode="after")
    def _redis_connection(self) -> Settings:
        url = urlsplit(self.redis_url) if self.redis_url else None
        tls = [
            name
            for name in ("redis_ca_certs", "redis_certfile", "redis_keyfile")
            if getattr(self, name) is not None
        ]
        if tls and (url is None or url.scheme != "rediss"):
            raise ValueError(f"{', '.join(tls)} need a rediss:// redis_url (TLS)")
        if (self.redis_certfile is None) != (self.redis_keyfile is None):
            raise ValueError("redis_certfile and redis_keyfile go together")
        if self.redis_password is not None and (url is None or url.password):
            where = "redis_url already holds a password" if url else "there is no redis_url"
            raise ValueError(f"redis_password is set but {where}; give it once")
        return self

    @field_validator("roots")
    @classmethod
    def _expand_roots(cls, value: list[Path]) -> list[Path]:
        return [root.expanduser().absolute() for root in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        handed = os.environ.get(EFFECTIVE_ENV)
        if handed:
            # A child of `assemblyd up`: its parent's settings, whole; only this
            # process's own flags go above them.
            return (init_settings, InitSettingsSource(settings_cls, init_kwargs=json.loads(handed)))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def revealed(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready values, secrets in clear: for handing to a child."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {name: plain(value) for name, value in settings.model_dump().items()}


def child_environment(settings: Settings, **changes: Any) -> dict[str, str]:
    """``os.environ`` plus the settings in force (with ``changes``) for a child process."""
    handed = revealed(settings.model_copy(update=changes))
    return {**os.environ, EFFECTIVE_ENV: json.dumps(handed)}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are CLI flags (``None`` means not given)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


_current: Settings | None = None


def install(settings: Settings) -> None:
    """Make ``settings`` the process's settings (the CLI does this once at start)."""
    global _current
    _current = settings


def current() -> Settings:
    """The process's settings; loaded from file and env on first use (RQ work horses)."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def map_path(path: str, settings: Settings) -> str:
    """Rewrite a path from the daemon's view of the NAS to this machine's."""
    for prefix, local in settings.path_map.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return local.rstrip("/") + path[len(prefix.rstrip("/")) :]
    return path
