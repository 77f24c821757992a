"""The secure file drop of `ssh-serve`: SFTP shut inside one folder per SSH user, with a size quota.

The kit's *plateforme de transfert de fichier*: administrators drop bulk-habilitation workbooks there and
fetch templates and result workbooks the app writes into the same folder (`CPF_TUI_DROP_DIR`).
Nothing else of the server's disk is reachable: no `..` above the folder, absolute paths are taken
inside it, symbolic and hard links cannot be created, and links planted from the server side
(a symbolic link, or a file with other hard links: st_nlink > 1) cannot be opened.

Resources are bounded: the quota counts bytes, a block per folder and the number of entries; open
handles (files and folders) are capped per session and per SSH user. An upload refused by the quota
is removed at once and the reason is written to the client's terminal (OpenSSH's `sftp` shows only
« Failure » for the SFTP status itself). File names with control or bidi characters are refused.
"""

from __future__ import annotations

import os
import re
import stat
import weakref
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

from cpf_tui.text import has_control_chars

OUTSIDE = "Chemin hors de votre dossier de dépôt : accès refusé."
NO_LINKS = "Les liens (symboliques ou physiques) ne sont pas autorisés dans le dossier de dépôt."
CONTROL_NAME = "Nom de fichier refusé : il contient des caractères de contrôle."
FILE_MODE = 0o600
DIR_MODE = 0o700
DIR_COST = 4096
"""Bytes a folder counts for in the quota (one disk block), so empty folders cannot pile up for free."""

_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def valid_ssh_user(name: str) -> bool:
    """An SSH user name usable as a folder name (letters, digits, `_ . -`, not starting with a dot)."""
    return bool(_SSH_USER.fullmatch(name))


def quota_message(limit: int) -> str:
    return f"Quota du dossier de dépôt dépassé ({format_size(limit)} au plus) : écriture refusée."


def entries_message(limit: int) -> str:
    return f"Trop de fichiers et dossiers dans le dossier de dépôt ({limit} au plus) : création refusée."


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


def disk_usage(folder: Path) -> tuple[int, int]:
    """Bytes counted under `folder` (regular files, plus `DIR_COST` per folder) and its number of entries.

    Links are not followed; every entry counts (files, folders, anything else).
    """
    total = 0
    entries_count = 0
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            entries_count += 1
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                total += DIR_COST
                stack.append(entry.path)
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total, entries_count


class DropQuota:
    """Bytes and entries used in one user's folder, shared by every SFTP session of that user in this server.

    The count is re-read from the disk whenever a file is opened for writing or a folder is made (the
    app also writes there), then each write adds what it makes the file grow by.
    """

    def __init__(self, folder: Path, limit: int, max_entries: int = 10_000) -> None:
        self.folder = folder
        self.limit = limit
        self.max_entries = max_entries
        self.used, self.entries = disk_usage(folder)

    def refresh(self) -> None:
        self.used, self.entries = disk_usage(self.folder)

    def charge_entry(self, size: int = 0) -> None:
        """Count one more entry of `size` bytes (a new file, or a folder), or refuse beyond a limit."""
        if self.entries + 1 > self.max_entries:
            raise SFTPQuotaExceeded(entries_message(self.max_entries))
        self.charge(size)
        self.entries += 1

    def charge(self, growth: int) -> None:
        """Count `growth` more bytes, or refuse (SFTP error, French reason) beyond the limit."""
        if growth <= 0:
            return
        if self.used + growth > self.limit:
            raise SFTPQuotaExceeded(quota_message(self.limit))
        self.used += growth


