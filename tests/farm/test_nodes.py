"""Several render nodes, as several machines: each a worker in a mount namespace of its
own (`unshare -m`), seeing one NAS folder through a FUSE mount (`bindfs`) at a path
of its own, /mnt/nas on one and /srv/nas on the other, sharing one
password-protected Redis over loopback TCP.

Node A also runs the watcher, which must poll its FUSE root: the request is written
into the NAS's backing folder directly, as another machine's write would arrive,
and inotify on node A's mount never hears of it. The request is split across both
nodes; their segments land in one shared cache (keyed by paths relative to the
root, the same on both); node B is SIGKILLed in the middle of a part, which runs
again, once, on node A; the join finds every segment cached and encodes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
from rq.job import Job
from rq.serializers import JSONSerializer

from assemblyd.lifecycle import die_with_parent
from assemblyd.queue.adapter import fetch
from assemblyd.records.status import StatusFile
from tests.conftest import make_project, request_doc, wait_for
from tests.farm.conftest import Server, require

SHOTS = [f"long{i}.mp4" for i in range(4)]

#: One node: a private /mnt or /srv (tmpfs, in this namespace only), the NAS mounted
#: there with bindfs in the foreground, assemblyd processes that die with this shell,
#: and the mount undone once they have exited (a bindfs left running would keep the
#: namespace alive).
NODE = r"""
set -u
mount -t tmpfs assemblyd-node "$TOP"
mkdir -p "$MOUNT"
bindfs -f "$NAS" "$MOUNT" &
fuse=$!
until mountpoint -q "$MOUNT"; do
    kill -0 "$fuse" 2>/dev/null || exit 90
    sleep 0.05
done
pids=""
for command in $COMMANDS; do
    setpriv --pdeathsig KILL -- "$PYTHON" -m assemblyd "$command" &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
# A killed worker's ffmpeg may hold files open a moment longer: busy until it exits.
tries=0
until fusermount -u "$MOUNT" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 300 ]; then fusermount -u -z "$MOUNT"; break; fi
    sleep 0.1
done
wait "$fuse"
"""


def _capable() -> None:
    if os.geteuid() != 0:
        require("mount namespaces and FUSE mounts need root here")
    for tool in ("unshare", "bindfs", "fusermount", "mountpoint", "setpriv"):
        if shutil.which(tool) is None:
            require(f"{tool} is not installed (Debian: apt-get install bindfs util-linux)")
    if not Path("/dev/fuse").exists():
        require("no /dev/fuse: this machine cannot mount FUSE filesystems")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        require(f"unshare -m is not allowed here: {probe.stderr.strip()}")


class Node:
    def __init__(
        self, name: str, top: str, nas: Path, commands: list[str], env: dict[str, str], log: Path
    ) -> None:
        self.name, self.mount = name, f"{top}/nas"
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", NODE],
            env={
                **env,
                "TOP": top,
                "MOUNT": self.mount,
                "NAS": str(nas),
                "COMMANDS": " ".join(commands),
                "PYTHON": sys.executable,
            },
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assemblyd(self, command: str) -> psutil.Process:
        """This node's `assemblyd <command>` process."""
        for proc in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmdline = proc.cmdline()
                ours = "assemblyd" in cmdline and "setpriv" not in cmdline[0]
                if ours and cmdline[-1:] == [command]:
                    return proc
        raise AssertionError(f"node {self.name} runs no `assemblyd {command}`")

    def stop(self) -> None:
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(self.proc.pid).children(recursive=True):
                if "assemblyd" in " ".join(proc.cmdline()):
                    proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _node_env(server: Server, queue: str, roots: list[str], **extra: Any) -> dict[str, str]:
    return server.env(
        ASSEMBLYD_QUEUE_NAME=queue,
        ASSEMBLYD_ROOTS=json.dumps(roots),
        ASSEMBLYD_HEARTBEAT_INTERVAL="1",
        ASSEMBLYD_PROGRESS_INTERVAL="0.2",
        ASSEMBLYD_STABLE_SECONDS="0.3",
        ASSEMBLYD_POLL_INTERVAL="0.3",
        ASSEMBLYD_RESCAN_INTERVAL="1",
        ASSEMBLYD_LOG_LEVEL="INFO",
        **{f"ASSEMBLYD_{k.upper()}": str(v) for k, v in extra.items()},
    )


