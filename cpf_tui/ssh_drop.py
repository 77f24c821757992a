"""The secure file drop of `ssh-serve`: SFTP shut inside one folder per SSH user, with a size quota.

The kit's *plateforme de transfert de fichier*: administrators drop bulk-habilitation workbooks there and
fetch templates and result workbooks the app writes into the same folder (`CPF_TUI_DROP_DIR`).
Nothing else of the server's disk is reachable: no `..` above the folder, absolute paths are taken
inside it, symbolic and hard links cannot be created and existing links leading outside are refused.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

from asyncssh import (
    SFTPAttrs,
    SFTPFailure,
    SFTPInvalidFilename,
    SFTPName,
    SFTPOpUnsupported,
    SFTPPermissionDenied,
    SFTPQuotaExceeded,
    SFTPServer,
)

OUTSIDE = "Chemin hors de votre dossier de dépôt : accès refusé."
NO_LINKS = "Les liens (symboliques ou physiques) ne sont pas autorisés dans le dossier de dépôt."
FILE_MODE = 0o600
DIR_MODE = 0o700

_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def valid_ssh_user(name: str) -> bool:
    """An SSH user name usable as a folder name (letters, digits, `_ . -`, not starting with a dot)."""
    return bool(_SSH_USER.fullmatch(name))


def quota_message(limit: int) -> str:
    return f"Quota du dossier de dépôt dépassé ({format_size(limit)} au plus) : écriture refusée."


def format_size(size: int) -> str:
    """A byte count for people, in French (`1,5 Mo`)."""
    if size < 1024:
        return f"{size} o"
    value = size / 1024
    for unit in ("Ko", "Mo"):
        if value < 1024:
            return f"{value:.1f} {unit}".replace(".", ",")
        value /= 1024
    return f"{value:.1f} Go".replace(".", ",")


def ensure_user_folder(drop_root: Path, ssh_user: str) -> Path:
    """Create (mode 0700) and return the drop folder of one SSH user."""
    if not valid_ssh_user(ssh_user):
        raise ValueError(f"Nom d'utilisateur SSH invalide : {ssh_user!r}")
    drop_root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    folder = drop_root / ssh_user
    folder.mkdir(mode=DIR_MODE, exist_ok=True)
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"Le dossier de dépôt {folder} n'est pas un dossier ordinaire.")
    return folder


def disk_usage(folder: Path) -> int:
    """Bytes of the regular files under `folder` (links are not followed)."""
    total = 0
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(entry.path)
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


class DropQuota:
    """Bytes used in one user's folder, shared by every SFTP session of that user in this server.

    The count is re-read from the disk whenever a file is opened for writing (the app also writes
    there), then each write adds what it makes the file grow by.
    """

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.used = disk_usage(folder)

    def refresh(self) -> None:
        self.used = disk_usage(self.folder)

    def charge(self, growth: int) -> None:
        """Count `growth` more bytes, or refuse (SFTP error, French reason) beyond the limit."""
        if growth <= 0:
            return
        if self.used + growth > self.limit:
            raise SFTPQuotaExceeded(quota_message(self.limit))
        self.used += growth


class DropSFTPServer(SFTPServer):
    """SFTP confined to one folder: the client sees it as `/`."""

    def __init__(self, chan, folder: Path, quota: DropQuota) -> None:
        self.folder = os.path.realpath(folder)
        self.quota = quota
        super().__init__(chan, chroot=os.fsencode(self.folder))

    # -- paths ------------------------------------------------------------------------------
    def _inside(self, local: str) -> bool:
        return local == self.folder or local.startswith(self.folder + os.sep)

    def map_path(self, path: bytes) -> bytes:
        """The local path for a client path, or SFTPPermissionDenied when it would leave the folder."""
        if b"\0" in path:
            raise SFTPInvalidFilename("Nom de fichier invalide.")
        parts: list[bytes] = []
        for part in path.split(b"/"):
            if part in (b"", b"."):
                continue
            if part == b"..":
                if not parts:
                    raise SFTPPermissionDenied(OUTSIDE)
                parts.pop()
                continue
            parts.append(part)
        if not parts:
            return os.fsencode(self.folder)
        local = os.path.join(self.folder, *(os.fsdecode(p) for p in parts))
        parent = os.path.realpath(os.path.dirname(local))
        if not self._inside(parent):
            raise SFTPPermissionDenied(OUTSIDE)
        local = os.path.join(parent, os.path.basename(local))
        if os.path.islink(local) and not self._inside(os.path.realpath(local)):
            raise SFTPPermissionDenied(OUTSIDE)
        return os.fsencode(local)

    # -- refusals ---------------------------------------------------------------------------
    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise SFTPPermissionDenied(NO_LINKS)

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise SFTPPermissionDenied(NO_LINKS)

    def statvfs(self, path: bytes):
        raise SFTPOpUnsupported("Information sur le disque non disponible.")

    def fstatvfs(self, file_obj: object):
        raise SFTPOpUnsupported("Information sur le disque non disponible.")

    # -- files and folders ------------------------------------------------------------------
    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        """Open with fixed private permissions; the quota is re-read before any write."""
        from asyncssh import FXF_APPEND, FXF_WRITE

        if pflags & (FXF_WRITE | FXF_APPEND):
            self.quota.refresh()
        local = self.map_path(path)
        if os.path.isdir(local):
            raise SFTPFailure("Ceci est un dossier, pas un fichier.")
        return super().open(path, pflags, SFTPAttrs(permissions=FILE_MODE))

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        size = os.fstat(file_obj.fileno()).st_size  # type: ignore[attr-defined]
        appending = "a" in getattr(file_obj, "mode", "")
        end = size + len(data) if appending else offset + len(data)
        self.quota.charge(end - size)
        return super().write(file_obj, offset, data)

    def _safe_attrs(self, attrs: SFTPAttrs, current_size: int) -> SFTPAttrs:
        """Keep only size and times: no owner or permission changes (no setuid files)."""
        if attrs.size is not None:
            self.quota.refresh()
            self.quota.charge(attrs.size - current_size)
        return SFTPAttrs(size=attrs.size, atime=attrs.atime, atime_ns=attrs.atime_ns, mtime=attrs.mtime,
                         mtime_ns=attrs.mtime_ns)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        local = self.map_path(path)
        super().setstat(path, self._safe_attrs(attrs, os.stat(local).st_size))

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        local = self.map_path(path)
        super().lsetstat(path, self._safe_attrs(attrs, os.lstat(local).st_size))

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        size = os.fstat(file_obj.fileno()).st_size  # type: ignore[attr-defined]
        super().fsetstat(file_obj, self._safe_attrs(attrs, size))

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        super().mkdir(path, SFTPAttrs(permissions=DIR_MODE))

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        """List a folder; `..` is described like `.` so the root never looks above itself."""
        local = self.map_path(path)
        here = SFTPAttrs.from_local(os.stat(local))
        yield SFTPName(b".", attrs=here)
        yield SFTPName(b"..", attrs=here)
        with os.scandir(local) as entries:
            for entry in entries:
                yield SFTPName(os.fsencode(entry.name), attrs=SFTPAttrs.from_local(entry.stat(follow_symlinks=False)))

    def realpath(self, path: bytes) -> bytes:
        local = os.path.realpath(self.map_path(path))
        if not self._inside(os.fsdecode(local)):
            raise SFTPPermissionDenied(OUTSIDE)
        return self.reverse_map_path(local)

    def readlink(self, path: bytes) -> bytes:
        if not os.path.islink(self.map_path(path)):
            raise SFTPFailure("Ce chemin n'est pas un lien.")
        return self.realpath(path)
