"""Sessions: validity checked at every action, last activity, 12 h limit, administrators ending them."""

from __future__ import annotations

import pytest

from cpf_tui.config import SecuritySettings
from cpf_tui.errors import NotFound, PermissionDenied, SessionEnded
from cpf_tui.services import provisioning, sessions
from cpf_tui.services.context import RequestContext
from models import Account, AccountStatus, AppSession, AuditEvent, Establishment, Role
from tests.factories import login, make_account, make_organisation


def test_idle_timeouts_by_role():
    security = SecuritySettings(idle_timeout_admin_minutes=10, idle_timeout_gestionnaire_minutes=25)
    assert sessions.idle_timeout_minutes(Role.GESTIONNAIRE, security) == 25
    for role in (Role.OPERATOR, Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN):
        assert sessions.idle_timeout_minutes(role, security) == 10
    assert sessions.idle_timeout_minutes("gestionnaire") == 30 and sessions.idle_timeout_minutes("operator") == 15


async def test_touch_records_last_activity(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    frozen_clock.advance(minutes=5)
    await sessions.touch(ctx)
    assert (await AppSession.get(token=ctx.session_token)).last_activity_at == frozen_clock.current


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("deactivate", "désactivé"),
        ("lock", "verrouillé"),
        ("regenerate", "régénéré"),
        ("end", "administrateur a fermé"),
        ("expire", "durée maximale"),
    ],
)
async def test_a_session_stops_at_the_next_action(db, frozen_clock, fast_argon2, change, message):
    account = await make_account()
    ctx = await login(account)
    await sessions.load_actor(ctx)
    if change == "deactivate":
        await Account.filter(id=account.id).update(status=AccountStatus.DEACTIVATED)
    elif change == "lock":
        await Account.filter(id=account.id).update(locked_at=frozen_clock.current)
    elif change == "regenerate":
        await provisioning.issue_temporary_password(await Account.get(id=account.id), ctx=RequestContext(),
                                                    using_db=None)
    elif change == "end":
        await AppSession.filter(token=ctx.session_token).update(ended_at=frozen_clock.current,
                                                                end_reason=sessions.END_BY_ADMIN)
    elif change == "expire":
        frozen_clock.advance(hours=12)
    with pytest.raises(SessionEnded, match=message):
        await sessions.touch(ctx)


async def test_session_limit_is_configurable(db, frozen_clock, fast_argon2):
    from cpf_tui.services import auth
    from tests.factories import DEFAULT_PASSWORD

    account = await make_account()
    info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, RequestContext(),
                                   security=SecuritySettings(session_max_hours=1))
    ctx = RequestContext().as_account(info.account_id, info.session_token)
    frozen_clock.advance(minutes=59)
    await sessions.touch(ctx)
    frozen_clock.advance(minutes=1)
    with pytest.raises(SessionEnded):
        await sessions.touch(ctx)


async def test_logout_ends_the_own_session(db, frozen_clock, fast_argon2):
    account = await make_account()
    ctx = await login(account)
    assert await sessions.end_own_session(ctx)
    session = await AppSession.get(token=ctx.session_token)
    assert session.ended_at == frozen_clock.current and session.end_reason == "logout"
    assert not await sessions.end_own_session(ctx)
    assert await AuditEvent.filter(action="session.end", actor_id=account.id).count() == 1


async def organisation_with_people(frozen_clock):
    org = await make_organisation(secondary=1)
    head = await Establishment.get(organisation=org, is_head_office=True)
    branch = await Establishment.get(organisation=org, is_head_office=False)
    people = {
        "principal": await make_account(Role.PRINCIPAL_ADMIN, organisation=org, establishment=head),
        "delegated": await make_account(Role.DELEGATED_ADMIN, organisation=org, establishment=branch),
        "branch_user": await make_account(Role.GESTIONNAIRE, organisation=org, establishment=branch),
        "head_user": await make_account(Role.GESTIONNAIRE, organisation=org, establishment=head),
        "outsider": await make_account(Role.GESTIONNAIRE),
    }
    return people