def test_two_nodes_share_a_nas_at_different_paths_and_survive_a_node_killed(
    password_redis: Server, tmp_path: Path, media: Path
):
    _capable()
    nas = tmp_path / "nas"  # the NAS's own folder: no node mounts it at this path
    nas.mkdir()
    queue = "farm-nodes"
    a = Node(
        "a",
        "/mnt",
        nas,
        ["watch", "worker"],
        _node_env(password_redis, queue, ["/mnt/nas"]),
        tmp_path / "node-a.log",
    )
    b = Node(
        "b",
        "/srv",
        nas,
        ["worker"],
        _node_env(
            password_redis, queue, ["/srv/nas"], path_map=json.dumps({"/mnt/nas": "/srv/nas"})
        ),
        tmp_path / "node-b.log",
    )
    conn = password_redis.client()
    try:
        wait_for(lambda: len(conn.smembers(f"rq:workers:{queue}")) == 2, 60, "both workers")
        wait_for(lambda: "with polling" in a.log, 30, "node A's watcher")
        assert "['/mnt/nas'] with polling" in a.log  # a FUSE root: polled, automatically
        worker_a, worker_b = a.assemblyd("worker"), b.assemblyd("worker")
        assert not Path("/mnt/nas").exists() or not os.path.ismount("/mnt/nas")  # theirs only

        # "Another machine" writes the project straight into the NAS.
        project = make_project(nas, media, "reel1", [])
        for shot in SHOTS:
            shutil.copyfile(media / "long24.mp4", project / "shots" / shot)
        (project / "assembly.json").write_bytes(
            request_doc(SHOTS, resolution="1280x720", quality_preset="high")
        )
        status = StatusFile(project / "assembly.json")
        job_id = wait_for(lambda: status.read().get("job_id"), 60, "the watcher to poll it")
        assert fetch(conn, job_id).meta["request"] == "/mnt/nas/reel1/assembly.json"
        parts = wait_for(lambda: fetch(conn, job_id).meta.get("fanout"), 60, "the split")["parts"]

        def rq(part: str) -> Job:
            return Job.fetch(part, connection=conn, serializer=JSONSerializer)

        def on_b(part: str) -> bool:
            return str(rq(part).worker_name).endswith(f".{worker_b.pid}")

        # Node B finishes a part, then is killed (SIGKILL, the whole node) in its next.
        done_by_b = wait_for(
            lambda: [p for p in parts if rq(p).get_status() == "finished" and on_b(p)],
            120,
            "node B to finish a part",
        )
        killed = wait_for(
            lambda: next((p for p in parts if rq(p).get_status() == "started" and on_b(p)), None),
            120,
            "node B to start another part",
        )
        worker_b.send_signal(signal.SIGKILL)
        b.proc.wait(60)

        wait_for(lambda: status.read().get("state") in ("finished", "failed"), 240, "the cut")
        record = status.read()
        assert record["state"] == "finished", (record, a.log, b.log)
        assert (project / "exports" / "reel1.mp4").is_file()
        # The killed part ran once more, on node A, and only once.
        again = rq(killed)
        assert again.get_status() == "finished"
        assert str(again.worker_name).endswith(f".{worker_a.pid}")
        assert again.retries_left == 0
        assert f"{killed}: its worker died; shot" in a.log
        # Both nodes rendered parts, into one cache both see at their own path.
        assert done_by_b and all(rq(p).get_status() == "finished" for p in parts)
        segments = sorted((nas / ".assemblyd-cache").glob("??/*.mp4"))
        assert len(segments) == len(SHOTS), segments  # one entry per shot, not per node
        (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
        # The join (on A) found node B's segments under A's path: nothing encoded twice.
        assert entry["segments"] == {"encoded": 0, "cached": len(SHOTS), "copied": 0}
    finally:
        conn.close()
        for node in (a, b):
            node.stop()
    assert "Traceback" not in a.log.replace("its worker died", ""), a.log
