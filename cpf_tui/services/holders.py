"""Holders (titulaires): search, holder page, coordonnées médiatiques.

Scope: holders are national. Any habilitated user whose profile grants HOLDER_VIEW (every dossier
profile, CDC operators included) may look a holder up by NIR, or by the beginning of its birth or
usage name together with its date of birth. Updating the e-mail and mobile phone is open to every
dossier profile (Consultation and above), not to CDC operators, who are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cpf_tui import permissions
from cpf_tui.errors import Conflict, NotFound, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions
from cpf_tui.services.context import RequestContext
from cpf_tui.services.ledger import Balances, balances_of
from cpf_tui.services.validation import name_key, normalise_nir, validate_text

from models import Account, Dossier, Holder, HoursMovement, Role
SEARCH_LIMIT = 50
_NAME_KEY_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ '-")


def looks_like_nir(text: str) -> bool:
    """Whether a search text is meant as a NIR (digits, with 2A/2B, spaces allowed)."""
    compact = "".join(text.split()).upper()
    return compact[:1].isdigit() and compact.replace("A", "").replace("B", "").isdigit()


@dataclass(frozen=True)
class HolderRow:
    """One line of search results."""

    id: int
    nir: str
    nom_naissance: str
    nom_usage: str
    prenoms: str
    date_naissance: date


@dataclass(frozen=True)
class MovementLine:
    """One line of the ledger history shown on the holder's page."""

    at: datetime
    kind: str
    kind_label: str
    bucket: str
    minutes: int
    previous_minutes: int | None
    dossier_number: str
    author: str
    reason: str

    @property
    def label(self) -> str:
        """The movement and its hours (`Réservation DIF`), the hours named once (`Acquisition CPF`)."""
        return self.kind_label if self.bucket in self.kind_label else f"{self.kind_label} {self.bucket}"


OTHER_ORGANISATION_FILE = "dossier d'un autre organisme"
"""What the holder's page says instead of the number of a file outside the reader's scope."""
OTHER_ORGANISATION_AUTHOR = "un autre organisme"
"""What the holder's page says instead of the name of an author outside the reader's scope."""


@dataclass(frozen=True)
class HolderFile:
    """One training file of the holder, as its page lists it.

    A file outside the reader's scope keeps its status and hours (they explain the balance) but not its
    number, title, organisation or people: `dossier_id` is None and `label` is `OTHER_ORGANISATION_FILE`.
    """

    dossier_id: int | None
    label: str
    status: Any
    training_title: str
    requested_minutes: int
    reserved_minutes: int
    done_minutes: int | None


@dataclass(frozen=True)
class HolderPage:
    """What the holder's page shows: identity, contact, balances, training files and ledger history."""

    id: int
    nir: str
    nom_naissance: str
    nom_usage: str
    prenoms: str
    date_naissance: date
    email: str
    mobile: str
    version: int
    balances: Balances
    movements: list[MovementLine]
    files: list[HolderFile] = field(default_factory=list)


_COLUMNS = "id, nir, nom_naissance, nom_usage, prenoms, date_naissance, search_name"
_PREFIX_SQL = (
    "SELECT * FROM (SELECT {c} FROM holder WHERE search_name >= {p1} AND search_name < {p2}"
    " AND date_naissance = {p3} ORDER BY search_name, id LIMIT {limit}) AS by_birth_name"
    " UNION SELECT * FROM (SELECT {c} FROM holder WHERE search_usage >= {p1} AND search_usage < {p2}"
    " AND date_naissance = {p3} ORDER BY search_usage, id LIMIT {limit}) AS by_usage_name"
    " ORDER BY search_name, prenoms, id LIMIT {limit}"
)


def _from_sql(row: dict[str, Any]) -> HolderRow:
    born = row["date_naissance"]
    if isinstance(born, str):
        born = date.fromisoformat(born[:10])
    return HolderRow(row["id"], row["nir"], row["nom_naissance"], row["nom_usage"], row["prenoms"], born)


async def search(
    ctx: RequestContext, *, nir: str = "", name: str = "", birth_date: date | None = None, limit: int = SEARCH_LIMIT
) -> list[HolderRow]:
    """Holders by exact NIR, or by name prefix (birth or usage name) and date of birth, sorted by name.

    One parameterised query each, on the `nir` unique index or the (date of birth, name key) indexes: a range
    on the indexed key rather than LIKE, which SQLite cannot serve from an index case-insensitively.
    """
    from tortoise.transactions import _get_connection

    from cpf_tui.services.locking import is_sqlite

    await sessions.require(ctx, Capability.HOLDER_VIEW)
    conn = _get_connection(None)
    sqlite = is_sqlite(conn)
    marks = ("?1", "?2", "?3") if sqlite else ("$1", "$2", "$3")
    if nir.strip():
        rows = await conn.execute_query_dict(f"SELECT {_COLUMNS} FROM holder WHERE nir = {marks[0]}",
                                             [normalise_nir(nir)])
        return [_from_sql(row) for row in rows]
    prefix = name_key(validate_text(name, "Nom", required=False))
    if not prefix:
        raise ValidationError("Saisissez un NIR, ou le début du nom et la date de naissance.", {"name": "obligatoire"})
    if not set(prefix) <= _NAME_KEY_CHARS:
        raise ValidationError("Nom : seules les lettres, espaces, apostrophes et traits d'union sont acceptés.",
                              {"name": "caractères invalides"})
    if birth_date is None:
        raise ValidationError("Date de naissance : obligatoire pour une recherche par nom.",
                              {"birth_date": "obligatoire"})
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    sql = _PREFIX_SQL.format(c=_COLUMNS, p1=marks[0], p2=marks[1], p3=marks[2], limit=int(limit))
    rows = await conn.execute_query_dict(sql, [prefix, upper, birth_date.isoformat() if sqlite else birth_date])
    return [_from_sql(row) for row in rows]


