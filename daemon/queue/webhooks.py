"""Webhooks: each job's end POSTed, signed, to the receivers in ``webhooks``.

Whoever ends a job (its work horse, a cancel, the reaper) only pushes the event onto
an outbox list in Redis (one command, :func:`announce_end`); it never waits for a
receiver, so a receiver that is slow or down never holds up or fails a render. The
watcher's :class:`Sender` thread takes events from the outbox and delivers them:
one POST per receiver whose ``events`` include the job's state, the body being the
job's final view as JSON::

    POST <url>
    Content-Type: application/json
    X-Assemblyd-Event: finished
    X-Assemblyd-Delivery: <uuid, the same on every retry>
    X-Assemblyd-Timestamp: <unix seconds>
    X-Assemblyd-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>

    {"event": "finished", "job": {...JobView...}}

Any 2xx answer is a delivery; anything else (or no answer within
``webhook_timeout``) is tried again after ``webhook_retry_seconds``, doubling, up to
``webhook_attempts`` tries, then given up with a warning. Retries wait in a sorted
set in Redis, so a watcher restart loses none; with several watchers, each delivery
is taken by one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from ..settings import Settings, Webhook
from .views import JobView

log = logging.getLogger(__name__)

OUTBOX = "assemblyd:webhooks:outbox:"
RETRIES = "assemblyd:webhooks:retry:"
#: Events kept for a watcher that is not running (the oldest go first).
OUTBOX_MAX = 10_000
#: Longest pause between two tries of one delivery.
RETRY_MAX = 600.0


def announce_end(conn: Redis, queue: str, view: JobView) -> None:
    """Put ``view`` (a job that has just ended) in the outbox. Never raises."""
    event = json.dumps({"event": view["state"], "job": view})
    try:
        with conn.pipeline(transaction=False) as pipe:
            pipe.lpush(OUTBOX + queue, event)
            pipe.ltrim(OUTBOX + queue, 0, OUTBOX_MAX - 1)
            pipe.execute()
    except RedisError as exc:
        log.warning("job %s: its end could not be queued for webhooks: %s", view["id"], exc)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Assemblyd-Signature header's value, as a receiver recomputes it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Sender(threading.Thread):
    """Delivers the outbox's events, and the retries that are due, until stopped."""

    def __init__(self, conn: Redis, settings: Settings, poll: float = 0.5) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.conn, self.settings, self.poll = conn, settings, poll
        self.stopping = threading.Event()
        self.delivered = 0
        self._away = False

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                busy = self.step()
                self._away = False
            except RedisError as exc:
                if not self._away:
                    log.warning("webhooks: Redis is unreachable (%s); waiting", exc)
                self._away, busy = True, False
            except Exception:  # never let a bad event stop the deliveries
                log.exception("webhooks: unexpected error; going on")
                busy = False
            if not busy:
                self.stopping.wait(self.poll)

    def step(self) -> bool:
        """Deliver what is due now; True if there was anything."""
        queue = self.settings.queue_name
        due: list[bytes] = self.conn.zrangebyscore(  # type: ignore[assignment]
            RETRIES + queue, "-inf", time.time(), start=0, num=20
        )
        busy = False
        for raw in due:
            if self.conn.zrem(RETRIES + queue, raw):  # taken by us, not another watcher
                self._deliver(json.loads(raw))
                busy = True
        raw_event = self.conn.rpop(OUTBOX + queue)
        if isinstance(raw_event, bytes):
            busy = True
            self._fan_out(raw_event)
        return busy

    def _fan_out(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
            state, job = event["event"], event["job"]
            job_id = str(job["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("webhooks: ignoring an outbox entry that is not an event")
            return
        body = json.dumps({"event": state, "job": job}).encode()
        for hook in self.settings.webhooks:
            if state in hook.events:
                delivery = {
                    "id": str(uuid.uuid4()),
                    "url": hook.url,
                    "event": state,
                    "job": job_id,
                    "body": body.decode(),
                    "attempt": 1,
                }
                self._deliver(delivery)

    def _hook(self, url: str) -> Webhook | None:
        return next((h for h in self.settings.webhooks if h.url == url), None)

    def _deliver(self, delivery: dict[str, Any]) -> None:
        hook = self._hook(str(delivery.get("url")))
        if hook is None:
            return  # no longer configured
        body = str(delivery["body"]).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "assemblyd-webhooks",
                "X-Assemblyd-Event": str(delivery["event"]),
                "X-Assemblyd-Delivery": str(delivery["id"]),
                "X-Assemblyd-Timestamp": timestamp,
                "X-Assemblyd-Signature": signature(hook.secret.get_secret_value(), timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.webhook_timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status, why = exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            status, why = 0, str(getattr(exc, "reason", exc))
        else:
            why = f"HTTP {status}"
        if 200 <= status < 300:
            self.delivered += 1
            log.info(
                "webhook %s: job %s %s delivered", hook.url, delivery["job"], delivery["event"]
            )
            return
        attempt = int(delivery.get("attempt", 1))
        if attempt >= self.settings.webhook_attempts:
            log.warning(
                "webhook %s: gave up on job %s %s after %d tries (%s)",
                hook.url,
                delivery["job"],
                delivery["event"],
                attempt,
                why,
            )
            return
        pause = min(self.settings.webhook_retry_seconds * 2 ** (attempt - 1), RETRY_MAX)
        log.warning(
            "webhook %s: job %s %s not delivered (%s); try %d in %.0f s",
            hook.url,
            delivery["job"],
            delivery["event"],
            why,
            attempt + 1,
            pause,
        )
        retry = json.dumps({**delivery, "attempt": attempt + 1})
        self.conn.zadd(RETRIES + self.settings.queue_name, {retry: time.time() + pause})
