"""The training-file state machine for every profile, and properties of the hours ledger under any sequence."""

from __future__ import annotations

import asyncio
from datetime import date

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from cpf_tui import db as db_module
from cpf_tui.errors import CpfError, NotFound, PermissionDenied, ValidationError
from cpf_tui.services import dossiers, ledger
from cpf_tui.services.context import SYSTEM, RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Dossier, DossierStatus, Holder, Profile, Role
from tests.factories import make_account, make_organisation, make_siren, make_siret
from tests.holder_helpers import funded_holder

H = 60
SIRET = make_siret(make_siren(902), 15)
RANK = {Profile.CONSULTATION: 1, Profile.CREATION: 2, Profile.VALIDATION: 3, Profile.CLOTURE: 4}
# Written out independently of the service: minimum rank and the state each action needs.
NEEDS_RANK = {"create": 2, "save": 2, "delete": 2, "validate": 3, "close": 4}
NEEDS_STATE = {"save": "draft", "delete": "draft", "validate": "draft", "close": "validated"}
ACTORS = [
    ("operator", Role.OPERATOR, Profile.CLOTURE),
    ("principal", Role.PRINCIPAL_ADMIN, Profile.CLOTURE),
    ("delegated", Role.DELEGATED_ADMIN, Profile.CLOTURE),
    ("consultation", Role.GESTIONNAIRE, Profile.CONSULTATION),
    ("creation", Role.GESTIONNAIRE, Profile.CREATION),
    ("validation", Role.GESTIONNAIRE, Profile.VALIDATION),
    ("cloture", Role.GESTIONNAIRE, Profile.CLOTURE),
]


def expected_allowed(role: Role, profile: Profile, action: str, state: str | None) -> bool:
    if role == Role.OPERATOR:
        return False
    rank = 4 if role in (Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN) else RANK[profile]
    if rank < NEEDS_RANK[action]:
        return False
    return action == "create" or NEEDS_STATE[action] == state


def form(holder: Holder) -> DossierInput:
    return DossierInput(
        holder_nir=holder.nir, training_title="Bureautique", provider_name="Form'Action", provider_siret=SIRET,
        start_date=date(2026, 1, 5), end_date=date(2026, 2, 20), duration_minutes=2 * H, requested_minutes=H,
    )


async def _file_in(state: str, owner_ctx: RequestContext, holder: Holder) -> Dossier:
    dossier = await dossiers.create_draft(owner_ctx, form(holder))
    if state in ("validated", "closed"):
        dossier = await dossiers.validate(owner_ctx, dossier.id)
    if state == "closed":
        dossier = await dossiers.close(owner_ctx, dossier.id, H)
    return dossier


async def _attempt(action: str, ctx: RequestContext, dossier: Dossier | None, holder: Holder) -> None:
    if action == "create":
        await dossiers.create_draft(ctx, form(holder))
    elif action == "save":
        await dossiers.save_draft(ctx, dossier.id, form(holder), expected_version=dossier.version)
    elif action == "delete":
        await dossiers.delete_draft(ctx, dossier.id, expected_version=dossier.version)
    elif action == "validate":
        await dossiers.validate(ctx, dossier.id, expected_version=dossier.version)
    else:
        await dossiers.close(ctx, dossier.id, H)


async def test_every_action_from_every_state_for_every_profile(db, frozen_clock):
    org = await make_organisation()
    holder = await funded_holder(150 * H, 120 * H)
    contexts = {
        name: RequestContext(account_id=(await make_account(
            role, profile, organisation=None if role == Role.OPERATOR else org)).id)
        for name, role, profile in ACTORS
    }
    owner_ctx = contexts["principal"]
    outcomes: dict[tuple[str, str, str], bool] = {}
    for name, role, profile in ACTORS:
        ctx = contexts[name]
        cases = [("create", None)] + [(a, s) for a in ("save", "delete", "validate", "close")
                                      for s in ("draft", "validated", "closed")]
        for action, state in cases:
            dossier = await _file_in(state, owner_ctx, holder) if state else None
            before = await Dossier.get(id=dossier.id) if dossier else None
            count_before = await Dossier.all().count()
            try:
                await _attempt(action, ctx, dossier, holder)
                allowed = True
            except (PermissionDenied, NotFound) as refused:
                allowed = False
                assert refused.message  # a French explanation
                # A refusal changes nothing.
                assert await Dossier.all().count() == count_before
                if before is not None:
                    after = await Dossier.get(id=dossier.id)
                    assert (after.status, after.version) == (before.status, before.version)
            outcomes[(name, action, state or "-")] = allowed
            assert allowed == expected_allowed(role, profile, action, state), (name, action, state)
            shown = dossiers.allowed_actions(role, profile, state and DossierStatus(state))
            assert (action in shown) == allowed, (name, action, state)
    # Admins and Clôture: 5 each; Validation: 4; Création: 3; Consultation and operators: none.
    assert sum(outcomes.values()) == 22
    assert await ledger.check_ledger() == []


