"""Folders and files the application writes: for its own system user only (0700 / 0600), whatever the umask.

The database holds password hashes, session tokens and, until `mail send`, temporary passwords; the
result workbooks hold identifiers; exports hold names and e-mail addresses; the audit key signs the
journal. Every writer goes through this module (docs/security.md, § 11). Headless: no Textual.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str], *, restrict_existing: bool = False) -> Path:
    """Create `path` and its missing parents as 0700 folders; returns it.

    A folder that already existed keeps its mode (it may be the person's current folder), unless
    `restrict_existing` (the data folder, whose content is the application's own).
    """
    folder = Path(path).expanduser()
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by another process
        os.chmod(created, DIR_MODE)  # the umask may have removed bits, never added: make it exact
    if restrict_existing and not missing:
        restrict(folder, DIR_MODE)
    return folder


def restrict(path: str | os.PathLike[str], mode: int = FILE_MODE) -> None:
    """Set `mode` on an existing file or folder of ours (left alone when another user owns it)."""
    info = os.stat(path)
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)


def ensure_private_file(path: str | os.PathLike[str], *, restrict_existing: bool = False) -> Path:
    """Make sure `path` exists: created empty as a 0600 file; an existing one keeps its mode (a group
    setup may share it on purpose, docs/deploy.md § 3) unless `restrict_existing` (and it is ours)."""
    target = Path(path)
    private_dir(target.parent)
    try:
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if restrict_existing:
            restrict(target)
        return target
    try:
        os.fchmod(handle, FILE_MODE)
    finally:
        os.close(handle)
    return target


def open_private(path: str | os.PathLike[str], mode: str = "w", **options: Any) -> IO[Any]:
    """Open `path` for writing as a 0600 file (created, or emptied and restricted), for a writer that
    streams (`options` go to `open`: encoding, newline)."""
    target = Path(path)
    private_dir(target.parent)
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(handle, FILE_MODE)
        return os.fdopen(handle, mode, **options)
    except BaseException:
        os.close(handle)
        raise


def write_private(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Write a 0600 file through `write(handle)`, atomically (a temporary name in the same folder,
    renamed at the end, so a reader never sees half a file); returns the path."""
    target = Path(path)
    private_dir(target.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_private_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """`write_private` of a bytes value."""
    return write_private(path, lambda out: out.write(data))


def create_private_exclusive(path: str | os.PathLike[str], data: bytes) -> Path:
    """Create a new 0600 file holding `data`; FileExistsError if it exists (never overwrites a key)."""
    target = Path(path)
    private_dir(target.parent)
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(handle, FILE_MODE)
        os.write(handle, data)
        os.fsync(handle)
    finally:
        os.close(handle)
    return target
