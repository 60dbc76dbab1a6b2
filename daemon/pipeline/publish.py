"""Publish stage: move a verified render into ``exports/`` without ever clobbering.

Renders are written under a hidden temporary name in ``exports/`` itself (same
filesystem, so the final move is a rename, not a copy) and appear under their real
name only once verified. An existing export is never overwritten: the new one gets
the next free suffix, ``name.mp4``, ``name-2.mp4``, ``name-3.mp4``...
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
from pathlib import Path

from ..errors import PublishError

PARTIAL_MARK = ".partial."


def exports_dir(project_dir: Path) -> Path:
    return project_dir / "exports"


def partial_path(project_dir: Path, name: str, ext: str, run_id: str) -> Path:
    """Where a render is written before it is verified. Hidden, so watchers skip it.
    FileNotFoundError if the project folder is gone: it is never re-created."""
    exports = exports_dir(project_dir)
    exports.mkdir(exist_ok=True)
    return exports / f".{name}.{run_id}{PARTIAL_MARK}{ext}"


def remove_partials(project_dir: Path, run_id: str) -> list[Path]:
    """Delete what a run left behind (after a crash or a kill)."""
    removed = []
    for path in exports_dir(project_dir).glob(f".*.{run_id}{PARTIAL_MARK}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)  # the render's scratch folder
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(partial: Path, name: str, ext: str) -> Path:
    """Give ``partial`` its public name; returns the path it was published as."""
    exports = partial.parent
    _fsync(partial)  # on a NAS, the bytes must be there before the name is
    for n in itertools.count(1):
        final = exports / (f"{name}.{ext}" if n == 1 else f"{name}-{n}.{ext}")
        try:
            # link() fails if the name exists, so two workers finishing the same
            # name at the same moment cannot overwrite each other.
            os.link(partial, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise PublishError(f"cannot publish: {exc.strerror}", path=str(final)) from exc
            # Filesystems without hard links (some SMB shares): check, then rename.
            # A race with another worker on the very same name is possible here.
            if final.exists():
                continue
            os.replace(partial, final)
            return final
        partial.unlink()
        return final
    raise AssertionError("unreachable")
