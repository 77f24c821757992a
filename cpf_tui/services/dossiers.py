"""Training files (dossiers de formation): drafts, validation (reserves hours), closure (consumes them).

Scope rule: a file belongs to the organisation and establishment of the user who created it.
Gestionnaires and principal administrators act on the files of their organisation, delegated
administrators on the files of their establishment, CDC operators consult every file (read only).
A file outside the actor's scope is reported as not found. Holders themselves are national
(see `cpf_tui.services.holders`).

States and rights (DOMAIN.md §6): create / save / delete need the Création profile and a file *en
cours d'élaboration*; validate needs Validation and a draft; close needs Clôture and a validated file.
Every action re-reads the actor, checks the right, then the scope, then the state, and writes the file,
its history line (DossierEvent), the ledger movements and the audit event in one transaction that
serialises on the holder (`services.locking`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cpf_tui import clock, permissions
from cpf_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, holders, ledger, sessions
from cpf_tui.services.context import RequestContext
from cpf_tui.services.locking import is_sqlite, lock_holder, serialised_transaction
from cpf_tui.services.ledger import FILE_MAX, format_hours
from cpf_tui.services.validation import parse_date_fr
from models import Account, Dossier, DossierEvent, Establishment, Holder
from models.enums import DossierStatus, Profile, Role

PAGE_SIZE = 50
SORTS = {
    "number": ("number",),
    "-number": ("-number",),
    "start_date": ("start_date", "id"),
    "-start_date": ("-start_date", "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
}
SORT_LABELS = {
    "-created": "plus récents d'abord",
    "created": "plus anciens d'abord",
    "number": "numéro croissant",
    "-number": "numéro décroissant",
    "start_date": "date de début croissante",
    "-start_date": "date de début décroissante",
}

ACTIONS = ("create", "save", "delete", "validate", "close")
ACTION_CAPABILITY = {
    "create": Capability.DOSSIER_EDIT_DRAFT,
    "save": Capability.DOSSIER_EDIT_DRAFT,
    "delete": Capability.DOSSIER_EDIT_DRAFT,
    "validate": Capability.DOSSIER_VALIDATE,
    "close": Capability.DOSSIER_CLOSE,
}
ACTION_STATUS = {
    "save": DossierStatus.DRAFT,
    "delete": DossierStatus.DRAFT,
    "validate": DossierStatus.DRAFT,
    "close": DossierStatus.VALIDATED,
}
WRONG_STATUS_MESSAGES = {
    "save": "Ce dossier n'est plus en cours d'élaboration : il ne peut plus être modifié.",
    "delete": "Ce dossier n'est plus en cours d'élaboration : il ne peut plus être supprimé.",
    "validate": "Seul un dossier en cours d'élaboration peut être validé.",
    "close": "Seul un dossier validé peut être clos.",
}
EVENT_LABELS = {
    "create": "Création",
    "save": "Modification",
    "validate": "Validation",
    "close": "Clôture",
}


class WrongStatus(PermissionDenied):
    """The action does not apply to a file in its current state."""


def allowed_actions(role: Role | str, profile: Profile | str | None, status: DossierStatus | str | None) -> set[str]:
    """Actions a role/profile may take on a file in `status` (None: no file yet); screens show only these."""
    out: set[str] = set()
    for action in ACTIONS:
        if not permissions.can(role, profile, ACTION_CAPABILITY[action]):
            continue
        if action == "create":
            out.add(action)
        elif status is not None and DossierStatus(status) == ACTION_STATUS[action]:
            out.add(action)
    return out


# -- form input --------------------------------------------------------------------------------------
def format_date_fr(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


@dataclass
class DossierInput:
    """The editable fields of a file, as typed values (None or "" = not filled in yet)."""

    holder_nir: str = ""
    training_title: str = ""
    provider_name: str = ""
    provider_siret: str = ""
    start_date: date | None = None
    end_date: date | None = None
    duration_minutes: int | None = None
    requested_minutes: int | None = None

    @classmethod
    def from_text(cls, values: dict[str, str]) -> DossierInput:
        """Parse what a form holds (dates JJ/MM/AAAA, hours "12 h 30"); every error reported at once."""
        errors: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        parsers: dict[str, Callable[[str], Any]] = {
            "start_date": lambda v: parse_date_fr(v, "Date de début"),
            "end_date": lambda v: parse_date_fr(v, "Date de fin"),
            "duration_minutes": lambda v: ledger.parse_hours(v, "Durée totale", required=False),
            "requested_minutes": lambda v: ledger.parse_hours(v, "Heures demandées", required=False),
        }
        for name in ("holder_nir", "training_title", "provider_name", "provider_siret"):
            parsed[name] = values.get(name, "") or ""
        for name, parse in parsers.items():
            try:
                parsed[name] = parse(values.get(name, "") or "")
            except ValidationError as exc:
                errors[name] = exc.message
        if errors:
            raise ValidationError(" ".join(errors.values()), errors)
        return cls(**parsed)


@dataclass(frozen=True)
class CleanInput:
    holder_id: int
    values: dict[str, Any]


async def _clean(data: DossierInput, *, complete: bool) -> CleanInput:
    """Check the fields (French messages, all at once); `complete` also requires every field."""
    from cpf_tui.services.validation import normalise_nir
    from cpf_tui.services.validation import validate_siret, validate_text

    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    holder_id = 0

    def attempt(name: str, check: Any) -> None:
        try:
            values[name] = check()
        except ValidationError as exc:
            errors[name] = exc.message

    try:
        holder = await Holder.get_or_none(nir=normalise_nir(data.holder_nir))
        if holder is None:
            errors["holder_nir"] = "Titulaire : aucun titulaire n'a ce NIR."
        else:
            holder_id = holder.id
    except ValidationError as exc:
        errors["holder_nir"] = "Titulaire — " + exc.message
    attempt("training_title", lambda: validate_text(data.training_title, "Intitulé de la formation",
                                                    max_length=200, required=complete))
    attempt("provider_name", lambda: validate_text(data.provider_name, "Organisme de formation",
                                                   max_length=200, required=complete))
    if (data.provider_siret or "").strip() or complete:
        attempt("provider_siret", lambda: validate_siret(data.provider_siret, "SIRET de l'organisme de formation"))
    else:
        values["provider_siret"] = ""
    values["start_date"], values["end_date"] = data.start_date, data.end_date
    values["duration_minutes"] = data.duration_minutes or 0
    values["requested_minutes"] = data.requested_minutes or 0
    if complete:
        for name, label in (("start_date", "Date de début"), ("end_date", "Date de fin")):
            if getattr(data, name) is None:
                errors[name] = f"{label} : champ obligatoire."
        for name, label in (("duration_minutes", "Durée totale"), ("requested_minutes", "Heures demandées")):
            if not getattr(data, name):
                errors.setdefault(name, f"{label} : champ obligatoire.")
    if data.start_date and data.end_date and data.end_date < data.start_date:
        errors["end_date"] = "Date de fin : elle ne peut pas précéder la date de début."
    for name, label in (("duration_minutes", "Durée totale"), ("requested_minutes", "Heures demandées")):
        amount = getattr(data, name)
        if amount is not None and amount <= 0:
            errors[name] = f"{label} : une durée strictement positive est attendue."
    if data.duration_minutes and data.requested_minutes and data.requested_minutes > data.duration_minutes:
        errors["requested_minutes"] = (
            f"Heures demandées : elles ne peuvent pas dépasser la durée totale ({format_hours(data.duration_minutes)})."
        )
    if data.requested_minutes and data.requested_minutes > FILE_MAX:
        errors["requested_minutes"] = f"Heures demandées : {format_hours(FILE_MAX)} au maximum par dossier."
    if data.duration_minutes and data.duration_minutes > 9999 * 60:
        errors["duration_minutes"] = "Durée totale : 9999 h au maximum."
    if errors:
        raise ValidationError(" ".join(errors.values()), errors)
    return CleanInput(holder_id, values)


def _snapshot(dossier: Dossier) -> dict[str, Any]:
    """The audited fields of a file (no secret in it)."""
    return {
        "number": dossier.number,
        "status": dossier.status.value if isinstance(dossier.status, DossierStatus) else dossier.status,
        "holder_id": dossier.holder_id,
        "establishment_id": dossier.establishment_id,
        "training_title": dossier.training_title,
        "provider_name": dossier.provider_name,
        "provider_siret": dossier.provider_siret,
        "start_date": dossier.start_date.isoformat() if dossier.start_date else None,
        "end_date": dossier.end_date.isoformat() if dossier.end_date else None,
        "duration_minutes": dossier.duration_minutes,
        "requested_minutes": dossier.requested_minutes,
        "reserved_dif_minutes": dossier.reserved_dif_minutes,
        "reserved_cpf_minutes": dossier.reserved_cpf_minutes,
        "done_minutes": dossier.done_minutes,
        "closure_reason": dossier.closure_reason,
        "version": dossier.version,
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after if before.get(k) != after[k] and k != "version"}


async def _event(dossier: Dossier, actor: Account, action: str, details: dict[str, Any], conn: Any) -> None:
    await DossierEvent.create(dossier_id=dossier.id, actor_id=actor.id, action=action, details=details,
                              at=clock.now(), using_db=conn)


def _stale() -> Conflict:
    return Conflict(
        "Ce dossier a été modifié par quelqu'un d'autre depuis que vous l'avez ouvert : "
        "vos modifications n'ont pas été enregistrées (votre saisie reste à l'écran). "
        "Rechargez le dossier pour voir la nouvelle version."
    )


async def _load_for(actor: Account, dossier_id: int, conn: Any = None, *, for_update: bool = False,
                    related: tuple[str, ...] = ()) -> Any:
    """The file if it exists and is in the actor's scope, else NotFound.

    `for_update`: on PostgreSQL the file's row stays locked until `conn`'s transaction ends (SQLite's
    writer lock already serialises the transaction). `related`: relations read in the same statement.
    """
    query = Dossier.filter(id=dossier_id)
    if for_update and not is_sqlite(conn):
        query = query.select_for_update()
    if related:
        query = query.select_related(*related)
    dossier = await query.using_db(conn).first()
    if dossier is None or not permissions.in_scope(actor, dossier.organisation_id, dossier.establishment_id):
        raise NotFound("Dossier introuvable (ou hors de votre périmètre).")
    return dossier


async def _lock_file_then_holder(actor: Account, dossier_id: int, conn: Any) -> tuple[Any, Any]:
    """The file, locked, then the holder it names now, locked: always in that order.

    The holder is read from the locked file, never from a read made before the transaction: a change
    of holder committed meanwhile is seen, and none can be committed until this transaction ends, so
    hours are reserved and settled on the file's own holder.
    """
    dossier = await _load_for(actor, dossier_id, conn, for_update=True)
    return dossier, await lock_holder(dossier.holder_id, conn)


def _check_status(dossier: Dossier, action: str) -> None:
    if dossier.status != ACTION_STATUS[action]:
        raise WrongStatus(WRONG_STATUS_MESSAGES[action])


# -- actions -----------------------------------------------------------------------------------------
async def create_draft(ctx: RequestContext, data: DossierInput, *, establishment_id: int | None = None) -> Dossier:
    """Create a file *en cours d'élaboration* in the actor's organisation and establishment."""
    actor = await sessions.require(ctx, Capability.DOSSIER_EDIT_DRAFT)
    if actor.organisation_id is None:
        raise PermissionDenied("Un dossier est rattaché à un organisme : votre compte n'en a pas.")
    target_establishment = establishment_id or actor.establishment_id
    if target_establishment is not None:
        establishment = await Establishment.get_or_none(id=target_establishment)
        if establishment is None or not permissions.in_scope(actor, establishment.organisation_id, establishment.id):
            raise PermissionDenied("Cet établissement n'est pas dans votre périmètre.")
    clean = await _clean(data, complete=False)
    now = clock.now()
    async with serialised_transaction() as conn:
        dossier = await Dossier.create(
            number=f"TMP-{uuid.uuid4().hex[:16]}", holder_id=clean.holder_id, organisation_id=actor.organisation_id,
            establishment_id=target_establishment, created_by_id=actor.id, status=DossierStatus.DRAFT,
            created_at=now, updated_at=now, using_db=conn, **clean.values,
        )
        dossier.number = f"DF-{now.year}-{dossier.id:06d}"
        await dossier.save(using_db=conn, update_fields=["number"])
        after = _snapshot(dossier)
        await _event(dossier, actor, "create", {"fields": after}, conn)
        await audit.record("dossier.create", ctx=ctx, actor=actor, target=dossier, before=None, after=after,
                           using_db=conn)
    return dossier


async def _precheck(ctx: RequestContext, dossier_id: int, action: str) -> Account:
    """Before the transaction: the right, the scope and the state (French errors before any field check)."""
    actor = await sessions.require(ctx, ACTION_CAPABILITY[action])
    _check_status(await _load_for(actor, dossier_id), action)
    return actor


@dataclass
class _Transition:
    """One action on a file inside its transaction: the file locked, in scope and in the state the action
    needs, its holder locked when hours move, and what the file was before."""

    ctx: RequestContext
    action: str
    actor: Account
    conn: Any
    dossier: Dossier
    holder: Holder | None
    before: dict[str, Any]

    async def update(self, **fields: Any) -> Dossier:
        """Write `fields` if nobody changed the file meanwhile (optimistic: version and state), version + 1."""
        version = self.dossier.version
        updated = await Dossier.filter(id=self.dossier.id, version=version, status=ACTION_STATUS[self.action]).using_db(
            self.conn
        ).update(version=version + 1, updated_at=clock.now(), **fields)
        if updated != 1:
            raise _stale()
        self.dossier = await Dossier.get(id=self.dossier.id, using_db=self.conn)
        return self.dossier

    def locked_holder(self) -> Holder:
        """The holder whose hours move (locked after the file); NotFound if the file names none any more."""
        if self.holder is None:
            raise NotFound("Titulaire du dossier introuvable.")
        return self.holder

    async def record(self, details: dict[str, Any] | None) -> None:
        """The file's history line (`details`; None when the file is gone) and the audit event."""
        after = None if details is None else _snapshot(self.dossier)
        if details is not None:
            await _event(self.dossier, self.actor, self.action, details, self.conn)
        await audit.record(f"dossier.{self.action}", ctx=self.ctx, actor=self.actor, target=self.dossier,
                           before=self.before, after=after, using_db=self.conn)


