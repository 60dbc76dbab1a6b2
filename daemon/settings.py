"""One typed settings object, loaded once per process.

Precedence, highest first: CLI flags, ``ASSEMBLYD_*`` environment variables, the
TOML file, then the defaults below. The TOML file is ``$ASSEMBLYD_CONFIG`` if set,
else ``./config/assemblyd.toml``, else ``/etc/assemblyd/assemblyd.toml``.
``config/assemblyd.toml`` in the repository documents every setting.

Every tunable lives here, with the reason for its default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_CANDIDATES = (Path("config/assemblyd.toml"), Path("/etc/assemblyd/assemblyd.toml"))
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
        0, ge=0, description="Encoder threads; 0 lets ffmpeg use every core."
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
            "'auto' polls roots on network filesystems (NFS, SMB/CIFS, sshfs...), where "
            "inotify never hears writes made by other machines, and uses inotify elsewhere."
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
            "Redis to share with workers, e.g. redis://nas:6379/0. Unset: a private "
            "redis-server is started with its data in state_dir, on a Unix socket."
        ),
    )
    state_dir: Path = Field(
        Path("~/.local/state/assemblyd"),
        description="Embedded Redis data and socket.",
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

    # --- logging ---------------------------------------------------------------
    log_level: str = Field(
        "INFO", description="Python logging level name: DEBUG, INFO, WARNING or ERROR."
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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


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
