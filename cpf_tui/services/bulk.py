"""Bulk habilitation ("Habilitation en masse"): template, check of a whole file, import in one transaction.

Operators may import for any organisation, a principal administrator for its own. The CLI acts as the
system (`as_system=True`, local access to the database) and is audited like any other actor.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import marshal
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from cpf_tui import clock, permissions
from cpf_tui.config import BulkSettings
from cpf_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, bulk_workbook, result_worker, sessions, validation
from cpf_tui.services.bulk_export import TemplateData, write_template
from cpf_tui.services.result_book import write_result
from cpf_tui.services.bulk_workbook import (
    BULK_ROLES,
    COLUMN_BY_KEY,
    COLUMNS,
    BulkRow,
    ParsedWorkbook,
    RowError,
    display_value,
)
from cpf_tui.services.context import RequestContext
from cpf_tui.services.mail import mail_time
from cpf_tui.services.result_worker import ResultProcess
from models.enums import Profile, Role

if TYPE_CHECKING:
    from cpf_tui.services.provisioning import PreparedPasswords

DROP_DIR_ENV = "CPF_TUI_DROP_DIR"
SYSTEM_ACTOR = "cli"
ProgressCallback = Callable[[int, int], None]


class BulkImportRejected(ValidationError):
    """The file cannot be imported; `report` lists every problem (nothing was written)."""

    def __init__(self, message: str, report: BulkReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class BulkReport:
    """The check of one file for one organisation: rows ready to create, errors, notices."""

    organisation_id: int
    organisation_label: str
    organisation_siret: str
    parsed: ParsedWorkbook
    errors: list[RowError] = field(default_factory=list)
    prepared: PreparedPasswords | None = field(default=None, compare=False, repr=False)
    """Temporary passwords hashed while the file was checked (`analyse_workbook(prepare=True)`), for
    the import of this report only: `import_workbook` takes them (`take_prepared`)."""

    def take_prepared(self) -> PreparedPasswords | None:
        prepared, self.prepared = self.prepared, None
        return prepared

    async def discard_prepared(self) -> None:
        """End the hashing child of a report that will not be imported (it also ends by itself)."""
        prepared = self.take_prepared()
        if prepared is not None:
            await prepared.close()

    @property
    def rows(self) -> Sequence[BulkRow]:
        return self.parsed.rows

    @property
    def notices(self) -> list[str]:
        return self.parsed.notices

    @property
    def sha256(self) -> str:
        return self.parsed.sha256

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def summary(self) -> str:
        """One French sentence about the outcome of the check."""
        if self.ok:
            return (
                f"Fichier « {self.parsed.filename} » valide : {len(self.rows)} compte(s) à créer pour "
                f"{self.organisation_label}."
            )
        count = len(self.errors)
        return f"Fichier « {self.parsed.filename} » refusé : {count} erreur(s), aucun compte n'a été créé."

    def lines(self) -> list[str]:
        """The whole report, one French line per notice and error, summary first."""
        return [self.summary(), *self.notices, *(error.describe() for error in self.errors)]


class _ComparedAsList:
    """A compact sequence equal to a list or tuple of the same items (and to its own kind)."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (type(self), list, tuple)):
            mine, theirs = cast(Sequence[Any], self), cast(Sequence[Any], other)
            return len(mine) == len(theirs) and all(a == b for a, b in zip(mine, theirs))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Identifiers(_ComparedAsList, Sequence[str]):
    """The identifiers of the accounts an import created, in file order, kept as one text of
    fixed-width identifiers (8 bytes each instead of about 60 as separate strings)."""

    def __init__(self, parts: Iterable[str] = ()) -> None:
        from cpf_tui.services.identifiers import LENGTH

        self._width = LENGTH
        pieces = []
        for identifier in parts:
            if len(identifier) != LENGTH:
                raise ValueError(f"identifiant de longueur inattendue : {identifier!r}")
            pieces.append(identifier)
        self._text = "".join(pieces)

    def extend(self, more: Iterable[str]) -> None:
        self._text += Identifiers(more)._text  # noqa: SLF001

    def __len__(self) -> int:
        return len(self._text) // self._width

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("Identifiers index out of range")
        width = self._width
        return self._text[index * width : (index + 1) * width]

    def __iter__(self) -> Iterator[str]:
        width, text = self._width, self._text
        return (text[start : start + width] for start in range(0, len(text), width))

    def __repr__(self) -> str:
        return f"Identifiers({list(self)!r})"


