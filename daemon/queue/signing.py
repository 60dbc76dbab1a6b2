"""Signed jobs: a worker runs only what an assemblyd process holding the key queued.

RQ stores a job as a hash in Redis: the name of a function, its arguments, the
names of its callbacks. Whoever can write to that Redis can write such a hash, so
the names are checked against an allow-list (:mod:`.functions`) and the whole is
checked against an HMAC-SHA256 that the enqueuer computed with ``job_secret`` over
the job's id, function, arguments, callbacks and webhooks. A job whose signature
does not match (forged, or queued by someone without the key, or with its
arguments changed since) is refused without running.

The key is ``job_secret`` from the settings. With the embedded Redis it may be left
unset: it is generated once into the embedded Redis's folder (mode 0600), where every
process of that machine and those roots finds it. With a shared ``redis_url`` it is
required, the same on every machine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rq.job import Job

from ..errors import BadSettings
from ..settings import Settings
from .connection import embedded_dir

#: Where the signature is kept: the job's meta (RQ stores it, and nothing runs it).
SIGNATURE = "signature"
SECRET_FILE = "job_secret"
_VERSION = "v1"

_loaded: dict[Path, bytes] = {}


def job_secret(settings: Settings) -> bytes:
    """The signing key: ``job_secret``, else (embedded Redis only) the generated one."""
    if settings.job_secret is not None:
        return settings.job_secret.get_secret_value().encode()
    if settings.redis_url:
        raise BadSettings(
            "job_secret is not set: with a shared redis_url every machine must sign and "
            "check jobs with the same secret (ASSEMBLYD_JOB_SECRET, or job_secret in the "
            "config; make one with `openssl rand -hex 32`)"
        )
    return _generated(embedded_dir(settings) / SECRET_FILE)


def _generated(path: Path) -> bytes:
    """The key in ``path``, made there first if it is not (once, whoever comes first)."""
    if path in _loaded:
        return _loaded[path]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)  # fails if another process made it meanwhile: keep theirs
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    key = path.read_text().strip().encode()
    if len(key) < 16:
        raise BadSettings(f"the generated job secret in {path} is damaged; delete it")
    _loaded[path] = key
    return key


def _document(
    job_id: str,
    func_name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    callbacks: Sequence[str | None],
    webhooks: Sequence[dict[str, Any]],
) -> bytes:
    doc = {
        "id": job_id,
        "func": func_name,
        "args": list(args),
        "kwargs": kwargs,
        "callbacks": list(callbacks),
        "webhooks": list(webhooks),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def callback_names(job: Job) -> list[str | None]:
    return [
        job._success_callback_name,
        job._failure_callback_name,
        job._stopped_callback_name,
    ]


def _mac(secret: bytes, job: Job) -> str:
    """The signature of what ``job`` holds (reading it imports nothing: JSON only)."""
    document = _document(
        job.id,
        job.func_name or "",
        job.args,
        job.kwargs,
        callback_names(job),
        [w.to_dict() for w in job.webhooks],
    )
    return f"{_VERSION}:" + hmac.new(secret, document, hashlib.sha256).hexdigest()


def sign(job: Job, secret: bytes) -> None:
    """Put ``job``'s signature into its meta (before it is saved)."""
    job.meta[SIGNATURE] = _mac(secret, job)


def mismatch(job: Job, secret: bytes) -> str | None:
    """Why ``job``'s signature does not hold, or None if it does."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    stored = meta.get(SIGNATURE)
    if not isinstance(stored, str):
        return "it carries no signature (it was not queued by assemblyd)"
    try:
        expected = _mac(secret, job)
    except Exception as exc:  # its data cannot even be read as ours
        return f"its data cannot be read ({type(exc).__name__})"
    if not hmac.compare_digest(stored, expected):
        return (
            "its signature does not match its function, arguments and id (forged, "
            "changed since it was queued, or signed with another job_secret)"
        )
    return None
