"""Tortoise models of cpf-tui, one module per aggregate, re-exported here.

Every model sets `_no_comments = True`: without it Tortoise reads and parses each model's source file at
import (`inspect.getsource`, to take `#:` comments as field descriptions; we write none). That parse ran on
the event loop while the database opened at start-up, holding the interpreter for tens of milliseconds,
seconds on a loaded machine (tests/test_models_import.py checks the flag on every model).
"""

from models.account import Account, AppSession, CguAcceptance, CguVersion, PasswordHistory
from models.audit import AuditEvent
from models.bulk import BulkImport
from models.dossier import Dossier, DossierEvent
from models.enums import (
    AccountStatus,
    Bucket,
    DossierStatus,
    ImportStatus,
    MovementKind,
    OutboxStatus,
    Profile,
    Role,
    StructureType,
)
from models.holder import Holder, HoursMovement
from models.organisation import Establishment, Organisation
from models.outbox import OutboxEmail
from models.planning import PlanningMilestone

__all__ = [
    "Account",
    "AccountStatus",
    "AppSession",
    "AuditEvent",
    "Bucket",
    "BulkImport",
    "CguAcceptance",
    "CguVersion",
    "Dossier",
    "DossierEvent",
    "DossierStatus",
    "Establishment",
    "Holder",
    "HoursMovement",
    "ImportStatus",
    "MovementKind",
    "Organisation",
    "OutboxEmail",
    "OutboxStatus",
    "PasswordHistory",
    "PlanningMilestone",
    "Profile",
    "Role",
    "StructureType",
]