class HandleBudget:
    """Open SFTP handles (files and folders) of one SSH user, across all of that user's sessions."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _Listing:
    """A folder listing read at once (no descriptor stays open), served by readdir in pieces."""

    def __init__(self, names: list[SFTPName]) -> None:
        self._names = iter(names)

    def __aiter__(self) -> _Listing:
        return self

    async def __anext__(self) -> SFTPName:
        try:
            return next(self._names)
        except StopIteration:
            raise StopAsyncIteration from None


class DropSFTPServer(SFTPServer):
    """SFTP confined to one folder: the client sees it as `/`."""

    def __init__(self, chan, folder: Path, quota: DropQuota, budget: HandleBudget | None = None,
                 handles_per_session: int = 64) -> None:
        self.folder = os.path.realpath(folder)
        self.quota = quota
        self.budget = budget or HandleBudget(handles_per_session)
        self.handles_per_session = handles_per_session
        self.handles = 0
        self.listings: list[weakref.finalize] = []
        self.writing: dict[int, str] = {}
        """Local path of each file open for writing, by id of its file object."""
        self.refused: set[int] = set()
        """Files whose upload the quota refused: removed already, no write accepted any more."""
        super().__init__(chan, chroot=os.fsencode(self.folder))

    # -- handles -------------------------------------------------------------------------------
    def _take_handle(self) -> None:
        if self.handles >= self.handles_per_session:
            raise SFTPFailure(f"Trop de fichiers ouverts dans cette session ({self.handles_per_session} au plus).")
        if self.budget.open >= self.budget.limit:
            raise SFTPFailure(f"Trop de fichiers ouverts pour ce compte SSH ({self.budget.limit} au plus).")
        self.handles += 1
        self.budget.open += 1

    def _release_handle(self) -> None:
        self.handles -= 1
        self.budget.open -= 1

    def exit(self) -> None:
        """The session ends (asyncssh closed its files already): folder handles go back to the user's budget."""
        for release in self.listings:
            release()  # a finalizer runs once: a listing already closed is not counted twice
        self.listings.clear()
        super().exit()

    # -- paths ------------------------------------------------------------------------------
    def _inside(self, local: str) -> bool:
        return local == self.folder or local.startswith(self.folder + os.sep)

    def map_path(self, path: bytes) -> bytes:
        """The local path for a client path, or SFTPPermissionDenied when it would leave the folder."""
        if b"\0" in path:
            raise SFTPInvalidFilename("Nom de fichier invalide.")
        if has_control_chars(os.fsdecode(path)) or b"\n" in path or b"\t" in path:
            raise SFTPInvalidFilename(CONTROL_NAME)
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
        """Open with fixed private permissions; links refused; the quota is re-read before any write."""
        from asyncssh import FXF_APPEND, FXF_CREAT, FXF_WRITE

        writing = bool(pflags & (FXF_WRITE | FXF_APPEND))
        if writing:
            self.quota.refresh()
        local = os.fsdecode(self.map_path(path))
        try:
            before = os.lstat(local)
        except FileNotFoundError:
            before = None
        if before is not None:
            if stat.S_ISDIR(before.st_mode):
                raise SFTPFailure("Ceci est un dossier, pas un fichier.")
            if stat.S_ISLNK(before.st_mode) or (stat.S_ISREG(before.st_mode) and before.st_nlink > 1):
                raise SFTPPermissionDenied(NO_LINKS)
            if not stat.S_ISREG(before.st_mode):  # a FIFO or device planted there would block or leak
                raise SFTPPermissionDenied("Ceci n'est pas un fichier ordinaire : accès refusé.")
        elif writing and pflags & FXF_CREAT:
            self.quota.charge_entry()
        self._take_handle()
        try:
            file_obj = super().open(path, pflags, SFTPAttrs(permissions=FILE_MODE))
        except BaseException:
            self._release_handle()
            raise
        info = os.fstat(file_obj.fileno())  # type: ignore[attr-defined]
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:  # linked between the check and the open
            file_obj.close()  # type: ignore[attr-defined]
            self._release_handle()
            raise SFTPPermissionDenied(NO_LINKS)
        if writing:
            self.writing[id(file_obj)] = local
        return file_obj

    def close(self, file_obj: object) -> None:
        key = id(file_obj)
        try:
            super().close(file_obj)
        finally:
            self.writing.pop(key, None)
            self.refused.discard(key)
            self._release_handle()

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        key = id(file_obj)
        if key in self.refused:
            raise SFTPQuotaExceeded(quota_message(self.quota.limit))
        size = os.fstat(file_obj.fileno()).st_size  # type: ignore[attr-defined]
        appending = "a" in getattr(file_obj, "mode", "")
        end = size + len(data) if appending else offset + len(data)
        try:
            self.quota.charge(end - size)
        except SFTPQuotaExceeded as exc:
            self._drop_partial(file_obj, str(exc.reason))
            raise
        return super().write(file_obj, offset, data)

    def _drop_partial(self, file_obj: object, reason: str) -> None:
        """An upload went over the quota: its partial file is removed and the client's terminal told why."""
        key = id(file_obj)
        self.refused.add(key)
        local = self.writing.get(key)
        if local is not None:
            try:
                current = os.lstat(local)
                if os.path.samestat(current, os.fstat(file_obj.fileno())):  # type: ignore[attr-defined]
                    os.unlink(local)
            except OSError:
                pass
        try:
            os.ftruncate(file_obj.fileno(), 0)  # type: ignore[attr-defined]
        except OSError:
            pass
        self.quota.refresh()
        name = os.path.basename(local) if local else ""
        try:
            self.channel.write_stderr(f"{reason} Le fichier partiel « {name} » a été supprimé.\r\n".encode())
        except Exception:  # noqa: BLE001 - the client may be gone; the SFTP status still says it
            pass

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
        self.map_path(path)
        self.quota.refresh()
        self.quota.charge_entry(DIR_COST)
        super().mkdir(path, SFTPAttrs(permissions=DIR_MODE))

    def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:  # type: ignore[override]
        """List a folder (read at once, one handle counted until it is closed); `..` is described like
        `.` so the root never looks above itself."""
        local = self.map_path(path)
        here = SFTPAttrs.from_local(os.stat(local))
        names = [SFTPName(b".", attrs=here), SFTPName(b"..", attrs=here)]
        with os.scandir(local) as entries:
            for entry in entries:
                names.append(SFTPName(os.fsencode(entry.name),
                                      attrs=SFTPAttrs.from_local(entry.stat(follow_symlinks=False))))
        self._take_handle()
        listing = _Listing(names)
        # asyncssh forgets a folder handle on close without telling the server: count it until then.
        self.listings = [release for release in self.listings if release.alive]
        self.listings.append(weakref.finalize(listing, self._release_handle))
        return listing

    def realpath(self, path: bytes) -> bytes:
        local = os.path.realpath(self.map_path(path))
        if not self._inside(os.fsdecode(local)):
            raise SFTPPermissionDenied(OUTSIDE)
        return self.reverse_map_path(local)

    def readlink(self, path: bytes) -> bytes:
        if not os.path.islink(self.map_path(path)):
            raise SFTPFailure("Ce chemin n'est pas un lien.")
        return self.realpath(path)
