"""Enumerations shared by models, services and screens (values are stored in the database)."""

from __future__ import annotations

from enum import Enum


class StructureType(str, Enum):
    """How an organisation is registered (kit: structure unique / structures multiples)."""

    UNIQUE = "unique"
    MULTIPLE = "multiple"

    @property
    def label(self) -> str:
        return {"unique": "Structure unique", "multiple": "Structures multiples"}[self.value]

    @property
    def short_label(self) -> str:
        """The label in a « Structure » column: « Unique » or « Multiples »."""
        return {"unique": "Unique", "multiple": "Multiples"}[self.value]


class Role(str, Enum):
    """Role of an account; the order of LEVELS gives who may manage whom."""

    OPERATOR = "operator"
    PRINCIPAL_ADMIN = "principal_admin"
    DELEGATED_ADMIN = "delegated_admin"
    GESTIONNAIRE = "gestionnaire"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def level(self) -> int:
        """Higher is more powerful: operator 4, principal 3, delegated 2, gestionnaire 1."""
        return {"operator": 4, "principal_admin": 3, "delegated_admin": 2, "gestionnaire": 1}[self.value]


ROLE_LABELS = {
    Role.OPERATOR: "Opérateur CDC",
    Role.PRINCIPAL_ADMIN: "Administrateur principal",
    Role.DELEGATED_ADMIN: "Administrateur délégué",
    Role.GESTIONNAIRE: "Gestionnaire",
}


class Profile(str, Enum):
    """Cumulative dossier profile: each includes the rights of the previous one."""

    CONSULTATION = "consultation"
    CREATION = "creation"
    VALIDATION = "validation"
    CLOTURE = "cloture"

    @property
    def label(self) -> str:
        return PROFILE_LABELS[self]

    @property
    def rank(self) -> int:
        return {"consultation": 1, "creation": 2, "validation": 3, "cloture": 4}[self.value]


PROFILE_LABELS = {
    Profile.CONSULTATION: "Consultation",
    Profile.CREATION: "Création",
    Profile.VALIDATION: "Validation",
    Profile.CLOTURE: "Clôture",
}


class AccountStatus(str, Enum):
    """Soft-delete status; a locked account is still active (see Account.locked_at)."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return {"active": "Actif", "deactivated": "Désactivé"}[self.value]


class DossierStatus(str, Enum):
    """Training-file states: en cours d'élaboration -> validé -> clos."""

    DRAFT = "draft"
    VALIDATED = "validated"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"draft": "En cours d'élaboration", "validated": "Validé", "closed": "Clos"}[self.value]


class MovementKind(str, Enum):
    """Kinds of hours-ledger movements."""

    CPF_ACQUISITION = "cpf_acquisition"
    DIF_SETTING = "dif_setting"
    RESERVATION = "reservation"
    CONSUMPTION = "consumption"
    RELEASE = "release"

    @property
    def label(self) -> str:
        return {
            "cpf_acquisition": "Acquisition CPF",
            "dif_setting": "Saisie du solde DIF",
            "reservation": "Réservation",
            "consumption": "Consommation",
            "release": "Libération",
        }[self.value]


class Bucket(str, Enum):
    """Which hours a movement concerns."""

    CPF = "cpf"
    DIF = "dif"


class OutboxStatus(str, Enum):
    """Delivery state of an outbox e-mail."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {"pending": "En attente", "sending": "En cours d'envoi", "sent": "Envoyé", "failed": "Échec"}[
            self.value
        ]


class ImportStatus(str, Enum):
    """Outcome of a bulk-habilitation import."""

    IMPORTED = "imported"
    REJECTED = "rejected"
