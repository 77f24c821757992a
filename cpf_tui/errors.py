"""Exceptions whose message is French and safe to show to the user."""

from __future__ import annotations


class CpfError(Exception):
    """Base class: `str(error)` is a French message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CpfError):
    """The configuration file or environment is invalid."""


class DatabaseBehind(CpfError):
    """The database schema is older than the application (migrations pending)."""


class ValidationError(CpfError):
    """User input is invalid; `errors` maps field names to French messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class PermissionDenied(CpfError):
    """The actor may not do this (role, profile, scope or state)."""


class NotFound(CpfError):
    """The object asked for does not exist (or is out of the actor's scope)."""


class Conflict(CpfError):
    """The object changed since it was read (optimistic locking) or a uniqueness rule was hit."""


class AuthenticationFailed(CpfError):
    """Login refused; one message whatever the cause (no enumeration)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionEnded(CpfError):
    """The user's session is no longer valid (deactivated, locked, password regenerated, ended)."""


class DatabaseUnavailable(CpfError):
    """The database server could not be reached (PostgreSQL stopped or restarting); see cpf_tui.pg_client."""

    MESSAGE = ("Base de données indisponible, nouvel essai… L'opération n'a pas abouti (rien n'est enregistré à"
               " moitié) : recommencez dans quelques instants.")

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.MESSAGE)


class StorageFull(CpfError):
    """The server's disk is full (or a size limit is reached): the write was rolled back whole."""

    MESSAGE = ("Enregistrement impossible : le disque du serveur est plein (ou une limite de taille est atteinte)."
               " Rien n'a été enregistré ; prévenez l'exploitation puis recommencez.")

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.MESSAGE)
