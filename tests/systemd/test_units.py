"""The systemd units in systemd/ and the example config in config/assemblyd.toml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from assemblyd.settings import Settings

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
WATCH = "assemblyd-watch.service"
WORKER = "assemblyd-worker@.service"
WEB = "assemblyd-web.service"
TARGET = "assemblyd.target"
SERVICES = (WATCH, WORKER, WEB)
#: The worst exposure `systemd-analyze security` may give any unit (issue 11).
MAX_EXPOSURE = 2.5
EXAMPLE_EXEC = "/opt/assemblyd/venv/bin/assemblyd"
CONFIG = REPO / "config" / "assemblyd.toml"
#: A documented setting: exactly "# name = value" (explanations use other forms).
SETTING_LINE = re.compile(r"^# ([a-z_][a-z0-9_]*) = (.*)$")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value, in order (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {raw!r} outside a section"
        assert "=" in line, f"{path.name}: not a key=value line: {raw!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        current.setdefault(key, []).append(value)
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, got {values}"
    return values[0]


def joined(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> list[str]:
    return [word for value in unit.get(section, {}).get(key, []) for word in value.split()]


def installed_assemblyd() -> str:
    found = shutil.which("assemblyd") or str(Path(sys.executable).parent / "assemblyd")
    if not Path(found).is_file():
        pytest.skip(f"no installed assemblyd script to point ExecStart at ({found})")
    return found


# --- systemd-analyze verify ----------------------------------------------------


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (it comes with the systemd package)")
    # verify fails when ExecStart's binary does not exist, and the units name the
    # example /opt/assemblyd/venv path. Check copies whose ExecStart points at the
    # assemblyd installed with this test run instead; nothing else is changed.
    # (User=assemblyd need not exist: verify does not resolve users.)
    exe = installed_assemblyd()
    for unit in (*SERVICES, TARGET):
        text = (UNITS / unit).read_text()
        if unit in SERVICES:
            assert f"ExecStart={EXAMPLE_EXEC} " in text
            text = text.replace(f"ExecStart={EXAMPLE_EXEC} ", f"ExecStart={exe} ")
        (tmp_path / unit).write_text(text)
    # The template is verified through an instance, as systemctl would load it.
    names = [WATCH, "assemblyd-worker@1.service", WEB, TARGET]
    proc = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # Unknown keys or bad values are only warnings ("..., ignoring") with exit 0;
    # any message about our units is a failure. Messages about the host's own
    # units (common in containers) are not ours to fix.
    ours = [line for line in output.splitlines() if str(tmp_path) in line or "assemblyd" in line]
    assert not ours, "\n".join(ours)


# --- what the units say --------------------------------------------------------

HARDENING = {
    "User": "assemblyd",
    "Group": "assemblyd",
    "UMask": "0027",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "StateDirectory": "assemblyd",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "PrivateDevices": "yes",
    "ProtectProc": "invisible",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
}


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened(name: str) -> None:
    unit = parse_unit(UNITS / name)
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, (name, key)
    assert sorted(joined(unit, "Service", "RestrictAddressFamilies")) == [
        "AF_INET",
        "AF_INET6",
        "AF_UNIX",
    ]
    writable = joined(unit, "Service", "ReadWritePaths")
    assert "/srv/projects" in writable
    assert "/var/lib/assemblyd" in writable
    env = unit["Service"]["Environment"]
    assert "ASSEMBLYD_STATE_DIR=/var/lib/assemblyd" in env
    assert "ASSEMBLYD_CONFIG=/etc/assemblyd/assemblyd.toml" in env
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Install", "WantedBy") == TARGET
    assert TARGET in joined(unit, "Unit", "PartOf")


@pytest.mark.parametrize("name", SERVICES)
def test_services_keep_what_python_and_ffmpeg_need(name: str) -> None:
    unit = parse_unit(UNITS / name)
    filters = unit["Service"]["SystemCallFilter"]
    assert filters[0] == "@system-service"
    # psutil reads /proc/stat and /proc/meminfo to see the service's own ffmpeg.
    assert "ProcSubset" not in unit["Service"]


@pytest.mark.parametrize("name", SERVICES)
def test_systemd_analyze_security_rates_every_unit_safe_enough(name: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        reason = "systemd-analyze is not installed (it comes with the systemd package)"
        if os.environ.get("ASSEMBLYD_REQUIRE_FARM") == "1":
            pytest.fail(f"{reason}, and ASSEMBLYD_REQUIRE_FARM=1 requires it")
        pytest.skip(reason)
    proc = subprocess.run(
        [
            analyze,
            "security",
            "--offline=true",
            "--no-pager",
            f"--threshold={int(MAX_EXPOSURE * 10)}",
            str(UNITS / name),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert match, output
    score = float(match.group(1))
    print(f"{name}: exposure {score}")
    assert score <= MAX_EXPOSURE, output
    assert proc.returncode == 0, output  # --threshold: systemd's own verdict agrees


def test_web_unit_serves_the_app() -> None:
    unit = parse_unit(UNITS / WEB)
    assert one(unit, "Service", "ExecStart").split() == [EXAMPLE_EXEC, "web"]
    assert WATCH in joined(unit, "Unit", "After")  # its embedded Redis first


def test_watch_unit_runs_the_watcher() -> None:
    unit = parse_unit(UNITS / WATCH)
    assert one(unit, "Service", "ExecStart").split() == [EXAMPLE_EXEC, "watch"]


def test_worker_template_runs_a_worker_with_a_warm_shutdown() -> None:
    unit = parse_unit(UNITS / WORKER)
    assert one(unit, "Service", "ExecStart").split() == [EXAMPLE_EXEC, "worker"]
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    # SIGTERM to the main process only (RQ's warm shutdown; the horse would die on
    # it), SIGKILL to the whole cgroup (horse group, ffmpeg) at the deadline.
    assert one(unit, "Service", "KillMode") == "mixed"
    timeout = one(unit, "Service", "TimeoutStopSec")
    assert re.fullmatch(r"\d+min", timeout) and int(timeout[:-3]) >= 10, timeout
    # Stopped before the watcher, whose embedded Redis it is using.
    assert WATCH in joined(unit, "Unit", "After")


def test_target_groups_the_services() -> None:
    unit = parse_unit(UNITS / TARGET)
    assert WATCH in joined(unit, "Unit", "Wants")
    assert "assemblyd-worker@" in (UNITS / TARGET).read_text()  # how to add workers
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


# --- the example config ----------------------------------------------------------


def documented_settings() -> dict[str, object]:
    """Uncomment every "# name = value" line of the example config and parse it."""
    lines = [
        m.group(1) + " = " + m.group(2)
        for m in map(SETTING_LINE.match, CONFIG.read_text().splitlines())
        if m
    ]
    return tomllib.loads("\n".join(lines))  # a repeated name fails here


def test_example_config_changes_nothing() -> None:
    assert tomllib.loads(CONFIG.read_text()) == {}


def test_example_config_documents_the_true_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defaults only: no ASSEMBLYD_* variables, an empty config file, and a working
    # directory without config/assemblyd.toml ("~" and relative paths resolve alike).
    for var in [v for v in os.environ if v.startswith("ASSEMBLYD_")]:
        monkeypatch.delenv(var)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv("ASSEMBLYD_CONFIG", str(empty))
    monkeypatch.chdir(tmp_path)

    values = documented_settings()
    assert set(values) == set(Settings.model_fields)
    documented = Settings(**values)
    defaults = Settings()
    for name, field in Settings.model_fields.items():
        if field.default is None:
            # TOML has no null: an unset-by-default setting shows an example value,
            # which must still be valid.
            assert getattr(documented, name) is not None, name
            continue
        assert getattr(documented, name) == getattr(defaults, name), name
