"""The sections a user may open from home, as data: one row per section, filtered by the capability table.

Adding a section is one row here plus its screen. Screens are imported when opened (start-up stays fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Protocol

from textual.screen import Screen

from cpf_tui.permissions import Capability, can
from models.enums import Profile, Role


class Rights(Protocol):
    """What deciding on a section needs of a session (SessionInfo, or a role and profile in docs)."""

    @property
    def role(self) -> Role | str: ...

    @property
    def profile(self) -> Profile | str | None: ...


@dataclass(frozen=True)
class Section:
    """One entry of the home menu: shown to whoever has `capability` (everyone when None)."""

    id: str
    label: str
    description: str
    capability: Capability | None
    screen: str
    """`module:Class` of the screen, built without arguments when the section is opened."""
    unless: Capability | None = None
    """Hidden from whoever has this capability (a wider section replaces it)."""

    def allowed(self, info: Rights) -> bool:
        if self.unless is not None and can(info.role, info.profile, self.unless):
            return False
        return self.capability is None or can(info.role, info.profile, self.capability)

    def screen_class(self) -> type[Screen]:
        module, _, name = self.screen.partition(":")
        screen_class: type[Screen] = getattr(import_module(module), name)
        return screen_class

    def factory(self) -> Screen:
        return self.screen_class()()


SECTIONS: tuple[Section, ...] = (
    Section("organisations", "Organismes", "inscrire les organismes, leurs établissements et administrateurs",
            Capability.ORGANISATION_LIST_ALL, "screens.organisations:OrganisationsScreen"),
    Section("users", "Utilisateurs", "habiliter et gérer les administrateurs délégués et gestionnaires",
            Capability.ACCOUNT_VIEW_TREE, "screens.user_tree:UserTreeScreen", unless=Capability.ORGANISATION_LIST_ALL),
    Section("outbox", "File d'envoi", "état des courriels envoyés ou en attente",
            Capability.OUTBOX_VIEW, "screens.outbox:OutboxScreen"),
    Section("bulk-import", "Habilitation en masse", "importer un classeur Excel de comptes à créer",
            Capability.BULK_IMPORT, "screens.bulk_import:BulkImportScreen"),
    Section("holder-feed", "Alimentation CDC", "charger les titulaires et les heures CPF annuelles",
            Capability.HOLDER_FEED, "screens.holder_feed:HolderFeedScreen"),
    Section("journal", "Journal d'audit", "qui a fait quoi, quand (filtres, export .xlsx)",
            Capability.AUDIT_VIEW, "screens.journal:JournalScreen"),
    Section("holders", "Titulaires", "recherche, coordonnées et compte d'heures d'un titulaire",
            Capability.HOLDER_VIEW, "screens.holders:HolderSearchScreen"),
    Section("dossiers", "Dossiers de formation", "créer, valider et clore les dossiers de formation",
            Capability.DOSSIER_VIEW, "screens.dossiers:DossierListScreen"),
    Section("sessions", "Sessions ouvertes", "qui est connecté, fermer les sessions d'un utilisateur",
            Capability.SESSIONS_MANAGE, "screens.sessions:SessionsScreen"),
    Section("planning", "Planning", "macro-planning du kit d'inscription",
            Capability.PLANNING_VIEW, "screens.planning:PlanningScreen"),
    Section("password", "Changer mon mot de passe", "choisir un nouveau mot de passe (l'actuel est demandé)",
            None, "screens.password:PasswordScreen"),
)
"""Every section of the application, in menu order."""


def all_sections() -> list[Section]:
    """Every section of the application, in menu order."""
    return list(SECTIONS)


def sections_for(info: Rights) -> list[Section]:
    """The sections this user may open, in menu order."""
    return [section for section in SECTIONS if section.allowed(info)]