@dataclass(frozen=True)
class BulkResult:
    """What an import created."""

    bulk_import_id: int
    created: int
    identifiers: Sequence[str]
    result_path: Path
    organisation_label: str


def output_directory(fallback: Path) -> Path:
    """Where generated workbooks go: the SSH file-drop folder when configured, else `fallback`."""
    drop = os.environ.get(DROP_DIR_ENV, "").strip()
    return Path(drop).expanduser() if drop else fallback


def template_filename(siret: str) -> str:
    return f"habilitation-en-masse-{siret}.xlsx"


async def default_siret(ctx: RequestContext) -> str:
    """The organisation SIRET proposed to this actor (its own organisation, empty for an operator)."""
    from models import Organisation

    actor = await sessions.require(ctx, Capability.BULK_IMPORT)
    if actor.organisation_id is None:
        return ""
    organisation = await Organisation.get(id=actor.organisation_id)
    return organisation.siret


async def _authorise(ctx: RequestContext, siret: str, as_system: bool) -> tuple[Any, Any]:
    """The actor (None for the system) and the organisation of `siret`, permission and scope checked."""
    from models import Establishment, Organisation

    actor = None if as_system else await sessions.require(ctx, Capability.BULK_IMPORT)
    clean = validation.validate_siret(siret, "SIRET de l'organisme")
    organisation = await Organisation.get_or_none(siret=clean)
    if organisation is None:
        establishment = await Establishment.get_or_none(siret=clean).prefetch_related("organisation")
        organisation = establishment.organisation if establishment else None
    if organisation is None:
        raise NotFound(f"Aucun organisme n'est enregistré avec le SIRET {clean}.")
    if actor is not None and not permissions.in_scope(actor, organisation.id):
        raise PermissionDenied("Cet organisme n'est pas dans votre périmètre : import impossible.")
    return actor, organisation


async def template_data(*, siret: str, ctx: RequestContext, as_system: bool = False) -> TemplateData:
    """What the template of this organisation lists (permission and scope checked)."""
    from models import Establishment

    _actor, organisation = await _authorise(ctx, siret, as_system)
    establishments = await Establishment.filter(organisation_id=organisation.id).order_by("-is_head_office", "name")
    return TemplateData(
        raison_sociale=organisation.raison_sociale,
        siret=organisation.siret,
        establishments=[(e.siret, e.name) for e in establishments],
    )


async def generate_template(
    path: str | Path, *, siret: str, ctx: RequestContext, as_system: bool = False, bulk: BulkSettings | None = None
) -> Path:
    """Write the "Habilitation en masse" template of an organisation to `path` (a folder gets the default name)."""
    data = await template_data(siret=siret, ctx=ctx, as_system=as_system)
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / template_filename(data.siret)
    if target.suffix.lower() != ".xlsx":
        raise ValidationError("Le modèle doit porter l'extension .xlsx.")
    try:
        return await asyncio.to_thread(write_template, target, data, bulk or BulkSettings())
    except OSError as exc:
        raise ValidationError(f"Impossible d'écrire le modèle {target} : {exc.strerror or exc}.") from None


def _sort_key(error: RowError) -> tuple[int, int]:
    order = {column.label: index for index, column in enumerate(COLUMNS)}
    return error.row, order.get(error.column, len(order))