@asynccontextmanager
async def _transition(
    ctx: RequestContext, actor: Account, dossier_id: int, action: str, *, expected_version: int | None = None,
    holder: bool = False,
) -> AsyncIterator[_Transition]:
    """The one path of save, delete, validate and close: lock the file (then its holder when hours move),
    check scope, state and version, and give the step its update and its records, in one transaction."""
    async with serialised_transaction() as conn:
        if holder:
            dossier, locked_holder = await _lock_file_then_holder(actor, dossier_id, conn)
        else:
            dossier, locked_holder = await _load_for(actor, dossier_id, conn, for_update=True), None
        _check_status(dossier, action)
        if expected_version is not None and dossier.version != expected_version:
            raise _stale()
        yield _Transition(ctx, action, actor, conn, dossier, locked_holder, _snapshot(dossier))


async def save_draft(ctx: RequestContext, dossier_id: int, data: DossierInput, *, expected_version: int) -> Dossier:
    """Save a draft's fields; refused with Conflict when the file changed since `expected_version`."""
    actor = await _precheck(ctx, dossier_id, "save")
    clean = await _clean(data, complete=False)
    async with _transition(ctx, actor, dossier_id, "save", expected_version=expected_version) as step:
        dossier = await step.update(holder_id=clean.holder_id, **clean.values)
        await step.record({"changes": _changes(step.before, _snapshot(dossier))})
    return dossier