async def test_administrators_see_the_sessions_of_their_scope(db, frozen_clock, fast_argon2):
    people = await organisation_with_people(frozen_clock)
    ctxs = {name: await login(account) for name, account in people.items()}
    operator = await make_account(Role.OPERATOR)
    op_ctx = await login(operator)

    seen = {row.identifier for row in await sessions.list_open_sessions(ctxs["principal"])}
    assert seen == {people[n].identifier for n in ("principal", "delegated", "branch_user", "head_user")}
    seen = {row.identifier for row in await sessions.list_open_sessions(ctxs["delegated"])}
    assert seen == {people["delegated"].identifier, people["branch_user"].identifier}
    rows = await sessions.list_open_sessions(op_ctx)
    assert len(rows) == 6
    own = next(row for row in rows if row.identifier == operator.identifier)
    assert own.is_self and not own.can_end
    with pytest.raises(PermissionDenied):
        await sessions.list_open_sessions(ctxs["head_user"])
    # Ended and expired sessions are not listed.
    await sessions.end_own_session(ctxs["head_user"])
    frozen_clock.advance(hours=1)
    assert people["head_user"].identifier not in {r.identifier for r in await sessions.list_open_sessions(op_ctx)}
    frozen_clock.advance(hours=11)
    with pytest.raises(SessionEnded):
        await sessions.list_open_sessions(op_ctx)
    rows = await sessions.list_open_sessions(await login(operator))
    assert [row.identifier for row in rows] == [operator.identifier]


async def test_ending_a_users_sessions(db, frozen_clock, fast_argon2):
    people = await organisation_with_people(frozen_clock)
    victim = people["branch_user"]
    victim_ctx = await login(victim)
    second = await login(victim)
    ended = await sessions.end_account_sessions(await login(people["delegated"]), victim.id)
    assert ended == 2
    for ctx in (victim_ctx, second):
        with pytest.raises(SessionEnded, match="administrateur a fermé"):
            await sessions.touch(ctx)
    event = await AuditEvent.get(action="sessions.end")
    assert event.actor_id == people["delegated"].id and event.after == {"ended_sessions": 2}
    assert event.target_id == str(victim.id)


async def test_ending_sessions_respects_levels_and_scope(db, frozen_clock, fast_argon2):
    people = await organisation_with_people(frozen_clock)
    delegated_ctx = await login(people["delegated"])
    head_session = await login(people["head_user"])
    with pytest.raises(NotFound):  # another establishment
        await sessions.end_account_sessions(delegated_ctx, people["head_user"].id)
    with pytest.raises(NotFound):  # another organisation
        await sessions.end_account_sessions(delegated_ctx, people["outsider"].id)
    with pytest.raises(PermissionDenied):  # a superior
        await sessions.end_account_sessions(await login(people["principal"]), people["principal"].id)
    with pytest.raises(NotFound):
        await sessions.end_account_sessions(delegated_ctx, 999999)
    with pytest.raises(PermissionDenied):
        await sessions.end_account_sessions(head_session, people["branch_user"].id)
    await sessions.touch(head_session)  # untouched


async def test_a_service_call_reads_the_actor_its_session_and_the_cgu_version_in_one_statement(
        db, frozen_clock, fast_argon2, monkeypatch):
    from tortoise import connections

    from cpf_tui.permissions import Capability

    account = await make_account()
    ctx = await login(account)
    conn = connections.get("default")
    statements: list[str] = []
    original = conn.execute_query_dict

    async def counted(sql, *args, **kwargs):  # noqa: ANN001, ANN202 - the client's signature
        statements.append(sql)
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(conn, "execute_query_dict", counted)
    actor = await sessions.require(ctx, Capability.HOLDER_VIEW)
    assert actor.id == account.id and len(statements) == 1, statements
    monkeypatch.undo()
    # The session read with the actor is the caller's own: another account's token, or none known, ends it.
    other = await login(await make_account())
    for token in (other.session_token, "inconnu"):
        with pytest.raises(SessionEnded):
            await sessions.require(RequestContext(account_id=account.id, session_token=token), Capability.HOLDER_VIEW)
    # A newer CGU version, read in the same statement, is asked for before anything else.
    from models import CguVersion

    latest = await CguVersion.all().order_by("-version").first()
    await CguVersion.create(version=(latest.version if latest else 0) + 1, text="Nouvelles conditions")
    with pytest.raises(PermissionDenied, match="dernière version"):
        await sessions.require(ctx, Capability.HOLDER_VIEW)