async def _database_errors(parsed: ParsedWorkbook, organisation: Any, using_db: Any = None) -> list[RowError]:
    """Problems only the database knows: same file, e-mails already habilitated, establishments."""
    from models import Account, AccountStatus, BulkImport, Establishment

    errors: list[RowError] = []
    if parsed.sha256:
        previous = await BulkImport.filter(file_sha256=parsed.sha256).using_db(using_db).first()
        if previous is not None:
            errors.append(
                RowError(
                    0, "", "",
                    f"Ce fichier a déjà été importé le {clock.shown(previous.imported_at, '%d/%m/%Y à %H:%M')} "
                    f"({previous.created_count} compte(s) créés) : il ne peut pas créer de comptes une seconde fois.",
                )
            )
    if not parsed.rows:
        return errors
    existing = {
        email.casefold(): identifier
        for email, identifier in await Account.filter(organisation_id=organisation.id, status=AccountStatus.ACTIVE)
        .using_db(using_db)
        .values_list("email", "identifier")
    }
    own = set(cast(list[str], await Establishment.filter(organisation_id=organisation.id).using_db(using_db)
                   .values_list("siret", flat=True)))
    wanted = {
        values[7] for chunk in _value_chunks(parsed.rows) for values in chunk if values[7] and values[7] not in own
    }
    elsewhere = set(cast(list[str], await Establishment.filter(siret__in=list(wanted)).using_db(using_db)
                         .values_list("siret", flat=True))) if wanted else set()
    email_label = COLUMN_BY_KEY["email"].label
    siret_label = COLUMN_BY_KEY["siret"].label
    for chunk in _value_chunks(parsed.rows):
        for number, _nom, _prenom, email, _phone, _role, _profile, siret, _service in chunk:
            identifier = existing.get(email.casefold()) if existing else None
            if identifier is not None:
                errors.append(
                    RowError(
                        number, email_label, display_value(email),
                        f"cette adresse est déjà habilitée dans l'organisme (identifiant {identifier}).",
                    )
                )
            if siret and siret not in own:
                reason = (
                    "cet établissement appartient à un autre organisme."
                    if siret in elsewhere
                    else "établissement inconnu : il doit d'abord être ajouté à l'organisme."
                )
                errors.append(RowError(number, siret_label, siret, reason))
    return errors


SPOOL_CHUNK = 2000
"""Checked rows compressed together in `CheckedRows` (and imported together by `import_workbook`)."""
_ROLES = {role.value: role for role in Role}
_PROFILES = {profile.value: profile for profile in Profile}


class CheckedRows(_ComparedAsList, Sequence[BulkRow]):
    """The checked rows of a file, kept compressed in memory `SPOOL_CHUNK` rows at a time (marshalled
    tuples of their values, zlib level 1): about 25 bytes a row instead of about 300 as `BulkRow`s, so
    that the report kept between the check and the import does not grow with the file. Filled by the
    reader (`append`, `clear`), then read in order (`chunks`, iteration, indexing)."""

    def __init__(self, on_chunk: Callable[[int], None] | None = None) -> None:
        self._packed: list[bytes] = []
        self._pending: list[tuple[Any, ...]] = []
        self._count = 0
        self.on_chunk = on_chunk
        """Called with `SPOOL_CHUNK` each time that many more rows are checked (in the reading thread)."""

    def append(self, row: BulkRow) -> None:
        self._pending.append((
            row.row, row.nom, row.prenom, row.email, row.phone, row.role.value,
            row.profile.value, row.siret, row.service,
        ))
        self._count += 1
        if len(self._pending) == SPOOL_CHUNK:
            self._packed.append(zlib.compress(marshal.dumps(self._pending), 1))
            self._pending = []
            if self.on_chunk is not None:
                self.on_chunk(SPOOL_CHUNK)

    def clear(self) -> None:
        self._packed, self._pending, self._count = [], [], 0

    def __len__(self) -> int:
        return self._count

    def value_chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        """The rows' values, `SPOOL_CHUNK` rows at a time (the last chunk may be shorter): tuples in
        `BulkRow`'s field order, role and profile as their enum members (cheaper than `BulkRow`s)."""
        roles, profiles = _ROLES, _PROFILES
        for values in itertools.chain((marshal.loads(zlib.decompress(packed)) for packed in self._packed),
                                      [self._pending] if self._pending else []):
            yield [
                (row, nom, prenom, email, phone, roles[role], profiles[profile], siret, service)
                for row, nom, prenom, email, phone, role, profile, siret, service in values
            ]

    def chunks(self) -> Iterator[list[BulkRow]]:
        """The rows, `SPOOL_CHUNK` at a time (the last chunk may be shorter)."""
        for values in self.value_chunks():
            yield [BulkRow(*value) for value in values]

    def __iter__(self) -> Iterator[BulkRow]:
        for chunk in self.chunks():
            yield from chunk

    @overload
    def __getitem__(self, index: int) -> BulkRow: ...

    @overload
    def __getitem__(self, index: slice) -> list[BulkRow]: ...

    def __getitem__(self, index: int | slice) -> BulkRow | list[BulkRow]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("CheckedRows index out of range")
        chunk, at = divmod(index, SPOOL_CHUNK)
        values = self._pending if chunk == len(self._packed) else marshal.loads(zlib.decompress(self._packed[chunk]))
        row, nom, prenom, email, phone, role, profile, siret, service = values[at]
        return BulkRow(row, nom, prenom, email, phone, _ROLES[role], _PROFILES[profile], siret, service)

    def __repr__(self) -> str:
        return f"CheckedRows({self._count} rows)"


