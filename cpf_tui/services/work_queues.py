"""Work queues of home: what waits for the logged-in user, in their scope, by what their profile may do.

- Création (DOSSIER_EDIT_DRAFT): drafts the user created that are not complete yet (a field still empty);
- Validation (DOSSIER_VALIDATE): complete drafts of the scope, oldest first (the next to validate on top);
- Clôture (DOSSIER_CLOSE): validated files of the scope whose training has ended (end date before today);
- administrators and operators (ACCOUNT_REGENERATE_PASSWORD): accounts they may manage whose temporary
  password has expired unused, and locked accounts (both need a regenerated password).

The scope of files is `dossiers.scoped_dossiers`, the one of accounts `accounts._scoped_accounts` narrowed by
`permissions.can_manage`'s level rule: the queues never show what the user could not open.
"""

from __future__ import annotations

from typing import Any

from cpf_tui import clock, permissions
from cpf_tui.permissions import Capability
from cpf_tui.services.context import QueueItem, RequestContext, WorkQueue
from cpf_tui.services import sessions
from models.account import Account
from models.enums import AccountStatus, DossierStatus, Role

QUEUE_LIMIT = 5
"""Lines listed per queue (the count is the whole queue)."""


def _incomplete() -> Any:
    """Drafts with at least one field required at validation still empty."""
    from tortoise.expressions import Q

    return (Q(training_title="") | Q(provider_name="") | Q(provider_siret="") | Q(start_date__isnull=True)
            | Q(end_date__isnull=True) | Q(duration_minutes=0) | Q(requested_minutes=0))


def _complete() -> Any:
    from tortoise.expressions import Q

    return (~Q(training_title="") & ~Q(provider_name="") & ~Q(provider_siret="") & Q(start_date__isnull=False)
            & Q(end_date__isnull=False) & Q(duration_minutes__gt=0) & Q(requested_minutes__gt=0))


def _dossier_text(dossier: Any) -> str:
    from cpf_tui.services.dossiers import format_date_fr
    from cpf_tui.services.ledger import format_hours

    parts = [dossier.number, dossier.holder.display_name]
    if dossier.requested_minutes:
        parts.append(format_hours(dossier.requested_minutes))
    if dossier.status == DossierStatus.VALIDATED and dossier.end_date:
        parts.append(f"fin {format_date_fr(dossier.end_date)}")
    else:
        parts.append(f"créé {clock.shown(dossier.created_at, '%d/%m/%Y')}")
    parts.append(dossier.training_title or "(sans intitulé)")
    return " — ".join(parts)


async def _dossier_queue(queue_id: str, title: str, query: Any, order: tuple[str, ...], limit: int) -> WorkQueue:
    count = await query.count()
    rows = await query.order_by(*order).limit(limit).prefetch_related("holder") if count else []
    return WorkQueue(queue_id, title, count, tuple(QueueItem("dossier", d.id, _dossier_text(d)) for d in rows))


async def _account_queue(queue_id: str, title: str, query: Any, limit: int, why: Any) -> WorkQueue:
    count = await query.count()
    rows = await query.order_by("nom", "prenom", "id").limit(limit) if count else []
    return WorkQueue(queue_id, title, count,
                     tuple(QueueItem("account", a.id, f"{a.identifier} — {a.prenom} {a.nom} — {why(a)}") for a in rows))


async def work_queues(ctx: RequestContext, *, limit: int = QUEUE_LIMIT) -> list[WorkQueue]:
    """The queues this user's profile and role give, each with its count and first items (read-only)."""
    return await queues_for(await sessions.require(ctx, Capability.DOSSIER_VIEW), limit=limit)


async def queues_for(actor: Account, *, limit: int = QUEUE_LIMIT) -> list[WorkQueue]:
    """`work_queues` for an account already checked by the caller (the login reads them during the password check).

    Only `auth.authenticate` calls it without `sessions.require`: it reads while Argon2 works and uses the
    result only when the login succeeds with no first-login step due (see `auth._describe_for_home`).
    """
    from cpf_tui.services.accounts import _scoped_accounts
    from cpf_tui.services.dossiers import scoped_dossiers

    role, profile = Role(actor.role), actor.profile
    queues: list[WorkQueue] = []
    if permissions.can(role, profile, Capability.DOSSIER_EDIT_DRAFT):
        drafts = scoped_dossiers(actor).filter(status=DossierStatus.DRAFT, created_by_id=actor.id).filter(
            _incomplete())
        queues.append(await _dossier_queue("drafts", "Mes brouillons à compléter", drafts, ("-updated_at", "-id"),
                                           limit))
    if permissions.can(role, profile, Capability.DOSSIER_VALIDATE):
        ready = scoped_dossiers(actor).filter(status=DossierStatus.DRAFT).filter(_complete())
        queues.append(await _dossier_queue("to-validate", "À valider, plus anciens d'abord", ready,
                                           ("created_at", "id"), limit))
    if permissions.can(role, profile, Capability.DOSSIER_CLOSE):
        ended = scoped_dossiers(actor).filter(status=DossierStatus.VALIDATED, end_date__lt=clock.today())  # a training ended before today in Paris
        queues.append(await _dossier_queue("to-close", "Formations terminées à clôturer", ended,
                                           ("end_date", "id"), limit))
    if permissions.can(role, profile, Capability.ACCOUNT_REGENERATE_PASSWORD):
        lower = [r for r in Role if r.level < role.level]
        managed = _scoped_accounts(actor).filter(status=AccountStatus.ACTIVE, role__in=lower).exclude(id=actor.id)
        expired = managed.filter(password_is_temporary=True, locked_at__isnull=True,
                                 temp_password_expires_at__lte=clock.now())
        queues.append(await _account_queue(
            "expired-passwords", "Mots de passe temporaires expirés", expired, limit,
            lambda a: f"expiré le {clock.shown(a.temp_password_expires_at, '%d/%m/%Y')}"))
        locked = managed.filter(locked_at__isnull=False)
        queues.append(await _account_queue(
            "locked-accounts", "Comptes verrouillés", locked, limit,
            lambda a: f"verrouillé le {clock.shown(a.locked_at, '%d/%m/%Y')}"))
    return queues
