"""Which Redis, and how to talk to it.

With no ``redis_url`` configured, every process of one machine meets at the embedded
server's Unix socket in a folder of ``state_dir`` that belongs to the watch roots
(see :func:`embedded_dir`), so two studios on one machine never share a Redis.
With ``redis_url``, the password (``redis_password``) and the TLS files
(``redis_ca_certs``, ``redis_certfile``, ``redis_keyfile``) come from the settings.

A Redis that is away is waited for; one that answers but refuses us (a wrong
password, a certificate that does not verify, an ACL user without the rights) is a
mistake in the settings, said in one line that names them (:func:`refusal`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis

from ..errors import BadSettings, RedisRefused
from ..settings import Settings

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
T = TypeVar("T")

#: What "Redis is away" looks like to redis-py (a server loading its AOF included).
#: Beware: redis-py's AuthenticationError is a ConnectionError too; see refusal().
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def embedded_dir(settings: Settings) -> Path:
    """The embedded Redis's folder for these roots: ``<state_dir>/redis-<hash>``.

    Its data belongs to the roots it serves: another ``up`` with other roots, at the
    same time or later, gets a folder (and a Redis) of its own."""
    if not settings.roots:
        raise BadSettings(
            "no Redis to use: set redis_url, or give the roots (--root DIR, or roots in "
            "the config) of the `assemblyd up` or `watch` whose embedded Redis to use"
        )
    # The roots as configured (absolute already): no filesystem access, so a NAS that
    # hangs cannot hang this.
    roots = sorted({os.path.normpath(str(root)) for root in settings.roots})
    digest = hashlib.sha256("\0".join(roots).encode()).hexdigest()[:12]
    return settings.state_dir / f"redis-{digest}"


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{embedded_dir(settings) / SOCKET_NAME}"


def redis_options(settings: Settings) -> dict[str, Any]:
    """redis-py keyword arguments the URL does not carry: the password and TLS files."""
    options: dict[str, Any] = {}
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ca_certs is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_certs)
    if settings.redis_certfile is not None and settings.redis_keyfile is not None:
        options["ssl_certfile"] = str(settings.redis_certfile)
        options["ssl_keyfile"] = str(settings.redis_keyfile)
    return options


def shown_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, **options: Any) -> redis.Redis:
    # redis-py's default 5 s socket timeout, retried ten times, turns a blocking
    # read into a minute-long hang; fail fast on connect, wait freely on reads.
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30, **options)


def open_redis(settings: Settings) -> redis.Redis:
    """A client for the settings' Redis (embedded or ``redis_url``, with its credentials)."""
    return connect(redis_url(settings), **redis_options(settings))


def refusal(exc: BaseException, settings: Settings) -> RedisRefused | None:
    """``exc`` as a mistake in the settings, if it is one (else None: Redis is away,
    or something else went wrong). The message names the settings to look at."""
    where = shown_url(redis_url(settings))
    if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        return RedisRefused(
            f"Redis at {where} refused the credentials ({exc}); check the user in "
            "redis_url and the password in redis_password (ASSEMBLYD_REDIS_PASSWORD)",
            code="redis_auth_failed",
        )
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return RedisRefused(
            f"Redis at {where}: the user in redis_url lacks a permission assemblyd needs "
            f"({exc}); see the README's ACL line",
            code="redis_no_permission",
        )
    if isinstance(exc, redis.exceptions.ConnectionError):
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None or "SSL" in str(exc):
            return RedisRefused(
                f"TLS with Redis at {where} failed ({cause or exc}); check redis_url "
                "(rediss://, the host named in the server's certificate), redis_ca_certs, "
                "redis_certfile and redis_keyfile",
                code="redis_tls_failed",
            )
    return None


def check(conn: redis.Redis, settings: Settings) -> bool:
    """PING: True if Redis answers, False if it is away. Raises :class:`RedisRefused`
    (one line naming the settings) if it answers but refuses us."""
    try:
        conn.ping()
    except redis.exceptions.RedisError as exc:
        refused = refusal(exc, settings)
        if refused is not None:
            raise refused from None
        if isinstance(exc, UNREACHABLE):
            return False
        raise
    return True


def retrying(action: Callable[[], T], settings: Settings, what: str) -> T:
    """``action()``, tried again with backoff while Redis is unreachable, for at most
    ``redis_wait_seconds``; then the last error is raised."""
    deadline = time.monotonic() + settings.redis_wait_seconds
    delay = 0.25
    warned = False
    while True:
        try:
            return action()
        except UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise
            if not warned:
                log.warning("Redis is unreachable (%s); will %s when it is back", exc, what)
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