def parse_workbook(
    path: str | Path, bulk: BulkSettings | None = None, on_chunk: Callable[[int], None] | None = None
) -> ParsedWorkbook:
    """`bulk_workbook.parse_workbook` (the same checks, errors and notices) with the checked rows kept
    compressed as they are read (`CheckedRows`, which calls `on_chunk`), never all held as `BulkRow`s."""
    return bulk_workbook.parse_workbook(path, bulk, rows=cast(list[BulkRow], CheckedRows(on_chunk)))


async def analyse_workbook(
    path: str | Path,
    *,
    siret: str,
    ctx: RequestContext,
    as_system: bool = False,
    bulk: BulkSettings | None = None,
    prepare: bool = False,
) -> BulkReport:
    """Check a whole file for an organisation and report every problem at once; writes nothing.

    With `prepare` (an import is expected to follow), the temporary passwords of the rows checked are
    drawn and hashed by a child process meanwhile (`PreparedPasswords`, kept in the report for its
    import); for a file refused they are dropped and the child ended.
    """
    from cpf_tui.services.provisioning import PreparedPasswords

    _actor, organisation = await _authorise(ctx, siret, as_system)
    prepared = PreparedPasswords() if prepare else None
    try:
        on_chunk = None
        if prepared is not None:
            loop, request = asyncio.get_running_loop(), prepared.request

            def on_chunk(count: int) -> None:
                loop.call_soon_threadsafe(request, count)

        parsed = await asyncio.to_thread(parse_workbook, Path(path).expanduser(), bulk or BulkSettings(), on_chunk)
        errors = parsed.errors + await _database_errors(parsed, organisation)
        errors.sort(key=_sort_key)
        report = BulkReport(
            organisation_id=organisation.id,
            organisation_label=str(organisation),
            organisation_siret=organisation.siret,
            parsed=parsed,
            errors=errors,
        )
        if prepared is not None and report.ok:
            if prepared.count:  # a file of fewer rows than a chunk is hashed during its import
                prepared.request(len(parsed.rows) % SPOOL_CHUNK)
            await prepared.finish()
            report.prepared, prepared = prepared, None
        return report
    finally:
        if prepared is not None:
            await prepared.close()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (read in chunks); "" when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def _result_path(folder: Path, siret: str) -> Path:
    stamp = clock.file_stamp()
    candidate = folder / f"habilitation-resultat-{siret}-{stamp}.xlsx"
    counter = 2
    while candidate.exists():
        candidate = folder / f"habilitation-resultat-{siret}-{stamp}-{counter}.xlsx"
        counter += 1
    return candidate


HANDED_BY_ORGANISATION = "l'administrateur de votre organisme"
"""Who passes the identifiers on when the CDC processed the file (the result workbook goes to the organisation)."""


def _identifier_handed_by(actor: Any) -> str:
    """Who the welcome e-mails say hands the identifier over: the importing administrator by name (the
    default), or the organisation's administrator when a CDC operator or the command line imported."""
    from models import Role

    if actor is None or actor.role == Role.OPERATOR:
        return HANDED_BY_ORGANISATION
    return ""


_DONE = object()


class _ResultWriterStopped(Exception):
    """The import ended before its last row: the result workbook is not written."""


class _ResultWriter:
    """The result workbook written (`write_result`, in a thread) as the import hands over its rows,
    chunk after chunk, through a short queue: the rows are never all held. `finish()` waits for the
    file (written only once every row is in: never half a file); `stop()` drops it."""

    def __init__(self, path: Path, title: str) -> None:
        self.chunks: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.stopped = threading.Event()
        self.task = asyncio.ensure_future(asyncio.to_thread(write_result, path, title, self._rows()))

    def _rows(self) -> Iterator[list[Any]]:
        while True:
            chunk = self.chunks.get()
            if self.stopped.is_set():
                raise _ResultWriterStopped
            if chunk is _DONE:
                return
            yield from chunk

    async def add(self, rows: list[list[Any]]) -> None:
        while True:
            if self.task.done():
                await self.task  # the writer failed: its error
                raise RuntimeError("result workbook writer ended early")
            try:
                self.chunks.put_nowait(rows)
                return
            except queue.Full:
                await asyncio.sleep(0.005)

    async def finish(self) -> None:
        await self.add(cast(list[list[Any]], _DONE))
        await self.task

    async def stop(self) -> None:
        self.stopped.set()
        while True:
            try:
                self.chunks.get_nowait()
            except queue.Empty:
                break
        self.chunks.put_nowait(_DONE)
        try:
            await asyncio.shield(self.task)
        except Exception:  # noqa: BLE001 - the import's own error is the one raised
            pass


