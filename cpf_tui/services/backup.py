"""Backing up and restoring a SQLite database: `cpf-tui sauvegarde` and `cpf-tui restauration`.

The backup goes through SQLite's online backup API in one step, that is inside one read
transaction: with the write-ahead log the sessions keep writing meanwhile, and the copy is the
database as it was when the step began (never half of a transaction). The copy is written under a
temporary name in the target's folder (0600), switched to a rollback journal (one self-contained
file), checked (`PRAGMA integrity_check`) and only then renamed to its final name.

A restoration checks the backup on a private copy before touching anything: an SQLite file,
intact, with a schema this version knows (an older one is migrated, on the copy), and an audit
journal whose chain verifies with the journal's key. It refuses to replace a database that a
process still has open (sessions, `ssh-serve`, `mail send`). The database being replaced is first
kept next to it (`….avant-restauration-AAAAMMJJ-HHMMSS`).

PostgreSQL is backed up with its own tools (`pg_dump`, `pg_restore`): docs/deploy.md § 3.
Headless: no Textual.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cpf_tui import clock
from cpf_tui.errors import Conflict, CpfError, NotFound

SQLITE_HEADER = b"SQLite format 3\x00"

POSTGRES_BACKUP = (
    "La base configurée est PostgreSQL : « cpf-tui sauvegarde » ne sert qu'aux bases SQLite. "
    "Sauvegardez avec pg_dump, par exemple « pg_dump --format=custom --file=cpf-$(date +%F).dump "
    "postgres://cpf@serveur/cpf » (cohérent pendant que les sessions écrivent ; voir docs/deploy.md)."
)
POSTGRES_RESTORE = (
    "La base configurée est PostgreSQL : « cpf-tui restauration » ne sert qu'aux bases SQLite. "
    "Restaurez avec pg_restore dans une base neuve (« createdb cpf_restauree && pg_restore "
    "--dbname=cpf_restauree FICHIER.dump »), vérifiez-la (cpf-tui check, cpf-tui audit verify) puis "
    "faites-la pointer par la configuration (voir docs/deploy.md)."
)
DISK_FULL = "disque plein ou taille de fichier maximale atteinte"


class BackupError(CpfError):
    """A backup or a restoration could not be done; nothing was changed."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds: its path, size, schema version and journal length."""

    path: Path
    size: int
    migrations: tuple[str, ...]
    audit_events: int

    def summary(self) -> str:
        last = self.migrations[-1] if self.migrations else "aucune"
        return (f"Sauvegarde écrite : {self.path} ({self.size:,} octets, schéma {last}, "
                f"{self.audit_events:,} événement(s) au journal).").replace(",", "\u202f")


@dataclass(frozen=True)
class RestoreReport:
    """What a restoration did."""

    target: Path
    previous: Path | None
    migrated: tuple[str, ...]
    audit_events: int


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite://` URL (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite://") or ":memory:" in url:
        return None
    return Path(url[len("sqlite://"):].split("?", 1)[0]).expanduser()


def known_migrations() -> tuple[str, ...]:
    """Names of the migrations shipped with this version, in order."""
    import pkgutil

    import models.migrations

    return tuple(sorted(info.name for info in pkgutil.iter_modules(models.migrations.__path__)
                        if info.name[:4].isdigit()))


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return DISK_FULL
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return DISK_FULL
    if name.startswith("SQLITE_IOERR"):
        return "erreur d'écriture sur le disque : disque plein, quota ou taille maximale de fichier atteinte"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"erreur SQLite : {exc}"


def _applied_migrations(conn: sqlite3.Connection) -> tuple[str, ...]:
    try:
        rows = conn.execute("SELECT name FROM tortoise_migrations WHERE app = 'models' ORDER BY id").fetchall()
    except sqlite3.DatabaseError:
        return ()
    return tuple(row[0] for row in rows)


