"""The soak: requests dropped continuously into `assemblyd up` while things break.

For ``ASSEMBLYD_SOAK_SECONDS`` (45 by default; raise it for a benchmark run) it
drops requests and, at random, SIGKILLs a worker, SIGKILLs redis-server, renames a
project, fills a small tmpfs holding some projects (where a tmpfs can be mounted;
said in a warning where not) and drops hostile files. Then it stops breaking
things and waits (bounded) for the daemon to settle. At the end every request has
exactly one verified export or a clear failure code in its status file, no partial
or temporary file is left anywhere, no project.json entry still says running, no
process the daemon started outlives it, and until then it is still serving.

The figures (requests, faults by kind, outcomes, time, lost) are printed, and
written to ``ASSEMBLYD_SOAK_REPORT`` if set.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from assemblyd.records.status import StatusFile
from assemblyd.states import TERMINAL
from tests.conftest import wait_for
from tests.faults.conftest import Daemon, fifo, nested_json
from tests.mediacheck import measure

SECONDS = float(os.environ.get("ASSEMBLYD_SOAK_SECONDS", "45"))
SEED = int(os.environ.get("ASSEMBLYD_SOAK_SEED", str(int(time.time()))))
#: How long the daemon may take to settle everything once the faults stop.
SETTLE = 180.0 + SECONDS

#: Two kinds of request: joined without re-encoding, and split into part jobs.
KINDS: dict[str, list[str]] = {
    "copy": ["match_a.mp4", "match_b.mp4"],
    "split": ["wide24.mp4", "wide30.mp4"],
}
#: Frames of a complete export, by the shots it holds (24 fps out; 2 s and 1 s clips).
FRAMES = {"match_a.mp4": 48, "match_b.mp4": 48, "wide24.mp4": 24, "wide30.mp4": 24}
OUTPUT = {"resolution": "320x180", "bitrate": "800k", "quality_preset": "draft"}
#: Failures a request may end with here, each for a reason the soak causes.
CLEAR_CODES = {
    "invalid_request",  # the hostile files
    "worker_died",  # a SIGKILLed worker's job
    "project_gone",  # only in Redis: a renamed project gets a new job where it went
    "source_changed",  # a renamed project's shots moved under a running part
    "disk_full",  # the full tmpfs: "No space left on device"
    "render_failed",  # ffmpeg saying the same
    "publish_failed",
    "verify_failed",
    "superseded",
}
#: Leftovers no run may leave: partial exports, temporary segments and JSON files.
TEMPORARY = re.compile(r"(\.partial\.|\.tmp$|\.tmp\.)")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "6m") -> Iterator[str | None]:
    """Mount a tmpfs at ``path``; yields None, or why it could not be mounted."""
    path.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        yield f"mount failed: {exc}"
        return
    if done.returncode != 0:
        yield f"mount failed: {done.stderr.strip() or done.returncode}"
        return
    try:
        yield None
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


class Soak:
    def __init__(self, root: Path, media: Path, tight: Path | None, daemon: Daemon) -> None:
        self.root, self.media, self.tight, self.daemon = root, media, tight, daemon
        self.rng = random.Random(SEED)
        self.faults: Counter[str] = Counter()
        self.dropped = 0
        #: Every project a request was dropped into, where it is now (renames followed).
        self.projects: set[Path] = set()
        #: Paces the loop that drops requests and breaks things (it is the load, not a wait).
        self.pace = threading.Event()
        self.seen: dict[int, psutil.Process] = {}
        self.redis_kills: list[float] = []
        self.filler: Path | None = None
        self.filler_until = 0.0
        self.n = 0

    # -- requests ------------------------------------------------------------------
    def drop(self, base: Path | None = None) -> Path | None:
        self.n += 1
        if base is None:
            use_tight = self.tight is not None and self.rng.random() < 0.3
            base = self.tight if use_tight and self.tight is not None else self.root
        shots = KINDS[self.rng.choice(sorted(KINDS))]
        project = base / f"p{self.n:03d}"
        try:
            (project / "shots").mkdir(parents=True)
            for shot in shots:
                shutil.copyfile(self.media / shot, project / "shots" / shot)
            doc = {"shots": [f"shots/{s}" for s in shots], "output": OUTPUT}
            data = json.dumps(doc).encode()
            (project / "assembly.json").write_bytes(data)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            self.faults["drop refused: disk full"] += 1
            return None
        self.dropped += 1
        self.projects.add(project)
        return project / "assembly.json"

    # -- faults --------------------------------------------------------------------
    def _children(self) -> list[psutil.Process]:
        procs = self.daemon.tree()
        for proc in procs:
            self.seen.setdefault(proc.pid, proc)
        return procs

    def _named(self, word: str) -> list[psutil.Process]:
        found = []
        for proc in self._children():
            with contextlib.suppress(psutil.Error):
                if word in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def kill_worker(self) -> bool:
        workers = [p for p in self._named("assemblyd worker") if p.ppid() == self.daemon.proc.pid]
        if not workers:
            return False
        self.rng.choice(workers).send_signal(signal.SIGKILL)
        return True

    def kill_redis(self) -> bool:
        now = time.monotonic()
        # `up` gives up after five deaths in ten minutes (by design): stay under it.
        if len([t for t in self.redis_kills if now - t < 600]) >= 4:
            return False
        servers = self._named("redis-server")
        if not servers:
            return False
        servers[0].send_signal(signal.SIGKILL)
        self.redis_kills.append(now)
        return True

    def rename(self) -> bool:
        projects = [
            p
            for base in (self.root, self.tight)
            if base is not None
            for p in base.glob("p*")
            if p.is_dir() and (p / "shots").is_dir()
        ]
        if not projects:
            return False
        victim = self.rng.choice(sorted(projects))
        try:
            moved = victim.rename(victim.with_name(victim.name + "m"))
        except OSError:
            return False
        if victim in self.projects:
            self.projects.discard(victim)
            self.projects.add(moved)
        return True

    def fill(self) -> bool:
        if self.tight is None or self.filler is not None:
            return False
        self.filler = self.tight / "filler.bin"
        try:
            with self.filler.open("wb") as fh:
                while True:  # until the disk is full
                    fh.write(b"\0" * 65536)
                    fh.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        self.filler_until = time.monotonic() + self.rng.uniform(2.0, 5.0)
        return True

    def free(self, force: bool = False) -> None:
        if self.filler is not None and (force or time.monotonic() >= self.filler_until):
            self.filler.unlink(missing_ok=True)
            self.filler = None

    def hostile(self) -> bool:
        self.n += 1
        project = self.root / f"h{self.n:03d}"
        project.mkdir()
        request = project / "assembly.json"
        which = self.rng.choice(["nested", "fifo", "number", "junk", "symlink"])
        if which == "nested":
            nested_json(request)
        elif which == "fifo":
            fifo(request)
        elif which == "number":
            request.write_text('{"shots": ["shots/a.mp4", 5]}')
        elif which == "junk":
            request.write_bytes(os.urandom(2048))
        else:
            outside = self.root.parent / f"outside{self.n}.json"
            outside.write_text('{"shots": ["secret.mp4"]}')
            request.symlink_to(outside)
        self.faults[f"hostile file ({which})"] += 1
        return True

    def inject(self) -> None:
        kinds = ["kill worker", "kill redis-server", "rename project", "hostile file"]
        if self.tight is not None:
            kinds.append("fill tmpfs")
        kind = self.rng.choice(kinds)
        act = {
            "kill worker": self.kill_worker,
            "kill redis-server": self.kill_redis,
            "rename project": self.rename,
            "fill tmpfs": self.fill,
            "hostile file": self.hostile,
        }[kind]
        if act() and kind != "hostile file":
            self.faults[kind] += 1


def _requests(*bases: Path | None) -> list[Path]:
    return sorted(p for base in bases if base is not None for p in base.glob("*/assembly.json"))


def _temporaries(*bases: Path | None) -> list[Path]:
    return [
        p
        for base in bases
        if base is not None
        for p in base.rglob(".*")
        if TEMPORARY.search(p.name) and not p.name.endswith(".lock")
    ]


def _running_entries(*bases: Path | None) -> list[str]:
    found = []
    for base in bases:
        if base is None:
            continue
        for record in base.glob("*/project.json"):
            with contextlib.suppress(OSError, ValueError):
                for entry in json.loads(record.read_text()).get("assemblies", []):
                    if entry.get("status") == "running":
                        found.append(f"{record.parent.name}: {entry.get('id')}")
    return found


def _health(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(f"{url}/healthz", timeout=10)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def test_soak(daemon, root, media, short_state, tmp_path, record_property):
    began = time.monotonic()
    with small_tmpfs(root / "tight") as refused:
        tight = None if refused else root / "tight"
        if refused:
            warnings.warn(
                f"soak: no full-disk fault, a tmpfs cannot be mounted ({refused})", stacklevel=1
            )
        d = daemon(
            "up",
            root,
            "--port",
            "0",
            "--workers",
            "2",
            ASSEMBLYD_STATE_DIR=str(short_state),
            ASSEMBLYD_STABLE_SECONDS="0.3",
            ASSEMBLYD_HEARTBEAT_INTERVAL="1",
            ASSEMBLYD_RESCAN_INTERVAL="2",
            ASSEMBLYD_SWEEP_INTERVAL="2",
            ASSEMBLYD_SOURCE_SETTLE_SECONDS="0.2",
        )
        url = wait_for(lambda: re.search(r"dashboard (http://\S+)", d.log), 30, "up").group(1)
        soak = Soak(root, media, tight, d)
        next_drop = next_fault = time.monotonic()
        stop_at = time.monotonic() + SECONDS
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= next_drop:
                soak.drop()
                next_drop = now + soak.rng.uniform(0.5, 1.5)
            if now >= next_fault:
                soak.inject()
                next_fault = now + soak.rng.uniform(1.5, 4.0)
            soak.free()
            soak._children()  # remember every process, to check none outlives `up`
            soak.pace.wait(0.1)
            assert d.running(), d.log[-3000:]
        soak.free(force=True)
        injected = time.monotonic() - began

        # The faults stop. Everything dropped settles: a terminal status for each.
        def unsettled() -> list[str]:
            return [
                str(r.relative_to(root))
                for r in _requests(root, tight)
                if StatusFile(r).read().get("state") not in TERMINAL
            ]

        wait_for(lambda: not unsettled(), SETTLE, "every request to settle")
        wait_for(lambda: not _temporaries(root, tight), 60, "the sweep of temporary files")
        wait_for(lambda: not _running_entries(root, tight), 60, "no entry left running")

        outcomes: Counter[str] = Counter()
        lost: list[str] = []
        for request in _requests(root, tight):
            status = StatusFile(request).read()
            state, error = status.get("state"), status.get("error") or {}
            exports = sorted((request.parent / "exports").glob("*.mp4"))
            if request.parent.name.startswith("h"):
                assert (state, error.get("code")) == ("failed", "invalid_request"), request
                outcomes["hostile: refused"] += 1
                continue
            if state == "finished":
                assert [e.name for e in exports] == [Path(str(status["export"])).name], request
                shots = json.loads(request.read_text())["shots"]
                frames = measure(exports[0]).frames
                assert frames == sum(FRAMES[Path(s).name] for s in shots), (request, frames)
                outcomes["finished, one verified export"] += 1
            elif state in ("failed", "canceled", "superseded"):
                code = error.get("code")
                assert code in CLEAR_CODES, (request, status)
                assert exports == [], (request, exports)
                outcomes[f"{state}: {code}"] += 1
            else:
                lost.append(str(request))
        # Nothing dropped went missing: each request is where its project now is.
        lost += [str(p) for p in soak.projects if not (p / "assembly.json").is_file()]
        assert lost == []
        assert not _temporaries(root, tight)

        # Still serving: healthy, and a request dropped now is rendered.
        health = wait_for(lambda: _health(url), 30, "/healthz")
        assert health["watcher_alive"] and health["workers"] >= 1, health
        last = soak.drop(root)
        assert last is not None
        wait_for(lambda: StatusFile(last).read().get("state") == "finished", 90, "a last request")
        soak._children()
        everything = list(soak.seen.values())
        assert d.stop(60) == 0, d.log[-3000:]
        _, alive = psutil.wait_procs(everything, timeout=15)
        assert alive == [], [p.pid for p in alive]

    figures = {
        "seed": SEED,
        "seconds of faults": round(injected, 1),
        "seconds in all": round(time.monotonic() - began, 1),
        "requests dropped": soak.dropped,
        "faults": dict(sorted(soak.faults.items())),
        "outcomes": dict(sorted(outcomes.items())),
        "lost": len(lost),
        "tmpfs": "mounted" if tight is not None else refused,
    }
    record_property("soak", json.dumps(figures))
    print("\nsoak figures: " + json.dumps(figures, indent=2))
    if os.environ.get("ASSEMBLYD_SOAK_REPORT"):
        Path(os.environ["ASSEMBLYD_SOAK_REPORT"]).write_text(json.dumps(figures, indent=2))
