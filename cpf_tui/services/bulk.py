"""Bulk habilitation ("Habilitation en masse"): template, check of a whole file, import in one transaction.

Operators may import for any organisation, a principal administrator for its own. The CLI acts as the
system (`as_system=True`, local access to the database) and is audited like any other actor.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, overload

from cpf_tui import clock, permissions
from cpf_tui.config import BulkSettings
from cpf_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions, validation
from cpf_tui.services.bulk_export import TemplateData, write_result, write_template
from cpf_tui.services.bulk_workbook import (
    BULK_ROLES,
    COLUMN_BY_KEY,
    COLUMNS,
    BulkRow,
    ParsedWorkbook,
    RowError,
    display_value,
    parse_workbook,
)
from cpf_tui.services.context import RequestContext
from cpf_tui.services.mail import mail_time

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

    @property
    def rows(self) -> list[BulkRow]:
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


@dataclass(frozen=True)
class BulkResult:
    """What an import created."""

    bulk_import_id: int
    created: int
    identifiers: list[str]
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
    wanted = {row.siret for row in parsed.rows if row.siret and row.siret not in own}
    elsewhere = set(cast(list[str], await Establishment.filter(siret__in=list(wanted)).using_db(using_db)
                         .values_list("siret", flat=True))) if wanted else set()
    email_label = COLUMN_BY_KEY["email"].label
    siret_label = COLUMN_BY_KEY["siret"].label
    for row in parsed.rows:
        identifier = existing.get(row.email.casefold())
        if identifier is not None:
            errors.append(
                RowError(
                    row.row, email_label, display_value(row.email),
                    f"cette adresse est déjà habilitée dans l'organisme (identifiant {identifier}).",
                )
            )
        if row.siret and row.siret not in own:
            reason = (
                "cet établissement appartient à un autre organisme."
                if row.siret in elsewhere
                else "établissement inconnu : il doit d'abord être ajouté à l'organisme."
            )
            errors.append(RowError(row.row, siret_label, row.siret, reason))
    return errors


async def analyse_workbook(
    path: str | Path,
    *,
    siret: str,
    ctx: RequestContext,
    as_system: bool = False,
    bulk: BulkSettings | None = None,
) -> BulkReport:
    """Check a whole file for an organisation and report every problem at once; writes nothing."""
    _actor, organisation = await _authorise(ctx, siret, as_system)
    parsed = await asyncio.to_thread(parse_workbook, Path(path).expanduser(), bulk or BulkSettings())
    errors = parsed.errors + await _database_errors(parsed, organisation)
    errors.sort(key=_sort_key)
    return BulkReport(
        organisation_id=organisation.id,
        organisation_label=str(organisation),
        organisation_siret=organisation.siret,
        parsed=parsed,
        errors=errors,
    )


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


class _Specs(Sequence[Any]):
    """The accounts to create, one `AccountSpec` per checked row, made when read (never all held at
    once: `provision_accounts(bulk_path=True)` only counts and walks them)."""

    def __init__(self, rows: list[BulkRow], places: list[Any], organisation: Any, spec: Any) -> None:
        self.rows, self.places, self.organisation, self.spec = rows, places, organisation, spec

    def __len__(self) -> int:
        return len(self.rows)

    def _make(self, row: BulkRow, establishment: Any) -> Any:
        return self.spec(
            role=row.role, profile=row.profile, organisation=self.organisation, establishment=establishment,
            nom=row.nom, prenom=row.prenom, email=row.email, phone=row.phone, service=row.service,
        )

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._make(row, place) for row, place in zip(self.rows[index], self.places[index])]
        return self._make(self.rows[index], self.places[index])

    def __iter__(self) -> Iterator[Any]:
        for row, establishment in zip(self.rows, self.places):
            yield self._make(row, establishment)


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
    must still be the ones checked, and the checks that need the database run again in the transaction.
    """
    from tortoise.exceptions import IntegrityError

    from cpf_tui.services.locking import serialised_transaction
    from cpf_tui.services.provisioning import AccountSpec, provision_accounts
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
            places = [establishments[row.siret] if row.siret else head for row in rows]
            accounts = await provision_accounts(
                _Specs(rows, places, organisation, AccountSpec),
                created_by=actor,
                ctx=ctx,
                using_db=conn,
                temp_password_days=temp_password_days,
                progress=progress,
                as_models=False,
                identifier_handed_by=_identifier_handed_by(actor),
                bulk_path=True,
            )
            identifiers = [account.identifier for account in accounts]
            # Made as the result workbook is written (in its thread), not all held at once.
            result_rows: Iterator[list[Any]] = (
                [
                    account.identifier, row.nom, row.prenom, row.email, validation.format_phone(row.phone),
                    BULK_ROLES[row.role], row.profile.label, establishment.siret if establishment else "",
                    establishment.name if establishment else "", row.service, row.row,
                ]
                for account, row, establishment in zip(accounts, rows, places)
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
            title = (
                f"Comptes créés pour {organisation.raison_sociale} (SIRET {organisation.siret}) — "
                f"fichier « {report.parsed.filename} », le {mail_time(clock.now())}"
            )
            try:
                await asyncio.to_thread(write_result, result_path, title, result_rows)
            except OSError as exc:
                raise ValidationError(
                    f"Impossible d'écrire le classeur de résultat {result_path} : {exc.strerror or exc}. "
                    "Aucun compte n'a été créé."
                ) from None
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
