"""The rooms of the house and the doors between them, read from the source with ``ast``.

Every import counts, wherever it is written: at the top of a module, inside a
function (a lazy import is still a dependency) or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source folder -> the import name it installs as (pyproject's package-dir).
SOURCES = {"daemon": "assemblyd", "web": "assemblyd.web"}

#: "" is the package itself (``assemblyd/__init__.py``): its version and nothing else.
BASE = {"", "errors", "settings", "states", "stamps", "lifecycle", "timecode", "untrusted"}
#: Which rooms each room may import from (besides itself). The order is the
#: architecture: the contract and media at the bottom, the render stage on them,
#: the pipeline on that, the queue on the pipeline, the watcher and the web app on
#: the queue, and the commands on top.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "states": set(),
    "stamps": set(),
    "lifecycle": set(),
    "timecode": set(),
    # The job states name the events a webhook may ask for (the terminal ones).
    "settings": {"states"},
    # Reading what anyone may have written (request files, status files, API bodies)
    # safely: a door every room that reads such input goes through. Its refusals are
    # errors, so it stands on errors alone.
    "untrusted": {"errors"},
    "request": {"errors", "timecode", "untrusted"},
    "media": {"errors", "timecode"},
    "render": BASE | {"request", "media"},
    # Editorial timelines read into events; the pipeline conforms them.
    "conform": BASE | {"request", "media"},
    "records": BASE,
    "pipeline": BASE | {"request", "media", "render", "records", "conform"},
    "queue": BASE | {"request", "media", "render", "records", "pipeline", "conform"},
    # A timeline file is a request too: which files are, the conform room knows.
    "watch": BASE | {"request", "records", "queue", "conform"},
    "web": BASE | {"request", "queue"},
}
#: The web app reads jobs and sends commands; it does not reach into the machinery.
WEB_MAY_IMPORT = {
    "assemblyd.errors",
    "assemblyd.settings",
    "assemblyd.states",
    "assemblyd.request.model",
    "assemblyd.queue.connection",
    "assemblyd.queue.views",
    # Redis, watchers, workers and queue depth: read-only, like views.
    "assemblyd.queue.farm",
    # A job's shots, outputs and pictures from its project.json entry, and its files
    # only as jobfiles clears them: read-only, like views.
    "assemblyd.queue.details",
    "assemblyd.queue.jobfiles",
    "assemblyd.queue.commands",
    "assemblyd.queue.events",
    # API bodies are parsed with the same size and depth limits as request files.
    "assemblyd.untrusted",
}
#: May import anything: they start the whole thing.
TOP = {"cli", "service", "__main__", ""}


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO)
    base = SOURCES[rel.parts[0]]
    parts = list(rel.with_suffix("").parts[1:])
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([base, *parts])


def modules() -> dict[str, Path]:
    found = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """Our modules that ``name`` imports, anywhere in its source."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from package import module` depends on that module.
            targets = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in known else source
                for a in node.names
            ]
        for target in targets:
            # The longest of our modules that the import names (import a.b.c -> a.b.c).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, found) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def room(module: str) -> str:
    """assemblyd.queue.jobs -> queue; assemblyd.web.api -> web; assemblyd.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def room_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for src, targets in edges.items():
        for dst in targets:
            if room(src) != room(dst):
                rooms.setdefault(room(src), set()).add(room(dst))
    return rooms


def test_the_checker_finds_cycles_and_resolves_relative_imports(tmp_path: Path) -> None:
    # The rule below is only as good as this reading of the source.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "m.py"
    source.write_text(
        "from . import jobs\nfrom ..render.model import Plan\n"
        "def f():\n    from ..queue import views\n    import assemblyd.states\n"
    )
    known = {
        "assemblyd.queue.jobs",
        "assemblyd.render.model",
        "assemblyd.queue.views",
        "assemblyd.states",
    }
    assert imports_of("assemblyd.queue.m", source, known) == known


def test_the_checker_reads_the_real_tree() -> None:
    edges = graph()
    assert "assemblyd.queue.jobs" in edges and "assemblyd.web.app" in edges
    assert "assemblyd.pipeline.run" in edges["assemblyd.queue.jobs"]
    assert "assemblyd.queue.events" in edges["assemblyd.web.live"]


def test_no_import_cycles_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_cycles_between_rooms() -> None:
    assert cycles(room_edges(graph())) == []


def test_each_room_imports_only_the_rooms_below_it() -> None:
    wrong = []
    for src, targets in graph().items():
        if room(src) in TOP:
            continue
        assert room(src) in ALLOWED, f"{src}: a new room; place it in ALLOWED"
        wrong += [
            f"{src} -> {dst}"
            for dst in sorted(targets)
            if room(dst) != room(src) and room(dst) not in ALLOWED[room(src)]
        ]
    assert wrong == []


def test_the_pipeline_knows_nothing_of_the_queue_the_watcher_or_the_web() -> None:
    for src, targets in graph().items():
        if room(src) in ("pipeline", "render", "media", "request", "records", "conform"):
            assert not {room(t) for t in targets} & {"queue", "watch", "web"}, src


def test_the_web_app_uses_only_the_queues_read_and_command_surface() -> None:
    for src, targets in graph().items():
        if room(src) == "web":
            outside = {t for t in targets if room(t) != "web"}
            assert outside <= WEB_MAY_IMPORT, f"{src} imports {sorted(outside - WEB_MAY_IMPORT)}"


@pytest.mark.parametrize("folder", sorted(SOURCES))
def test_every_folder_with_modules_is_a_package(folder: str) -> None:
    for path in (REPO / folder).rglob("*.py"):
        assert (path.parent / "__init__.py").is_file(), f"{path.parent} lacks __init__.py"