async def delete_draft(ctx: RequestContext, dossier_id: int, *, expected_version: int | None = None) -> None:
    """Delete a draft (its history goes with it, the audit journal keeps the record)."""
    actor = await sessions.require(ctx, ACTION_CAPABILITY["delete"])
    async with _transition(ctx, actor, dossier_id, "delete", expected_version=expected_version) as step:
        await Dossier.filter(id=dossier_id).using_db(step.conn).delete()
        await step.record(None)


async def validate(ctx: RequestContext, dossier_id: int, *, expected_version: int | None = None) -> Dossier:
    """Validate a complete draft: reserves the requested hours (DIF first, then CPF), records who and when."""
    actor = await _precheck(ctx, dossier_id, "validate")
    async with _transition(ctx, actor, dossier_id, "validate", expected_version=expected_version,
                           holder=True) as step:
        dossier, holder = step.dossier, step.holder
        await _clean(DossierInput(
            holder_nir=holder.nir if holder else "", training_title=dossier.training_title,
            provider_name=dossier.provider_name, provider_siret=dossier.provider_siret,
            start_date=dossier.start_date, end_date=dossier.end_date,
            duration_minutes=dossier.duration_minutes or None, requested_minutes=dossier.requested_minutes or None,
        ), complete=True)
        dif, cpf = await ledger.reserve(step.locked_holder(), dossier, dossier.requested_minutes, actor=actor,
                                        conn=step.conn)
        dossier = await step.update(status=DossierStatus.VALIDATED, reserved_dif_minutes=dif,
                                    reserved_cpf_minutes=cpf, validated_at=clock.now(), validated_by_id=actor.id)
        await step.record({"reserved_dif_minutes": dif, "reserved_cpf_minutes": cpf})
    return dossier