_FIELDS = ("row", "nom", "prenom", "email", "phone", "role", "profile", "siret", "service")


async def _result_writer(path: Path, title: str, rows: int) -> _ResultWriter | ResultProcess:
    """Who writes the result workbook: a child process for `result_worker.MIN_ROWS` rows or more (when
    one can be started), else a thread."""
    if rows >= result_worker.MIN_ROWS:
        process = ResultProcess(path, title)
        if await process.start():
            return process
    return _ResultWriter(path, title)


def _value_chunks(rows: Sequence[BulkRow]) -> Iterable[list[tuple[Any, ...]]]:
    """The checked rows' values `SPOOL_CHUNK` rows at a time (see `CheckedRows.value_chunks`)."""
    if isinstance(rows, CheckedRows):
        return rows.value_chunks()
    return (
        [tuple(getattr(row, name) for name in _FIELDS) for row in rows[start : start + SPOOL_CHUNK]]
        for start in range(0, len(rows), SPOOL_CHUNK)
    )


async def _provision_rows(
    rows: Sequence[BulkRow],
    establishments: dict[str, Any],
    head: Any,
    writer: _ResultWriter | ResultProcess,
    *,
    organisation: Any,
    actor: Any,
    ctx: RequestContext,
    conn: Any,
    temp_password_days: int,
    progress: ProgressCallback | None,
    prepared: PreparedPasswords | None = None,
) -> Identifiers:
    """Create the accounts of the checked `rows`, `SPOOL_CHUNK` at a time (`BulkProvisioner`, in the
    import's transaction `conn`), handing each chunk's result rows to `writer`; their identifiers."""
    from cpf_tui.services.provisioning import AccountSpec, BulkProvisioner

    identifiers = Identifiers()
    format_phone = validation.format_phone
    profile_labels = {profile: profile.label for profile in Profile}
    shown_places: dict[Any, tuple[str, str]] = {None: ("", "")}
    shown_places.update((place, (place.siret, place.name)) for place in establishments.values())
    async with BulkProvisioner(
        expected=len(rows), created_by=actor, ctx=ctx, using_db=conn, temp_password_days=temp_password_days,
        progress=progress, identifier_handed_by=_identifier_handed_by(actor), prepared=prepared,
    ) as provisioner:
        for chunk in _value_chunks(rows):
            places = [establishments[values[7]] if values[7] else head for values in chunk]
            records = await provisioner.add([
                AccountSpec(
                    role=role, profile=profile, organisation=organisation, establishment=place,
                    nom=nom, prenom=prenom, email=email, phone=phone, service=service,
                )
                for (_number, nom, prenom, email, phone, role, profile, _siret, service), place in zip(chunk, places)
            ])
            identifiers.extend([record.identifier for record in records])
            await writer.add([
                [
                    record.identifier, nom, prenom, email, format_phone(phone), BULK_ROLES[role], profile_labels[profile],
                    *shown_places[place], service, number,
                ]
                for record, (number, nom, prenom, email, phone, role, profile, _siret, service), place
                in zip(records, chunk, places)
            ])
    return identifiers


async def import_workbook(
    path: str | Path,
    *,
    siret: str,
    ctx: RequestContext,
    output_dir: Path,
    as_system: bool = False,
    bulk: BulkSettings | None = None,
    temp_password_days: int = 7,
    expected_sha256: str = "",
    progress: ProgressCallback | None = None,
    report: BulkReport | None = None,
) -> BulkResult:
    """Create every account of a valid file in one transaction, then write the result workbook.

    Raises BulkImportRejected (with the full report) when anything is wrong: nothing is written then.
    `expected_sha256` (from the checked report) refuses a file changed since it was checked. With
    `report` (what `analyse_workbook` returned for this file) the file is not parsed again: its bytes
    must still be the ones checked, and the checks that need the database run again in the transaction;
    the passwords it prepared (if any) are used, once.
    """
    prepared = report.take_prepared() if report is not None else None
    try:
        return await _import_checked(
            path, siret=siret, ctx=ctx, output_dir=output_dir, as_system=as_system, bulk=bulk,
            temp_password_days=temp_password_days, expected_sha256=expected_sha256, progress=progress,
            report=report, prepared=prepared,
        )
    finally:
        if prepared is not None:
            await prepared.close()