async def test_downgraded_user_loses_validation_at_next_call(db):
    org = await make_organisation()
    user = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=org)
    ctx = RequestContext(account_id=user.id)
    holder = await funded_holder(50 * H)
    draft = await dossiers.create_draft(ctx, form(holder))
    user.profile = Profile.CREATION
    await user.save()
    try:
        await dossiers.validate(ctx, draft.id)
    except PermissionDenied as refused:
        assert "Validation" in refused.message
    else:
        raise AssertionError("a downgraded user validated a file")


# -- property: any sequence keeps balances >= 0 and equal to the ledger ----------------------------
step = st.one_of(
    st.tuples(st.just("dif"), st.integers(0, 130 * H)),
    st.tuples(st.just("acquire"), st.integers(1, 100)),
    st.tuples(st.just("create"), st.integers(1, 160 * H)),
    st.tuples(st.just("validate"), st.integers(0, 5)),
    st.tuples(st.just("close"), st.integers(0, 5), st.integers(0, 110)),
    st.tuples(st.just("delete"), st.integers(0, 5)),
)


_actor_of_database: dict[str, int] = {}


async def _run_sequence(url: str, steps: list[tuple]) -> None:
    await db_module.open_database(url)
    try:
        if url not in _actor_of_database:  # one administrator per database: Argon2 hashing is slow
            org = await make_organisation()
            _actor_of_database[url] = (await make_account(Role.PRINCIPAL_ADMIN, organisation=org)).id
        ctx = RequestContext(account_id=_actor_of_database[url])
        holder = await funded_holder(40 * H)
        files: list[int] = []
        year = 2015
        for item in steps:
            kind = item[0]
            try:
                if kind == "dif":
                    await ledger.set_dif_balance(ctx, holder.id, item[1], "Attestation employeur")
                elif kind == "acquire":
                    year += 1
                    await ledger.record_cpf_acquisition(SYSTEM, holder.id, min(year, 2026), item[1])
                elif kind == "create":
                    data = form(holder)
                    data.requested_minutes = item[1]
                    data.duration_minutes = max(item[1], H)
                    files.append((await dossiers.create_draft(ctx, data)).id)
                elif files:
                    target = files[item[1] % len(files)]
                    if kind == "validate":
                        await dossiers.validate(ctx, target)
                    elif kind == "delete":
                        await dossiers.delete_draft(ctx, target)
                    else:
                        current = await Dossier.get_or_none(id=target)
                        reserved = current.reserved_dif_minutes + current.reserved_cpf_minutes if current else 0
                        await dossiers.close(ctx, target, reserved * item[2] // 100, "Formation écourtée")
            except CpfError as refused:
                assert isinstance(refused, (ValidationError, PermissionDenied, NotFound)) or refused.message
            await holder.refresh_from_db()
            for column in ledger.PROJECTION_COLUMNS:
                assert getattr(holder, column) >= 0, column
            assert holder.cpf_available_minutes >= 0 and holder.dif_available_minutes >= 0
            assert holder.cpf_acquired_minutes <= ledger.CPF_CEILING
            assert holder.dif_total_minutes <= ledger.DIF_MAX
            assert await ledger.check_ledger() == []
    finally:
        await db_module.close_database()


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_any_sequence_keeps_balances_non_negative_and_equal_to_the_ledger(db_url, steps):
    asyncio.run(_run_sequence(db_url, steps))