def _audit_events(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT count(*) FROM audit_event").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0


def _fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _copy(source: str | Path, temporary: Path, *, busy_timeout: float = 30.0) -> tuple[tuple[str, ...], int]:
    """Copy the database `source` into the (empty, 0600) file `temporary` with the backup API, in one
    step; switch the copy to a rollback journal and check it. Returns (migrations, audit events)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=busy_timeout)
    try:
        dst = sqlite3.connect(temporary)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"La copie n'est pas intègre ({verdict}) : rien n'a été écrit.")
            return _applied_migrations(dst), _audit_events(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _temporary_next_to(target: Path) -> Path:
    from cpf_tui.private_files import FILE_MODE, private_dir

    private_dir(target.parent)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.fchmod(handle, FILE_MODE)
    os.close(handle)
    return Path(name)


def _remove_partial(path: Path) -> None:
    for leftover in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


def backup(database_url: str, target: str | os.PathLike[str]) -> BackupReport:
    """Write a consistent copy of the configured SQLite database to `target` (a new 0600 file)."""
    source = sqlite_path(database_url)
    if source is None:
        if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
            raise BackupError(POSTGRES_BACKUP)
        raise BackupError("Une base en mémoire ne se sauvegarde pas.")
    if not source.is_file():
        raise NotFound(f"Base de données introuvable : {source}.")
    destination = Path(target).expanduser()
    if destination.exists():
        raise Conflict(f"Le fichier {destination} existe déjà : choisissez un autre nom (rien n'a été écrit).")
    if destination.resolve() == source.resolve():
        raise BackupError("La sauvegarde ne peut pas remplacer la base elle-même.")
    temporary = _temporary_next_to(destination)
    try:
        migrations, events = _copy(source, temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        if destination.exists():
            raise Conflict(f"Le fichier {destination} existe déjà : choisissez un autre nom (rien n'a été écrit).")
        os.replace(temporary, destination)
        _fsync_folder(destination.parent)
    except CpfError:
        _remove_partial(temporary)
        raise
    except (OSError, sqlite3.Error) as exc:
        _remove_partial(temporary)
        raise BackupError(f"Sauvegarde impossible ({_describe_os_error(exc)}) : aucun fichier n'a été écrit.") from None
    return BackupReport(destination, destination.stat().st_size, migrations, events)


# -- restoration --------------------------------------------------------------------------------------


def processes_using(database: Path) -> list[int]:
    """Process ids (other than this one) holding the database, its journal or its WAL files open.

    Only the processes of this system user can be inspected, which are the ones that can open the
    database (docs/deploy.md § 3)."""
    names = {str(Path(f"{database}{suffix}").resolve()) for suffix in ("", "-wal", "-shm", "-journal")}
    found: list[int] = []
    own = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            descriptors = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                link = os.readlink(f"/proc/{entry.name}/fd/{descriptor}")
            except OSError:
                continue
            if link in names:
                found.append(int(entry.name))
                break
    return sorted(found)


def _refuse_if_in_use(target: Path) -> None:
    users = processes_using(target)
    if users:
        listed = ", ".join(str(pid) for pid in users[:10]) + (" …" if len(users) > 10 else "")
        raise Conflict(
            f"La base {target} est en cours d'utilisation (processus {listed}) : arrêtez le service et les "
            "sessions (systemctl stop cpf-tui-ssh cpf-tui-mail.timer) puis recommencez. Rien n'a été modifié."
        )


def check_backup_file(path: Path) -> None:
    """A French error unless `path` is a readable SQLite database file."""
    if not path.is_file():
        raise NotFound(f"Sauvegarde introuvable : {path}.")
    with open(path, "rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} n'est pas une sauvegarde SQLite de cpf-tui : rien n'a été modifié.")


def _check_schema(applied: tuple[str, ...]) -> tuple[str, ...]:
    """The migrations still to apply to a backup with `applied`; a French error for an unknown schema."""
    known = known_migrations()
    if not applied:
        raise BackupError("Cette sauvegarde ne contient pas de base cpf-tui (aucune migration) : rien n'a été modifié.")
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise BackupError(
            "Cette sauvegarde vient d'une version plus récente de cpf-tui (migration(s) inconnue(s) : "
            + ", ".join(unknown) + ") : installez cette version pour la restaurer. Rien n'a été modifié."
        )
    return tuple(name for name in known if name not in applied)


async def _verify_copy(url: str) -> int:
    """Open the copy, make sure its schema is current, verify its journal; returns events checked."""
    from cpf_tui import db
    from cpf_tui.services import audit

    await db.open_database(url)
    try:
        await db.ensure_schema_current()
        report = await audit.verify_chain()
    finally:
        await db.close_database()
    if not report.ok:
        raise BackupError(f"Vérification du journal d'audit de la sauvegarde : {report.message} Rien n'a été modifié.")
    return report.checked


async def restore(database_url: str, backup_file: str | os.PathLike[str]) -> RestoreReport:
    """Replace the configured SQLite database by a checked copy of `backup_file` (install the journal's
    key first: `audit_key.configure`). The backup file itself is never modified."""
    from cpf_tui import db

    target = sqlite_path(database_url)
    if target is None:
        if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
            raise BackupError(POSTGRES_RESTORE)
        raise BackupError("Une base en mémoire ne se restaure pas.")
    source = Path(backup_file).expanduser()
    check_backup_file(source)
    if target.exists() and source.resolve() == target.resolve():
        raise BackupError("La sauvegarde est la base configurée elle-même : rien à restaurer.")
    _refuse_if_in_use(target)
    temporary = _temporary_next_to(target)
    previous: Path | None = None
    try:
        try:
            applied, _ = _copy(source, temporary)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} n'est pas une base SQLite lisible ({exc}) : rien n'a été modifié.") from None
        pending = _check_schema(applied)
        url = f"sqlite://{temporary}"
        migrated = tuple(await db.migrate(url)) if pending else ()
        events = await _verify_copy(url)
        _refuse_if_in_use(target)
        if target.exists() and target.stat().st_size:
            stamp = clock.file_stamp()  # Paris time, like every file name written for a person
            previous = target.with_name(f"{target.name}.avant-restauration-{stamp}")
            if previous.exists():
                raise Conflict(f"{previous} existe déjà : recommencez dans une seconde. Rien n'a été modifié.")
            keep = _temporary_next_to(previous)
            try:
                _copy(target, keep)
                os.replace(keep, previous)
            except BaseException:
                _remove_partial(keep)
                raise
        _install(temporary, target)
    except CpfError:
        raise
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"Restauration impossible ({_describe_os_error(exc)}) : la base n'a pas été modifiée.") from None
    finally:
        _remove_partial(temporary)
    return RestoreReport(target, previous, migrated, events)


def _install(copy: Path, target: Path) -> None:
    """Write the checked copy over the target through SQLite itself (it takes the target's locks and
    journals the change, so a crash midway leaves the old database); a new target is created 0600."""
    from cpf_tui.private_files import ensure_private_file

    ensure_private_file(target)
    src = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, timeout=0)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()
    with contextlib.suppress(OSError):
        _fsync_folder(target.parent)
