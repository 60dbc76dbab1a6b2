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

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_CANDIDATES = (Path("config/assemblyd.toml"), Path("/etc/assemblyd/assemblyd.toml"))


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

    # --- logging ---------------------------------------------------------------
    log_level: str = Field("INFO", description="Python logging level name.")

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
