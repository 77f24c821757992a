"""The sections a user may open from home: one list, filtered with the permission table.

Each area adds its entry to `all_sections()`; factories import their screen lazily so that
start-up stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen

from cpf_tui.permissions import Capability, can
from cpf_tui.services.auth import SessionInfo


@dataclass(frozen=True)
class Section:
    """One entry of the home menu."""

    id: str
    label: str
    description: str
    allowed: Callable[[SessionInfo], bool]
    factory: Callable[[], Screen]


def _allowed(capability_name: str) -> Callable[[SessionInfo], bool]:
    """A section filter from the capability table (habilitation area)."""
    from cpf_tui import permissions

    capability = permissions.Capability[capability_name]
    return lambda info: permissions.can(info.role, info.profile, capability)


def _organisations_screen() -> Screen:
    from screens.organisations import OrganisationsScreen

    return OrganisationsScreen()


def _user_tree_screen() -> Screen:
    from screens.user_tree import UserTreeScreen

    return UserTreeScreen()


def _outbox_screen() -> Screen:
    from screens.outbox import OutboxScreen

    return OutboxScreen()


def _can_bulk_import(info: SessionInfo) -> bool:
    from cpf_tui.permissions import Capability, can

    return can(info.role, info.profile, Capability.BULK_IMPORT)


def _bulk_import_screen() -> Screen:
    from screens.bulk_import import BulkImportScreen

    return BulkImportScreen()


def all_sections() -> list[Section]:
    """Every section of the application, in menu order."""
    sections: list[Section] = []
    sections.append(Section(
        "organisations", "Organismes", "inscrire les organismes, leurs établissements et administrateurs",
        _allowed("ORGANISATION_LIST_ALL"), _organisations_screen,
    ))
    sections.append(Section(
        "users", "Utilisateurs", "habiliter et gérer les administrateurs délégués et gestionnaires",
        lambda info: _allowed("ACCOUNT_VIEW_TREE")(info) and not _allowed("ORGANISATION_LIST_ALL")(info),
        _user_tree_screen,
    ))
    sections.append(Section(
        "outbox", "File d'envoi", "état des courriels envoyés ou en attente",
        _allowed("OUTBOX_VIEW"), _outbox_screen,
    ))
    sections.append(Section(
        "bulk-import", "Habilitation en masse", "importer un classeur Excel de comptes à créer",
        _can_bulk_import, _bulk_import_screen,
    ))
    sections.append(Section(
        "journal", "Journal d'audit", "qui a fait quoi, quand (filtres, export .xlsx)",
        lambda info: can(info.role, info.profile, Capability.AUDIT_VIEW), _journal_screen,
    ))
    sections.append(Section(
        "holders", "Titulaires", "recherche, coordonnées et compte d'heures d'un titulaire",
        _holders_allowed, _holders_screen,
    ))
    sections.append(Section(
        "dossiers", "Dossiers de formation", "créer, valider et clore les dossiers de formation",
        _dossiers_allowed, _dossiers_screen,
    ))
    sections.append(Section(
        "sessions", "Sessions ouvertes", "qui est connecté, fermer les sessions d'un utilisateur",
        _can_manage_sessions, _sessions_screen,
    ))
    sections.append(Section(
        "planning", "Planning", "macro-planning du kit d'inscription",
        lambda info: can(info.role, info.profile, Capability.PLANNING_VIEW), _planning_screen,
    ))
    sections.append(Section(
        "password", "Changer mon mot de passe", "choisir un nouveau mot de passe (l'actuel est demandé)",
        lambda info: True, _password_screen,
    ))
    return sections


def _can_manage_sessions(info: SessionInfo) -> bool:
    from cpf_tui.permissions import Capability as Cap
    from cpf_tui.permissions import can as can_do

    return can_do(info.role, info.profile, Cap.SESSIONS_MANAGE)


def _sessions_screen() -> Screen:
    from screens.sessions import SessionsScreen

    return SessionsScreen()


def _password_screen() -> Screen:
    from screens.password import PasswordScreen

    return PasswordScreen(mandatory=False)


def _holders_allowed(info: SessionInfo) -> bool:
    from cpf_tui.permissions import Capability, can

    return can(info.role, info.profile, Capability.HOLDER_VIEW)


def _holders_screen() -> Screen:
    from screens.holders import HolderSearchScreen

    return HolderSearchScreen()


def _dossiers_allowed(info: SessionInfo) -> bool:
    from cpf_tui.permissions import Capability, can

    return can(info.role, info.profile, Capability.DOSSIER_VIEW)


def _dossiers_screen() -> Screen:
    from screens.dossiers import DossierListScreen

    return DossierListScreen()


def _journal_screen() -> Screen:
    from screens.journal import JournalScreen

    return JournalScreen()


def _planning_screen() -> Screen:
    from screens.planning import PlanningScreen

    return PlanningScreen()


def sections_for(info: SessionInfo) -> list[Section]:
    """The sections this user may open, in menu order."""
    return [section for section in all_sections() if section.allowed(info)]
