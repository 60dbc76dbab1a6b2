import tempfile
from pathlib import Path

import pytest

from assemblyd.errors import ServiceError
from assemblyd.queue.connection import connect
from assemblyd.queue.embedded import EmbeddedRedis


@pytest.fixture
def short_dir():
    with tempfile.TemporaryDirectory(prefix="asm-", dir="/tmp") as d:
        yield Path(d)


def test_embedded_redis_is_private_persistent_and_stops(short_dir):
    server = EmbeddedRedis(short_dir / "state")
    url = server.start()
    assert url.startswith("unix://")
    client = connect(url)
    assert client.config_get("port")["port"] == "0"  # no TCP listener at all
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.set("k", "v")
    proc = server.proc
    server.stop()
    assert proc is not None and proc.poll() is not None
    # Data survives a restart: the state folder is the database.
    server.start()
    assert connect(server.url).get("k") == b"v"
    with pytest.raises(ServiceError, match="already answers"):
        EmbeddedRedis(short_dir / "state").start()
    server.stop()