def closure_limit(start_date: date | None, reserved: int, today: date) -> int:
    """The most hours a closure dated `today` may record: the reserved hours once the training has
    started, nothing before its start date (a training that has not begun can only be closed as cancelled)."""
    if start_date is not None and today < start_date:
        return 0
    return reserved


def _check_closure(dossier: Dossier, done_minutes: int, reserved: int) -> None:
    """Hours done against the reservation and the training dates; the closure is dated today (Paris)."""
    if done_minutes > reserved:
        raise ValidationError(
            f"Heures réalisées : elles ne peuvent pas dépasser les heures réservées ({format_hours(reserved)}).",
            {"done_minutes": "supérieur au réservé"},
        )
    if done_minutes > closure_limit(dossier.start_date, reserved, clock.today()):
        raise ValidationError(
            f"Heures réalisées : la formation commence le {format_date_fr(dossier.start_date)}, aucune heure "
            "n'a pu être réalisée avant. Avant cette date, le dossier ne peut être clos qu'à 0 h "
            "(formation annulée, avec un motif).",
            {"done_minutes": "formation non commencée"},
        )


async def close(ctx: RequestContext, dossier_id: int, done_minutes: int | None, reason: str = "") -> Dossier:
    """Close a validated file, dated today (Paris): hours done ≤ reserved, and none before the training's
    start (`closure_limit`); a reason when fewer than reserved; consumes and releases."""
    from cpf_tui.services.validation import validate_text

    actor = await sessions.require(ctx, ACTION_CAPABILITY["close"])
    dossier = await _load_for(actor, dossier_id)
    _check_status(dossier, "close")
    if done_minutes is None:
        raise ValidationError("Heures réalisées : champ obligatoire.", {"done_minutes": "obligatoire"})
    if done_minutes < 0:
        raise ValidationError("Heures réalisées : une durée positive est attendue.", {"done_minutes": "négatif"})
    reserved = dossier.reserved_dif_minutes + dossier.reserved_cpf_minutes
    _check_closure(dossier, done_minutes, reserved)
    clean_reason = validate_text(reason, "Motif", max_length=500, required=done_minutes < reserved)
    async with _transition(ctx, actor, dossier_id, "close", holder=True) as step:
        settled = await ledger.settle(step.locked_holder(), step.dossier, done_minutes, actor=actor, conn=step.conn,
                                      reason=clean_reason)
        dossier = await step.update(status=DossierStatus.CLOSED, done_minutes=done_minutes,
                                    closure_reason=clean_reason, closed_at=clock.now(), closed_by_id=actor.id)
        await step.record({"done_minutes": done_minutes, "reason": clean_reason, **settled})
    return dossier


