"""What `pip install .` puts on a machine: one import name, every room, the dashboard's
files, and a daemon that starts from the wheel alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[1]
SOURCES = {"daemon": "assemblyd", "web": "assemblyd/web"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("assemblyd-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A new virtual environment with the wheel installed; and what its
    site-packages held before."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = _site_packages(venv)
    before = {p.name for p in site.iterdir()}
    subprocess.run(
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return venv, before


def _site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python*/site-packages")
    return site


def _env_with_dependencies(venv: Path) -> dict[str, str]:
    # The wheel comes from the fresh venv; its dependencies from this one (the
    # editable install's path hook lives in a .pth file, which PYTHONPATH skips).
    deps = sysconfig.get_paths()["purelib"]
    return {**os.environ, "PYTHONPATH": deps, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}


def test_the_wheel_installs_one_top_level_name(fresh_venv: tuple[Path, set[str]]) -> None:
    venv, before = fresh_venv
    added = {p.name for p in _site_packages(venv).iterdir()} - before
    assert {n for n in added if not n.endswith(".dist-info")} == {"assemblyd"}
    # Nothing generic: `daemon` (python-daemon's) and `web` (web.py's) stay free.
    assert not {"daemon", "web"} & added


def test_the_wheel_holds_every_package_and_the_dashboard(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, target in SOURCES.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.relative_to(REPO / folder).as_posix()
            assert f"{target}/{rel}" in names, f"{folder}/{rel} is not packaged"
    for static in (REPO / "web" / "static").iterdir():
        assert f"assemblyd/web/static/{static.name}" in names


def test_every_room_imports_from_the_wheel(fresh_venv: tuple[Path, set[str]]) -> None:
    venv, _ = fresh_venv
    code = (
        "import assemblyd, assemblyd.cli, assemblyd.queue.worker, assemblyd.watch.watcher,"
        " assemblyd.web.app, assemblyd.render.compose;"
        "print(assemblyd.__file__)"
    )
    out = subprocess.run(
        [venv / "bin" / "python", "-c", code],
        env=_env_with_dependencies(venv),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().startswith(str(_site_packages(venv)))


def test_up_with_the_demo_renders_from_a_fresh_install(
    fresh_venv: tuple[Path, set[str]], tmp_path: Path
) -> None:
    """The README's first command, minus the download: `assemblyd up --root ./studio --demo`."""
    venv, _ = fresh_venv
    state = Path(tempfile.mkdtemp(prefix="asm-pkg-", dir="/tmp"))  # Unix socket paths are short
    env = {**_env_with_dependencies(venv), "ASSEMBLYD_STATE_DIR": str(state)}
    proc = subprocess.Popen(
        [venv / "bin" / "assemblyd", "up", "--root", "studio", "--demo", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    export = tmp_path / "studio" / "demo" / "exports" / "demo_v001.mp4"
    try:
        wait_for(lambda: export.is_file() or proc.poll() is not None, 240, "the demo export")
        assert export.is_file(), proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0