async def _import_checked(
    path: str | Path,
    *,
    siret: str,
    ctx: RequestContext,
    output_dir: Path,
    as_system: bool,
    bulk: BulkSettings | None,
    temp_password_days: int,
    expected_sha256: str,
    progress: ProgressCallback | None,
    report: BulkReport | None,
    prepared: PreparedPasswords | None,
) -> BulkResult:
    """`import_workbook`, with the passwords `prepared` while `report` was made (None: drawn here)."""
    from tortoise.exceptions import IntegrityError

    from cpf_tui.services.locking import serialised_transaction
    from models import BulkImport, Establishment, ImportStatus

    if report is None:
        report = await analyse_workbook(path, siret=siret, ctx=ctx, as_system=as_system, bulk=bulk)
    elif await asyncio.to_thread(file_sha256, Path(path).expanduser()) != report.sha256:
        raise Conflict("Le fichier a changé depuis sa vérification : vérifiez-le de nouveau avant d'importer.")
    if expected_sha256 and report.sha256 != expected_sha256:
        raise Conflict("Le fichier a changé depuis sa vérification : vérifiez-le de nouveau avant d'importer.")
    if not report.ok:
        raise BulkImportRejected(report.summary(), report)
    actor, organisation = await _authorise(ctx, siret, as_system)
    if organisation.id != report.organisation_id:
        raise Conflict("Ce fichier a été vérifié pour un autre organisme : vérifiez-le de nouveau avant d'importer.")
    result_path = _result_path(Path(output_dir).expanduser(), organisation.siret)
    rows = report.rows
    total = len(rows)
    written = False
    try:
        async with serialised_transaction() as conn:
            late = await _database_errors(report.parsed, organisation, using_db=conn)
            if late:
                report.errors = late
                raise BulkImportRejected(report.summary(), report)
            establishments = {
                e.siret: e for e in await Establishment.filter(organisation_id=organisation.id).using_db(conn)
            }
            head = next((e for e in establishments.values() if e.is_head_office), None)
            bulk_import = await BulkImport.create(
                organisation=organisation,
                file_sha256=report.sha256,
                filename=report.parsed.filename[:255],
                status=ImportStatus.IMPORTED,
                row_count=total,
                created_count=total,
                result_path=str(result_path),
                imported_by=actor,
                using_db=conn,
            )
            title = (
                f"Comptes créés pour {organisation.raison_sociale} (SIRET {organisation.siret}) — "
                f"fichier « {report.parsed.filename} », le {mail_time(clock.now())}"
            )
            writer = await _result_writer(result_path, title, total)
            try:
                identifiers = await _provision_rows(
                    rows, establishments, head, writer, organisation=organisation, actor=actor, ctx=ctx, conn=conn,
                    temp_password_days=temp_password_days, progress=progress, prepared=prepared,
                )
                await audit.record(
                    "bulk.import",
                    ctx=ctx,
                    actor=actor,
                    actor_identifier="" if actor is not None else SYSTEM_ACTOR,
                    target=bulk_import,
                    after={
                        "filename": bulk_import.filename,
                        "file_sha256": bulk_import.file_sha256,
                        "created_count": total,
                        "result_path": str(result_path),
                    },
                    organisation_id=organisation.id,
                    using_db=conn,
                )
            except BaseException:
                await writer.stop()
                raise
            try:
                await writer.finish()
            except OSError as exc:
                raise ValidationError(
                    f"Impossible d'écrire le classeur de résultat {result_path} : {exc.strerror or exc}. "
                    "Aucun compte n'a été créé."
                ) from None
            except BaseException:
                await writer.stop()
                result_path.unlink(missing_ok=True)
                raise
            written = True
    except IntegrityError:
        if written:
            result_path.unlink(missing_ok=True)
        raise Conflict("Ce fichier vient d'être importé par ailleurs : aucun compte supplémentaire n'a été créé.") from None
    except BaseException:
        if written:
            result_path.unlink(missing_ok=True)
        raise
    return BulkResult(
        bulk_import_id=bulk_import.id,
        created=total,
        identifiers=identifiers,
        result_path=result_path,
        organisation_label=str(organisation),
    )
