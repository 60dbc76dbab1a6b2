"""Web fixtures: the real app on a loopback port, against the session's real Redis."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assemblyd.settings import Settings
from assemblyd.states import TERMINAL
from assemblyd.web.server import WebServer
from tests.conftest import make_project, wait_for
from tests.web.browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (skipped without it, unless CI requires it)."""
    with chromium() as running:
        yield running


class App:
    """A running WebServer plus an HTTP client pointed at it."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.url = server.url
        self.ws_url = "ws" + self.url[len("http") :]
        self.web = server.app.state.web
        self.hub = self.web.hub
        headers = (
            {"Authorization": f"Bearer {server.settings.api_token}"}
            if server.settings.api_token
            else {}
        )
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def submit(self, project: str, shots: list[Any], **doc: Any) -> httpx.Response:
        return self.http.post(
            "/api/v1/assembly/process", json={"project": project, "shots": shots, **doc}
        )

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/assembly/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def start_app(service_settings: Settings, redis_url: str) -> Iterator[Callable[..., App]]:
    """Start the app; keyword arguments change settings (api_token=..., roots=...)."""
    running: list[App] = []

    def start(**changes: Any) -> App:
        settings = service_settings.model_copy(update={"web_port": 0, **changes})
        server = WebServer(settings, str(settings.redis_url))
        server.start()
        app = App(server)
        running.append(app)
        return app

    yield start
    for app in running:
        app.http.close()
        app.server.stop()


@pytest.fixture
def app(start_app: Callable[..., App]) -> App:
    return start_app()


#: Small and fast to render: the suite renders many times.
SMALL = {"resolution": "320x180", "quality_preset": "draft"}
#: Long enough to watch and cancel mid-render: 20 shots re-encoded to ProRes.
LONG_OUTPUT = {"resolution": "640x360", "quality_preset": "high", "output_format": "mov"}
LONG_COPIES = 20


@pytest.fixture
def project_with(root: Path, media: Path) -> Callable[..., str]:
    """A project folder under the root holding ``shots``; returns its relative path."""

    def make(name: str, shots: list[str]) -> str:
        make_project(root, media, name, shots)
        return name

    return make


@pytest.fixture
def long_project(root: Path, media: Path) -> Callable[[str], tuple[str, list[str]]]:
    """A project of distinct copies of one clip (the segment cache knows a copy by its
    path and inode, so each is really encoded); returns its path and shot list."""

    def make(name: str) -> tuple[str, list[str]]:
        folder = make_project(root, media, name, [])
        shots = []
        for i in range(LONG_COPIES):
            shutil.copyfile(media / "long24.mp4", folder / "shots" / f"long_{i:02d}.mp4")
            shots.append(f"shots/long_{i:02d}.mp4")
        return name, shots

    return make


#: A master and a review copy with burn-ins and a loudness target, as issue 14 has it.
TWO_OUTPUTS = [
    {"name": "master", "output_format": "mov", "resolution": "320x180", "quality_preset": "draft"},
    {
        "name": "review",
        "output_format": "mp4",
        "resolution": "320x180",
        "quality_preset": "draft",
        "burnins": [
            {"field": "text", "text": "CONFIDENTIAL: ACME", "position": "top_center"},
            {"field": "frame", "position": "bottom_right"},
        ],
        "loudness": {"integrated": -16},
    },
]
DELIVERY_SHOTS = ["wide24.mp4", "portrait25.mp4", "wide30.mp4"]


@dataclass
class Delivered:
    """A finished job of TWO_OUTPUTS, rendered by a real worker."""

    job_id: str
    project: Path
    rel: str

    def entry(self) -> dict[str, Any]:
        data = json.loads((self.project / "project.json").read_text())
        entry: dict[str, Any] = next(e for e in data["assemblies"] if e["id"] == self.job_id)
        return entry


@pytest.fixture
def deliver(
    app: App, workers: Any, project_with: Callable[..., str], root: Path
) -> Callable[[str], Delivered]:
    """Render TWO_OUTPUTS of three shots in the project ``name``, with one worker."""

    def run(name: str) -> Delivered:
        if not workers.procs:
            workers.start(1)
        rel = project_with(name, DELIVERY_SHOTS)
        shots = [f"shots/{s}" for s in DELIVERY_SHOTS]
        submitted = app.submit(rel, shots, name=name.rsplit("/", 1)[-1], outputs=TWO_OUTPUTS)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        wait_for(lambda: app.job(job_id)["state"] in TERMINAL, 120, "the render")
        assert app.job(job_id)["state"] == "finished", app.job(job_id)
        return Delivered(job_id, root / rel, rel)

    return run