# -- reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventLine:
    at: datetime
    actor: str
    action: str
    label: str
    summary: str


@dataclass(frozen=True)
class DossierView:
    """A file as its form shows it, with its history."""

    id: int
    number: str
    status: DossierStatus
    version: int
    holder_id: int
    holder_nir: str
    holder_name: str
    organisation: str
    establishment: str
    training_title: str
    provider_name: str
    provider_siret: str
    start_date: date | None
    end_date: date | None
    duration_minutes: int
    requested_minutes: int
    reserved_dif_minutes: int
    reserved_cpf_minutes: int
    done_minutes: int | None
    closure_reason: str
    created_at: datetime
    created_by: str
    validated_at: datetime | None
    validated_by: str
    closed_at: datetime | None
    closed_by: str
    events: list[EventLine] = field(default_factory=list)

    @property
    def reserved_minutes(self) -> int:
        return self.reserved_dif_minutes + self.reserved_cpf_minutes

    def as_text_fields(self) -> dict[str, str]:
        """The editable fields as a form shows them."""
        return {
            "holder_nir": self.holder_nir,
            "training_title": self.training_title,
            "provider_name": self.provider_name,
            "provider_siret": self.provider_siret,
            "start_date": format_date_fr(self.start_date),
            "end_date": format_date_fr(self.end_date),
            "duration_minutes": format_hours(self.duration_minutes) if self.duration_minutes else "",
            "requested_minutes": format_hours(self.requested_minutes) if self.requested_minutes else "",
        }