def _author_name(actor: Account, author: Account | None) -> str:
    """An author as the reader may see it: CDC operators by institution, others by name within the scope."""
    if author is None or Role(author.role) == Role.OPERATOR:
        return "Caisse des dépôts"
    if permissions.in_scope(actor, author.organisation_id, author.establishment_id):
        return author.full_name
    return OTHER_ORGANISATION_AUTHOR


def _movement_line(actor: Account, m: Any) -> MovementLine:
    """A ledger line; a movement of a file outside the reader's scope names neither the file nor its people
    (its reason, written from the file's number and closure reason, is left out too)."""
    hidden = m.dossier is not None and not permissions.in_scope(actor, m.dossier.organisation_id,
                                                                m.dossier.establishment_id)
    return MovementLine(
        at=m.created_at, kind=m.kind.value, kind_label=m.kind.label, bucket=m.bucket.value.upper(),
        minutes=m.minutes, previous_minutes=m.previous_minutes,
        dossier_number=OTHER_ORGANISATION_FILE if hidden else (m.dossier.number if m.dossier else ""),
        author=OTHER_ORGANISATION_AUTHOR if hidden else _author_name(actor, m.author),
        reason="" if hidden else m.reason,
    )


def _holder_file(actor: Account, d: Any) -> HolderFile:
    reserved = d.reserved_dif_minutes + d.reserved_cpf_minutes
    if permissions.in_scope(actor, d.organisation_id, d.establishment_id):
        return HolderFile(d.id, d.number, d.status, d.training_title, d.requested_minutes, reserved, d.done_minutes)
    return HolderFile(None, OTHER_ORGANISATION_FILE, d.status, "", d.requested_minutes, reserved, d.done_minutes)


async def holder_page(ctx: RequestContext, holder_id: int) -> HolderPage:
    """A holder's identity, contact, balances, files (newest first) and ledger history (oldest first).

    Holders are national, their files are not: files and movements of another organisation (or, for a
    delegated administrator, of another establishment) show their status and hours only (docs/dossiers.md).
    """

    actor = await sessions.require(ctx, Capability.HOLDER_VIEW)
    holder = await Holder.get_or_none(id=holder_id)
    if holder is None:
        raise NotFound("Titulaire introuvable.")
    movements = await HoursMovement.filter(holder_id=holder_id).order_by("created_at", "id").prefetch_related(
        "dossier", "author"
    )
    files = await Dossier.filter(holder_id=holder_id).order_by("-created_at", "-id").limit(200)
    return HolderPage(
        id=holder.id, nir=holder.nir, nom_naissance=holder.nom_naissance, nom_usage=holder.nom_usage,
        prenoms=holder.prenoms, date_naissance=holder.date_naissance, email=holder.email, mobile=holder.mobile,
        version=holder.version, balances=balances_of(holder), movements=[_movement_line(actor, m) for m in movements],
        files=[_holder_file(actor, d) for d in files],
    )


async def update_contact(
    ctx: RequestContext, holder_id: int, *, email: str, mobile: str, expected_version: int | None = None
) -> Any:
    """Change a holder's e-mail and mobile phone (validated, audited); empty values clear them."""
    from cpf_tui.services.locking import lock_holder, serialised_transaction
    from cpf_tui.services.validation import validate_email, validate_phone

    actor = await sessions.require(ctx, Capability.HOLDER_UPDATE_CONTACT)
    clean_email = validate_email(email, "E-mail") if (email or "").strip() else ""
    clean_mobile = validate_phone(mobile, "Téléphone mobile", required=False, mobile=True)
    async with serialised_transaction() as conn:
        holder = await lock_holder(holder_id, conn)
        if holder is None:
            raise NotFound("Titulaire introuvable.")
        if expected_version is not None and holder.version != expected_version:
            raise Conflict(
                "Ce titulaire a été modifié par quelqu'un d'autre depuis l'ouverture de sa fiche : "
                "rechargez-la puis recommencez (votre saisie n'a pas été enregistrée)."
            )
        before = {"email": holder.email, "mobile": holder.mobile}
        after = {"email": clean_email, "mobile": clean_mobile}
        if before == after:
            raise ValidationError("Coordonnées inchangées : rien à enregistrer.")
        holder.email, holder.mobile = clean_email, clean_mobile
        holder.version += 1
        await holder.save(using_db=conn, update_fields=["email", "mobile", "version"])
        await audit.record("holder.update_contact", ctx=ctx, actor=actor, target=holder, before=before,
                           after=after, using_db=conn)
    return holder


@dataclass(frozen=True)
class HolderBalance:
    """A holder as the file form shows it next to the NIR: who it is and what it has."""

    id: int
    nir: str
    name: str
    balances: Balances


async def balance_for_nir(ctx: RequestContext, nir: str) -> HolderBalance | None:
    """The holder with this NIR and its balances (None when no holder has it; ValidationError when malformed)."""
    await sessions.require(ctx, Capability.HOLDER_VIEW)
    holder = await Holder.get_or_none(nir=normalise_nir(nir))
    return None if holder is None else balance_of(holder)


def balance_of(holder: Holder) -> HolderBalance:
    """What the file form shows of a holder already read (the caller checked HOLDER_VIEW)."""
    return HolderBalance(holder.id, holder.nir, holder.display_name, balances_of(holder))
