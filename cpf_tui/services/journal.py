"""Reading and exporting the audit journal: filters, scope (operators all, principal administrators their
organisation, delegated administrators their establishment), pages, and the `.xlsx` export (itself audited)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cpf_tui import clock
from cpf_tui.errors import ValidationError
from cpf_tui.clock import local_zone
from cpf_tui.permissions import Capability
from cpf_tui.services import audit, sessions, xlsx_export
from cpf_tui.services.context import RequestContext
from cpf_tui.services.validation import validate_text
from cpf_tui.text import clean_line, fold
from models import Account, AuditEvent
from models.enums import Role

PAGE_SIZE = 50
"""Rows per page of the journal screen."""
EXPORT_BATCH = 1000

ACTION_LABELS: dict[str, str] = {
    "login": "Connexion",
    "logout": "Déconnexion",
    "account.create": "Création de compte",
    "account.edit": "Modification de compte",
    "account.change_profile": "Changement de profil",
    "account.deactivate": "Désactivation de compte",
    "account.edit_and_change_profile": "Modification de compte et de profil",
    "account.regenerate_password": "Régénération du mot de passe",
    "account.locked": "Verrouillage de compte",
    "operator.create": "Création d'opérateur CDC",
    "password.change": "Changement de mot de passe",
    "cgu.accept": "Acceptation des CGU",
    "cgu.refuse": "Refus des CGU",
    "session.end": "Fin de session",
    "session.unlock": "Déverrouillage de session",
    "session.hangup": "Terminal fermé (session interrompue)",
    "sessions.end": "Sessions fermées par un administrateur",
    "cgu.publish": "Publication des CGU",
    "sandbox.build": "Création du bac à sable",
    "organisation.register": "Enregistrement d'organisme",
    "organisation.edit": "Modification d'organisme",
    "establishment.add": "Ajout d'établissement",
    "principal.replace": "Remplacement d'administrateur principal",
    "holder.update_contact": "Coordonnées du titulaire",
    "holder.set_dif": "Solde DIF",
    "holder.cpf_acquisition": "Acquisition CPF",
    "holder.feed": "Alimentation des titulaires",
    "holder.hours_feed": "Alimentation des heures CPF",
    "dossier.create": "Création de dossier",
    "dossier.save": "Modification de dossier",
    "dossier.delete": "Suppression de dossier",
    "dossier.validate": "Validation de dossier",
    "dossier.close": "Clôture de dossier",
    "bulk.import": "Habilitation en masse",
    "outbox.retry": "Nouvel envoi de courriel",
    "planning.edit": "Modification du planning",
    "audit.export": "Export du journal",
}
OUTCOME_LABELS: dict[str, str] = {"ok": "Réussi", "success": "Réussi", "failure": "Échec", "denied": "Refusé",
                                  "delayed": "Différé (trop d'échecs)"}
FIELD_LABELS: dict[str, str] = {
    # accounts
    "identifier": "Identifiant", "role": "Rôle", "profile": "Profil", "status": "Statut", "nom": "Nom",
    "prenom": "Prénom", "email": "E-mail", "phone": "Téléphone", "mobile": "Téléphone mobile",
    "service": "Service", "organisation_id": "Organisme (n°)", "establishment_id": "Établissement (n°)",
    "locked": "Verrouillé", "failed_attempts": "Échecs de connexion consécutifs",
    "temporary_password_expires_at": "Mot de passe temporaire valable jusqu'au",
    "password_is_temporary": "Mot de passe temporaire", "other_sessions_ended": "Autres sessions fermées",
    "rehashed": "Empreinte du mot de passe renouvelée", "retry_after_seconds": "Nouvel essai possible après (s)",
    "reason": "Motif", "ended_sessions": "Sessions fermées", "signal": "Signal reçu",
    "cgu_version_accepted": "Version des CGU acceptée", "version": "Version", "sha256": "Empreinte SHA-256",
    # organisations and establishments
    "siret": "SIRET", "raison_sociale": "Raison sociale", "address": "Adresse", "contact_email": "E-mail de contact",
    "structure_type": "Type de structure", "name": "Nom",
    # holders and hours
    "dif_total_minutes": "Solde DIF", "cpf_acquired_minutes": "Heures CPF acquises",
    "reference_year": "Année de référence", "work_ratio_percent": "Temps de travail (%)",
    # training files
    "number": "Numéro", "holder_id": "Titulaire (n°)", "training_title": "Intitulé de la formation",
    "provider_name": "Organisme de formation", "provider_siret": "SIRET de l'organisme de formation",
    "start_date": "Date de début", "end_date": "Date de fin", "duration_minutes": "Durée totale",
    "requested_minutes": "Heures demandées", "reserved_dif_minutes": "Heures DIF réservées",
    "reserved_cpf_minutes": "Heures CPF réservées", "done_minutes": "Heures réalisées",
    "closure_reason": "Motif de clôture",
    # planning
    "action": "Action", "responsible": "Responsabilité", "start_text": "Début (saisi)", "end_text": "Fin (saisie)",
    # files: bulk habilitation, CDC feeds, journal export
    "filename": "Fichier", "file_sha256": "Empreinte du fichier", "created_count": "Comptes créés",
    "result_path": "Classeur de résultat", "lines": "Lignes", "errors": "Erreurs",
    "ignore_errors": "Lignes en erreur ignorées", "applied": "Appliqué", "created": "Créés", "updated": "Modifiés",
    "unchanged": "Inchangés", "year": "Année", "credited": "Titulaires crédités", "credited_minutes": "Heures créditées",
    "at_ceiling": "Au plafond", "filtres": "Filtres", "lignes": "Lignes", "fichier": "Fichier",
    "actor": "Acteur", "target": "Cible", "date_from": "Du", "date_to": "Au",
    # e-mail and training sandbox
    "attempts": "Tentatives d'envoi", "seed": "Graine", "holders": "Titulaires", "dossiers": "Dossiers",
    "movements": "Mouvements d'heures",
}
"""French names of the keys an event's before/after may hold (the journal detail never shows a raw key)."""
CODE_LABELS: dict[str, str] = {
    # why a login failed or a session ended (sessions.END_*)
    "unknown_identifier": "identifiant inconnu", "deactivated": "compte désactivé", "locked": "compte verrouillé",
    "wrong_password": "mot de passe erroné", "temporary_password_expired": "mot de passe temporaire expiré",
    "credentials_changed": "mot de passe changé pendant la vérification",
    "wrong_current_password": "mot de passe actuel erroné", "logout": "déconnexion",
    "ended_by_admin": "fermée par un administrateur", "password_changed": "mot de passe changé",
    "cgu_refused": "CGU refusées", "expired": "durée maximale atteinte", "invalidated": "session invalidée",
    "password_regenerated": "mot de passe régénéré", "account_deactivated": "compte désactivé",
    "hangup": "terminal fermé", "quit": "application quittée",
}
"""French names of the reason codes stored as values; states, roles, profiles use their enums' labels."""
TARGET_LABELS: dict[str, str] = {
    "Account": "compte", "Organisation": "organisme", "Establishment": "établissement", "Dossier": "dossier",
    "Holder": "titulaire", "BulkImport": "habilitation en masse", "PlanningMilestone": "ligne du planning",
    "OutboxEmail": "courriel", "CguVersion": "version des CGU", "Sandbox": "bac à sable",
    "AuditJournal": "journal d'audit", "fichier": "fichier",
}
"""French names of the kinds of target (model names in the database)."""
_MINUTES_KEYS = frozenset(key for key in FIELD_LABELS if key.endswith("_minutes"))
_DATE_KEYS = frozenset({"start_date", "end_date"})
_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def action_label(action: str) -> str:
    """French name of an audited action (the code itself when it has none)."""
    return ACTION_LABELS.get(action, action)