def _event_summary(action: str, details: dict[str, Any]) -> str:
    if action == "save":
        names = ", ".join(sorted(details.get("changes", {}))) or "aucun champ"
        return f"Champs modifiés : {names}"
    if action == "validate":
        return (f"Heures réservées : DIF {format_hours(details.get('reserved_dif_minutes', 0))}, "
                f"CPF {format_hours(details.get('reserved_cpf_minutes', 0))}")
    if action == "close":
        text = f"Heures réalisées : {format_hours(details.get('done_minutes', 0))}"
        if details.get("reason"):
            text += f" — motif : {details['reason']}"
        return text
    return "Dossier créé"


def _name(account: Account | None) -> str:
    return account.full_name if account else ""


_VIEW_RELATED = ("holder", "organisation", "establishment", "created_by", "validated_by", "closed_by")


async def open_dossier(ctx: RequestContext, dossier_id: int) -> tuple[DossierView, holders.HolderBalance]:
    """A file in the actor's scope with its holder and history, and its holder's balances (HOLDER_VIEW
    too), as the file form shows them: two statements after the actor's reads — the file with its
    relations, then its events with their actors."""
    actor = await sessions.require(ctx, Capability.DOSSIER_VIEW)
    sessions.require_capability(actor, Capability.HOLDER_VIEW)
    dossier = await _load_for(actor, dossier_id, related=_VIEW_RELATED)
    events = await DossierEvent.filter(dossier_id=dossier_id).order_by("at", "id").select_related("actor")
    holder = dossier.holder
    view = DossierView(
        id=dossier.id, number=dossier.number, status=dossier.status, version=dossier.version,
        holder_id=holder.id, holder_nir=holder.nir,
        holder_name=holder.display_name,
        organisation=dossier.organisation.raison_sociale,
        establishment=dossier.establishment.name if dossier.establishment else "",
        training_title=dossier.training_title, provider_name=dossier.provider_name,
        provider_siret=dossier.provider_siret, start_date=dossier.start_date, end_date=dossier.end_date,
        duration_minutes=dossier.duration_minutes, requested_minutes=dossier.requested_minutes,
        reserved_dif_minutes=dossier.reserved_dif_minutes, reserved_cpf_minutes=dossier.reserved_cpf_minutes,
        done_minutes=dossier.done_minutes, closure_reason=dossier.closure_reason,
        created_at=dossier.created_at, created_by=_name(dossier.created_by),
        validated_at=dossier.validated_at, validated_by=_name(dossier.validated_by),
        closed_at=dossier.closed_at, closed_by=_name(dossier.closed_by),
        events=[
            EventLine(e.at, _name(e.actor) or "Système", e.action, EVENT_LABELS.get(e.action, e.action),
                      _event_summary(e.action, e.details or {}))
            for e in events
        ],
    )
    return view, holders.balance_of(holder)


