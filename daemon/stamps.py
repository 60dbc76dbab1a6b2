"""Timestamps and content hashes: one format each, wherever they are written."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def now_iso() -> str:
    """UTC, to the millisecond: sorts as text, and reads the same on every machine."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