def outcome_label(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome)


def target_kind(target_type: str) -> str:
    """French name of a kind of target (`Account` -> « compte »)."""
    return TARGET_LABELS.get(target_type, target_type)


def field_label(key: str) -> str:
    """French name of a before/after key; an unknown key is written as words, never as `snake_case`."""
    return FIELD_LABELS.get(key) or key.replace("_", " ").replace(".", " ").capitalize()


def value_text(key: str, value: Any) -> str:
    """A before/after value as a reader expects it: hours, dates, yes/no, French names of codes."""
    from cpf_tui.services.ledger import format_hours
    from models.enums import AccountStatus, DossierStatus, OutboxStatus, Profile, Role, StructureType

    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if key in _MINUTES_KEYS and isinstance(value, int):
        return format_hours(value)
    if isinstance(value, dict):
        return " ; ".join(f"{field_label(k)} : {value_text(k, v)}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(value_text(key, item) for item in value) or "—"
    text = str(value)
    if key in _DATE_KEYS and _ISO_DATE.match(text):
        return date.fromisoformat(text).strftime("%d/%m/%Y")
    if key == "temporary_password_expires_at":
        try:
            return clock.shown(datetime.fromisoformat(text))
        except ValueError:
            return text
    coded: dict[str, tuple[type[Any], ...]] = {
        "role": (Role,), "profile": (Profile,), "structure_type": (StructureType,),
        "status": (AccountStatus, DossierStatus, OutboxStatus),
    }
    for kind in coded.get(key, ()):
        if text in kind._value2member_map_:
            return str(kind(text).label)
    return CODE_LABELS.get(text, text) if key == "reason" else text


def detail_lines(values: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(French label, shown value) for each key of an event's before or after, in a stable order."""
    if not values:
        return []
    return [(field_label(key), value_text(key, values[key])) for key in sorted(values, key=lambda k: fold(field_label(k)))]


def format_at(moment: datetime) -> str:
    """`15/01/2026 10:00:00`, in local time."""
    return clock.shown(moment, "%d/%m/%Y %H:%M:%S")


def parse_day(text: str, label: str) -> date | None:
    """A day typed as JJ/MM/AAAA (or AAAA-MM-JJ); None when empty; ValidationError (French) otherwise."""
    text = clean_line(text)
    if not text:
        return None
    match = _DATE.match(text)
    parts = (match.group(3), match.group(2), match.group(1)) if match else None
    if parts is None and (iso := _ISO_DATE.match(text)):
        parts = (iso.group(1), iso.group(2), iso.group(3))
    if parts is None:
        raise ValidationError(f"{label} : « {text} » n'est pas une date (format JJ/MM/AAAA).", {label: "format"})
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise ValidationError(f"{label} : le {text} n'existe pas dans le calendrier.", {label: "date"}) from None


@dataclass(frozen=True)
class JournalFilters:
    """Filters as typed by the user: who, what, on what, between which days (inclusive)."""

    actor: str = ""
    action: str = ""
    target: str = ""
    date_from: str = ""
    date_to: str = ""

    def describe(self) -> dict[str, str]:
        """The non-empty filters, for the audit record of an export."""
        return {key: value for key, value in vars(self).items() if value}


@dataclass(frozen=True)
class JournalRow:
    """One event as shown and exported (plain values)."""

    seq: int
    at: datetime
    at_text: str
    actor: str
    action: str
    action_label: str
    outcome: str
    target_type: str
    target_id: str
    target_label: str
    organisation_id: int | None
    before: Any
    after: Any
    session_token: str
    ssh_user: str

    @property
    def target_text(self) -> str:
        return self.target_label or (f"{self.target_type} {self.target_id}".strip())


@dataclass(frozen=True)
class JournalPage:
    """One page of the filtered journal, newest events first."""

    rows: list[JournalRow]
    total: int
    page: int
    page_count: int
    filters: JournalFilters = field(default_factory=JournalFilters)


def _row(event: Any) -> JournalRow:
    return JournalRow(
        seq=event.seq,
        at=event.at,
        at_text=format_at(event.at),
        actor=event.actor_identifier or ("système" if event.actor_id is None else f"compte {event.actor_id}"),
        action=event.action,
        action_label=action_label(event.action),
        outcome=outcome_label(event.outcome),
        target_type=event.target_type,
        target_id=event.target_id,
        target_label=event.target_label,
        organisation_id=event.organisation_id,
        before=event.before,
        after=event.after,
        session_token=event.session_token[:8],
        ssh_user=event.ssh_user,
    )


def _check_text(value: str, label: str) -> str:
    """A filter typed on the journal screen: the one text rule (`validation.validate_text`), optional."""
    return validate_text(value, label, required=False)


def _filtered(query: Any, filters: JournalFilters) -> Any:
    """Apply the filters to an AuditEvent query; ValidationError (French) on bad input, nothing read."""
    from tortoise.expressions import Q

    actor = _check_text(filters.actor, "Acteur")
    action = _check_text(filters.action, "Action")
    target = _check_text(filters.target, "Cible")
    day_from = parse_day(filters.date_from, "Du")
    day_to = parse_day(filters.date_to, "Au")
    if day_from and day_to and day_to < day_from:
        raise ValidationError("Période : la date de fin précède la date de début.", {"Au": "ordre"})
    if actor:
        query = query.filter(actor_identifier__icontains=actor)
    if action:
        wanted = fold(action)
        codes = [code for code, label in ACTION_LABELS.items() if wanted in fold(label)]
        query = query.filter(Q(action__icontains=action) | Q(action__in=codes))
    if target:
        query = query.filter(
            Q(target_label__icontains=target) | Q(target_id=target) | Q(target_type__icontains=target)
        )
    zone = local_zone()
    if day_from:
        start = datetime.combine(day_from, datetime.min.time(), zone).astimezone(timezone.utc)
        query = query.filter(at__gte=start)
    if day_to:
        end = datetime.combine(day_to + timedelta(days=1), datetime.min.time(), zone).astimezone(timezone.utc)
        query = query.filter(at__lt=end)
    return query


def _scoped(actor: Account) -> Any:
    """Events the actor may read: all for operators, its organisation's for principal administrators,
    its establishment's for delegated administrators (`permissions.in_scope`)."""

    query = AuditEvent.all()
    role = Role(actor.role)
    if role != Role.OPERATOR:
        query = query.filter(organisation_id=actor.organisation_id)
    if role == Role.DELEGATED_ADMIN:
        if actor.establishment_id is None:
            return query.filter(seq__lt=0)  # no establishment: nothing is in its scope
        query = query.filter(establishment_id=actor.establishment_id)
    return query


async def search(ctx: RequestContext, filters: JournalFilters, *, page: int = 0, page_size: int = PAGE_SIZE) -> JournalPage:
    """One page of the events the actor may read that match the filters, newest first."""
    actor = await sessions.require(ctx, Capability.AUDIT_VIEW)
    query = _filtered(_scoped(actor), filters)
    total = await query.count()
    page_count = max(1, -(-total // page_size))
    page = min(max(page, 0), page_count - 1)
    events = await query.order_by("-seq").offset(page * page_size).limit(page_size)
    return JournalPage([_row(e) for e in events], total, page, page_count, filters)


async def get_event(ctx: RequestContext, seq: int) -> JournalRow:
    """One event in the actor's scope (NotFound otherwise)."""
    from cpf_tui.errors import NotFound

    actor = await sessions.require(ctx, Capability.AUDIT_VIEW)
    event = await _scoped(actor).filter(seq=seq).first()
    if event is None:
        raise NotFound(f"Événement n° {seq} introuvable.")
    return _row(event)


EXPORT_HEADERS = (
    "N°", "Date et heure", "Acteur", "Action", "Code action", "Résultat", "Type de cible", "Id cible",
    "Cible", "Organisme (id)", "Avant", "Après", "Session", "Utilisateur SSH",
)


def _export_rows(events: list[Any]) -> list[list[Any]]:
    zone = local_zone()
    rows = []
    for event in events:
        row = _row(event)
        rows.append([
            row.seq, event.at.astimezone(zone), row.actor, row.action_label, row.action, row.outcome,
            row.target_type, row.target_id, row.target_label, row.organisation_id,
            audit.canonical(row.before) if row.before is not None else "",
            audit.canonical(row.after) if row.after is not None else "",
            row.session_token, row.ssh_user,
        ])
    return rows


async def _collect(query: Any) -> list[list[Any]]:
    rows: list[list[Any]] = []
    after_seq = 0
    while True:
        batch = await query.filter(seq__gt=after_seq).order_by("seq").limit(EXPORT_BATCH)
        rows.extend(_export_rows(batch))
        if len(batch) < EXPORT_BATCH:
            return rows
        after_seq = batch[-1].seq


def default_export_path(folder: Path) -> Path:
    """`<folder>/exports/journal-AAAAMMJJ-HHMMSS.xlsx`."""
    stamp = clock.file_stamp()
    return folder / "exports" / f"journal-{stamp}.xlsx"


async def _write(query: Any, path: str | Path) -> tuple[Path, int]:
    rows = await _collect(query)
    sheet = xlsx_export.SheetData(
        "Journal d'audit", EXPORT_HEADERS, rows, widths=(8, 20, 14, 30, 22, 10, 14, 10, 36, 12, 40, 40, 10, 14)
    )
    return xlsx_export.write_workbook(path, [sheet]), len(rows)


async def export_xlsx(ctx: RequestContext, filters: JournalFilters, path: str | Path) -> tuple[Path, int]:
    """Write the events the actor may read that match the filters to an .xlsx file; the export is audited."""
    actor = await sessions.require(ctx, Capability.AUDIT_VIEW)
    query = _filtered(_scoped(actor), filters)
    written, count = await _write(query, path)
    await audit.record(
        "audit.export", ctx=ctx, actor=actor, target_type="AuditJournal", target_label="Journal d'audit",
        after={"filtres": filters.describe(), "lignes": count, "fichier": written.name},
    )
    return written, count


async def export_xlsx_system(filters: JournalFilters, path: str | Path, *, operator_label: str = "cli") -> tuple[Path, int]:
    """The CLI export (`cpf-tui audit export`): every event, for whoever runs commands on the server."""
    query = _filtered(AuditEvent.all(), filters)
    written, count = await _write(query, path)
    await audit.record(
        "audit.export", actor_identifier=operator_label, target_type="AuditJournal",
        target_label="Journal d'audit", after={"filtres": filters.describe(), "lignes": count, "fichier": written.name},
    )
    return written, count
