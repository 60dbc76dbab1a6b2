"""What deaths leave behind, found and settled.

A worker or the whole daemon SIGKILLed, Redis lost, a project moved mid-render: a
run that dies without finishing its own cleanup can leave

- a partial export, ``exports/.<name>.<job>.partial.<ext>`` (and its scratch files);
- a temporary segment in the cache, ``.<key>.<host>-<pid>.tmp.<ext>``;
- a temporary JSON file beside a request, ``.<file>.<host>-<pid>.<random>.tmp``;
- a ``project.json`` entry that says ``running`` forever.

The watcher sweeps them at start and every ``sweep_interval``, keeping what a live
job still owns: a partial export belongs to its job (named in the file), a
temporary file to the process named in it. A process on another machine cannot be
asked: its files go once older than ``job_timeout``, which no run outlives.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from redis import Redis

from ..errors import JobNotFound, RunLost, error_record
from ..lifecycle import owner_gone
from ..pipeline.publish import PARTIAL_MARK, exports_dir
from ..records.project import PROJECT_FILE, ProjectFile
from ..render.cache import CACHE_DIR_NAME
from ..render.normalize import ENCODE_PREFIX
from ..settings import Settings
from ..stamps import now_iso
from ..states import TERMINAL, JobState
from .adapter import fetch, valid_job_id
from .views import view

log = logging.getLogger(__name__)

_PARTIAL = re.compile(r"^\..*\.(?P<run>[A-Za-z0-9_-]+)" + re.escape(PARTIAL_MARK))
_JSON_TEMP = re.compile(r"^\..+\.(?P<tag>[A-Za-z0-9]+-[0-9]+)\.[A-Za-z0-9_]+\.tmp$")
_CACHE_TEMP = re.compile(r"^\.[0-9a-f]+\.(?P<tag>[A-Za-z0-9-]+)\.tmp\.[A-Za-z0-9]+$")
#: An encoder's folder of segments in the making (render/normalize.py).
_ENCODE_TEMP = re.compile(
    "^" + re.escape(ENCODE_PREFIX) + r"(?P<tag>[A-Za-z0-9]+-[0-9]+)\.[A-Za-z0-9_]+$"
)


class Liveness:
    """Which jobs are alive, asked of Redis once per job per sweep."""

    def __init__(self, conn: Redis) -> None:
        self.conn = conn
        self.known: dict[str, str | None] = {}

    def state(self, job_id: str) -> str | None:
        """The job's state, or None if Redis has no such job."""
        if job_id not in self.known:
            try:
                self.known[job_id] = view(fetch(self.conn, job_id))["state"]
            except JobNotFound:
                self.known[job_id] = None
        return self.known[job_id]

    def alive(self, job_id: str) -> bool:
        state = self.state(job_id)
        return state is not None and state not in TERMINAL


def _stale(path: Path, tag: str, settings: Settings) -> bool:
    """Is the temporary file ``path``, owned by the process ``tag``, a leftover?"""
    try:
        mtime = path.lstat().st_mtime
    except FileNotFoundError:
        return False
    gone = owner_gone(tag, mtime)
    if gone is None:  # another machine's, or unnamed: only age can tell
        return time.time() - mtime > settings.job_timeout
    return gone


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("cannot remove the leftover %s: %s", path, exc)
        return False
    return True


def sweep_project(
    project: Path, settings: Settings, jobs: Liveness, is_ours: Callable[[str], bool]
) -> list[Path]:
    """Remove the partial exports of runs that are over, and dead writers' temporary
    JSON files, in one project. ``is_ours(run)`` says whether a run id is a job of
    this queue (a CLI render's run is not; its partials go once past job_timeout)."""
    removed: list[Path] = []
    for entry in _listing(exports_dir(project)):
        match = _PARTIAL.match(entry.name)
        if match is None:
            continue
        run = match["run"]
        # A CLI render's run is nobody's job: its leftovers go when older than any run.
        ours = is_ours(run)
        leftover = not jobs.alive(run) if ours else _older_than(entry, settings.job_timeout)
        if leftover and _remove(entry):
            removed.append(entry)
    for entry in _listing(project):
        match = _JSON_TEMP.match(entry.name)
        if match and _stale(entry, match["tag"], settings) and _remove(entry):
            removed.append(entry)
    return removed


def sweep_cache(folder: Path, settings: Settings) -> list[Path]:
    """Remove segments that dead processes were writing into the cache: their
    temporary entries, and the folders their encoders wrote segments into."""
    removed: list[Path] = []
    for sub in _listing(folder):
        encoding = _ENCODE_TEMP.match(sub.name)
        if encoding and sub.is_dir() and not sub.is_symlink():
            if _stale(sub, encoding["tag"], settings) and _remove(sub):
                removed.append(sub)
            continue
        if len(sub.name) != 2 or not sub.is_dir():
            continue
        for entry in _listing(sub):
            match = _CACHE_TEMP.match(entry.name)
            if match and _stale(entry, match["tag"], settings) and _remove(entry):
                removed.append(entry)
    return removed


def settle_entries(project: Path, jobs: Liveness, is_ours: Callable[[str], bool]) -> list[str]:
    """Give the ``project.json`` entries that say ``running`` (or were put back as
    ``interrupted``) but whose job has ended, or is nowhere, their real end.
    Returns the ids settled."""
    record = ProjectFile(project)
    if not record.path.is_file():
        return []
    try:
        entries = record.entries()
    except (OSError, ValueError):
        return []
    settled: list[str] = []
    for entry in entries:
        run = entry.get("id")
        if not isinstance(run, str) or entry.get("status") not in ("running", "interrupted"):
            continue
        if not is_ours(run) or jobs.alive(run):
            continue
        state = jobs.state(run)
        try:
            if state is None:
                if entry.get("status") == "interrupted":
                    continue  # put back on purpose: its request runs again at start
                record.update(
                    run,
                    status=JobState.FAILED,
                    error=error_record(RunLost()),
                    finished_at=now_iso(),
                )
            else:
                job = fetch(jobs.conn, run)
                seen = view(job)
                record.update(run, status=state, error=seen["error"])
        except (OSError, JobNotFound):
            continue
        settled.append(run)
        log.info("%s/%s: run %s settled as %s", project, PROJECT_FILE, run, state or "failed")
    return settled


def is_queue_job(run: str) -> bool:
    """Runs of queued jobs are named after them (asm-...); CLI renders are not."""
    return run.startswith("asm-") and valid_job_id(run)


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime > seconds
    except OSError:
        return False


def cache_folders(settings: Settings) -> list[Path]:
    """The segment caches of the watch roots (``cache_dir``, or each root's own)."""
    if settings.cache_dir is not None:
        return [settings.cache_dir]
    return [root / CACHE_DIR_NAME for root in settings.roots]


def sweep(conn: Redis, settings: Settings, projects: Iterable[Path]) -> int:
    """Everything above, for ``projects`` and the roots' caches; returns how many
    leftovers were removed or entries settled."""
    jobs = Liveness(conn)
    count = 0
    caches = set(cache_folders(settings))
    for project in projects:
        count += len(sweep_project(project, settings, jobs, is_queue_job))
        count += len(settle_entries(project, jobs, is_queue_job))
        caches.add(project / CACHE_DIR_NAME)  # a worker that knows no roots caches here
    for folder in sorted(caches):
        count += len(sweep_cache(folder, settings))
    if count:
        log.info("housekeeping: %d leftover(s) of dead runs removed or settled", count)
    return count