@dataclass
class DossierFilter:
    """List filters; empty values do not filter."""

    status: DossierStatus | str | None = None
    holder: str = ""
    """A NIR (exact) or the beginning of a holder's birth or usage name."""
    establishment_id: int | None = None
    start_from: date | None = None
    start_to: date | None = None
    sort: str = "-created"


@dataclass(frozen=True)
class DossierRow:
    id: int
    number: str
    status: DossierStatus
    holder_name: str
    holder_nir: str
    training_title: str
    start_date: date | None
    requested_minutes: int
    establishment: str


@dataclass(frozen=True)
class DossierPage:
    rows: list[DossierRow]
    page: int
    page_size: int
    has_next: bool
    total: int = 0
    """Files matching the filters over every page."""

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))


def scoped_dossiers(actor: Account) -> Any:
    """The files in the actor's scope, as a query (delegated administrators: their establishment; operators:
    every file; others: their organisation) — the list's and the home queues' one copy of the rule."""

    role = Role(actor.role)
    if role == Role.DELEGATED_ADMIN:
        return Dossier.filter(organisation_id=actor.organisation_id, establishment_id=actor.establishment_id)
    if role == Role.OPERATOR:
        return Dossier.all()
    return Dossier.filter(organisation_id=actor.organisation_id)


async def list_dossiers(
    ctx: RequestContext, filters: DossierFilter | None = None, *, page: int = 1, page_size: int = PAGE_SIZE
) -> DossierPage:
    """One page of the files in the actor's scope, filtered and sorted, with the count of every matching file
    (one COUNT on the same indexed filters; one extra row fetched tells whether a next page exists)."""
    from cpf_tui.services.holders import looks_like_nir
    from cpf_tui.services.validation import name_key, normalise_nir
    from tortoise.expressions import Q

    actor = await sessions.require(ctx, Capability.DOSSIER_VIEW)
    filters = filters or DossierFilter()
    if filters.sort not in SORTS:
        raise ValidationError("Tri inconnu.")
    page = max(1, page)
    query = scoped_dossiers(actor)
    if filters.status:
        query = query.filter(status=DossierStatus(filters.status))
    if filters.establishment_id:
        query = query.filter(establishment_id=filters.establishment_id)
    if filters.start_from:
        query = query.filter(start_date__gte=filters.start_from)
    if filters.start_to:
        query = query.filter(start_date__lte=filters.start_to)
    if filters.start_from and filters.start_to and filters.start_to < filters.start_from:
        raise ValidationError("Dates : la date « au » précède la date « du ».")
    text = (filters.holder or "").strip()
    if text:
        if looks_like_nir(text):
            query = query.filter(holder__nir=normalise_nir(text))
        else:
            key = name_key(text)
            query = query.filter(Q(holder__search_name__startswith=key) | Q(holder__search_usage__startswith=key))
    rows = await (
        query.order_by(*SORTS[filters.sort]).offset((page - 1) * page_size).limit(page_size + 1)
        .prefetch_related("holder", "establishment")
    )
    return DossierPage(
        rows=[
            DossierRow(
                id=d.id, number=d.number, status=d.status,
                holder_name=d.holder.display_name,
                holder_nir=d.holder.nir, training_title=d.training_title, start_date=d.start_date,
                requested_minutes=d.requested_minutes, establishment=d.establishment.name if d.establishment else "",
            )
            for d in rows[:page_size]
        ],
        page=page,
        page_size=page_size,
        has_next=len(rows) > page_size,
        total=await query.count(),
    )


async def establishments_in_scope(ctx: RequestContext) -> list[tuple[int, str]]:
    """The establishments whose files the actor may list (for the filter)."""
    actor = await sessions.require(ctx, Capability.DOSSIER_VIEW)
    query = Establishment.all()
    role = Role(actor.role)
    if role == Role.DELEGATED_ADMIN:
        query = query.filter(id=actor.establishment_id)
    elif role != Role.OPERATOR:
        query = query.filter(organisation_id=actor.organisation_id)
    return [(e.id, e.name) for e in await query.order_by("name").limit(500)]
