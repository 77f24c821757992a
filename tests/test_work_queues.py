"""Home work queues (services.work_queues), the holder page's privacy across organisations
(services.holders.holder_page) and the file list's total count (services.dossiers.list_dossiers)."""

from __future__ import annotations

from datetime import date, timedelta

from stdnum.fr import nir as nir_mod

from cpf_tui import clock
from cpf_tui.services import dossiers, holders, work_queues
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Account, Establishment, Profile, Role
from tests.factories import make_organisation, make_siren, make_siret, make_staff
from tests.holder_helpers import funded_holder

H = 60
SIRET = make_siret(make_siren(917), 21)


def ctx_of(account: Account) -> RequestContext:
    return RequestContext(account_id=account.id)


def complete(holder, *, title: str = "Comptabilité", end: date = date(2026, 3, 27), hours: int = 35) -> DossierInput:
    return DossierInput(holder_nir=holder.nir, training_title=title, provider_name="Compta Formation",
                        provider_siret=SIRET, start_date=date(2026, 1, 5), end_date=end,
                        duration_minutes=hours * H, requested_minutes=hours * H)


def queue(queues, queue_id: str):
    return next(q for q in queues if q.id == queue_id)


async def test_queues_follow_the_profile(db, frozen_clock):
    org = await make_organisation()
    ids = {}
    for profile in Profile:
        account = await make_staff(Role.GESTIONNAIRE, profile, organisation=org)
        ids[profile] = [q.id for q in await work_queues.work_queues(ctx_of(account))]
    assert ids[Profile.CONSULTATION] == []
    assert ids[Profile.CREATION] == ["drafts"]
    assert ids[Profile.VALIDATION] == ["drafts", "to-validate"]
    assert ids[Profile.CLOTURE] == ["drafts", "to-validate", "to-close"]
    admin = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org)
    assert [q.id for q in await work_queues.work_queues(ctx_of(admin))] == [
        "drafts", "to-validate", "to-close", "expired-passwords", "locked-accounts"]
    operator = await make_staff(Role.OPERATOR)
    assert [q.id for q in await work_queues.work_queues(ctx_of(operator))] == ["expired-passwords", "locked-accounts"]


async def test_file_queues_hold_what_waits_in_scope(db, frozen_clock):
    org, other = await make_organisation(), await make_organisation()
    me = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    colleague = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    stranger = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=other)
    holder = await funded_holder(150 * H, 100 * H)
    mine_incomplete = await dossiers.create_draft(ctx_of(me), DossierInput(holder_nir=holder.nir, training_title="À finir"))
    await dossiers.create_draft(ctx_of(colleague), DossierInput(holder_nir=holder.nir))  # not mine
    frozen_clock.advance(minutes=5)
    oldest = await dossiers.create_draft(ctx_of(colleague), complete(holder, title="Le plus ancien"))
    frozen_clock.advance(minutes=5)
    newer = await dossiers.create_draft(ctx_of(me), complete(holder, title="Plus récent"))
    await dossiers.create_draft(ctx_of(stranger), complete(holder, title="Ailleurs"))  # other organisation
    ended = await dossiers.validate(ctx_of(me), (await dossiers.create_draft(
        ctx_of(me), complete(holder, title="Terminée", end=date(2026, 1, 10), hours=10))).id)
    await dossiers.validate(ctx_of(me), (await dossiers.create_draft(
        ctx_of(me), complete(holder, title="En cours", end=date(2026, 6, 30), hours=10))).id)
    await dossiers.validate(ctx_of(stranger), (await dossiers.create_draft(
        ctx_of(stranger), complete(holder, title="Terminée ailleurs", end=date(2026, 1, 10), hours=10))).id)

    queues = await work_queues.work_queues(ctx_of(me))
    drafts, ready, to_close = queue(queues, "drafts"), queue(queues, "to-validate"), queue(queues, "to-close")
    assert (drafts.count, [i.target_id for i in drafts.items]) == (1, [mine_incomplete.id])
    assert (ready.count, [i.target_id for i in ready.items]) == (2, [oldest.id, newer.id])
    assert "Le plus ancien" in ready.items[0].text and ready.items[0].kind == "dossier"
    assert (to_close.count, [i.target_id for i in to_close.items]) == (1, [ended.id])
    # Counts follow the data: completing the draft moves it from one queue to the other.
    await dossiers.save_draft(ctx_of(me), mine_incomplete.id, complete(holder), expected_version=1)
    queues = await work_queues.work_queues(ctx_of(me))
    assert (queue(queues, "drafts").count, queue(queues, "to-validate").count) == (0, 3)
    # The list is cut at the limit, the count is not.
    short = await work_queues.work_queues(ctx_of(me), limit=1)
    assert (queue(short, "to-validate").count, len(queue(short, "to-validate").items)) == (3, 1)


async def test_account_queues_list_expired_temporary_passwords_and_locked_accounts(db, frozen_clock):
    org = await make_organisation(secondary=1)
    second = await Establishment.filter(organisation=org, is_head_office=False).first()
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org)
    delegated = await make_staff(Role.DELEGATED_ADMIN, organisation=org, establishment=second)
    now = clock.now()
    expired = await make_staff(Role.GESTIONNAIRE, organisation=org, password_is_temporary=True,
                               temp_password_expires_at=now - timedelta(days=1))
    await make_staff(Role.GESTIONNAIRE, organisation=org, password_is_temporary=True,
                     temp_password_expires_at=now + timedelta(days=3))  # still valid
    locked = await make_staff(Role.GESTIONNAIRE, organisation=org, establishment=second, locked_at=now)
    await make_staff(Role.GESTIONNAIRE, organisation=await make_organisation(), locked_at=now)  # elsewhere
    await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, locked_at=now, status="deactivated")  # deactivated

    queues = await work_queues.work_queues(ctx_of(principal))
    assert [i.target_id for i in queue(queues, "expired-passwords").items] == [expired.id]
    assert [i.target_id for i in queue(queues, "locked-accounts").items] == [locked.id]
    assert queue(queues, "locked-accounts").items[0].kind == "account"
    assert expired.identifier in queue(queues, "expired-passwords").items[0].text
    # A delegated administrator sees only its establishment.
    queues = await work_queues.work_queues(ctx_of(delegated))
    assert queue(queues, "expired-passwords").count == 0
    assert [i.target_id for i in queue(queues, "locked-accounts").items] == [locked.id]


async def test_holder_page_hides_other_organisations_files(db, frozen_clock):
    org, other = await make_organisation(), await make_organisation()
    me = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    stranger = await make_staff(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=other, nom="Secret",
                                prenom="Agathe")
    holder = await funded_holder(100 * H, 20 * H)
    theirs = await dossiers.validate(ctx_of(stranger), (await dossiers.create_draft(
        ctx_of(stranger), complete(holder, title="Formation confidentielle", hours=30))).id)
    mine = await dossiers.create_draft(ctx_of(me), complete(holder, title="Ma formation", hours=10))

    page = await holders.holder_page(ctx_of(me), holder.id)
    shown = repr(page.files) + repr(page.movements)
    for secret in (theirs.number, "Formation confidentielle", "Secret", "Agathe", other.raison_sociale):
        assert secret not in shown
    hidden = next(f for f in page.files if f.dossier_id is None)
    assert (hidden.label, hidden.status, hidden.reserved_minutes) == (
        holders.OTHER_ORGANISATION_FILE, theirs.status, 30 * H)
    own = next(f for f in page.files if f.dossier_id == mine.id)
    assert (own.label, own.training_title) == (mine.number, "Ma formation")
    reservations = [m for m in page.movements if m.kind == "reservation"]
    assert {m.dossier_number for m in reservations} == {holders.OTHER_ORGANISATION_FILE}
    assert {m.author for m in reservations} == {holders.OTHER_ORGANISATION_AUTHOR}
    assert page.balances.total_available == 90 * H  # the balance still counts the hidden file's hours
    # The file's own organisation sees it whole.
    page = await holders.holder_page(ctx_of(stranger), holder.id)
    assert theirs.number in repr(page.files) and "Agathe Secret" in repr(page.movements)
    assert mine.number not in repr(page.files)
    # CDC operators (national scope) see every file.
    operator = await make_staff(Role.OPERATOR)
    page = await holders.holder_page(ctx_of(operator), holder.id)
    assert {f.label for f in page.files} == {theirs.number, mine.number}


async def test_file_list_counts_every_matching_file(db, frozen_clock):
    org = await make_organisation()
    me = await make_staff(Role.GESTIONNAIRE, Profile.CREATION, organisation=org)
    holder = await funded_holder(150 * H)
    for _ in range(5):
        await dossiers.create_draft(ctx_of(me), DossierInput(holder_nir=holder.nir))
    await dossiers.create_draft(ctx_of(await make_staff(Role.GESTIONNAIRE, Profile.CREATION)),
                                DossierInput(holder_nir=holder.nir))  # another organisation
    page = await dossiers.list_dossiers(ctx_of(me), page=2, page_size=2)
    assert (len(page.rows), page.total, page.page_count, page.has_next) == (2, 5, 3, True)
    page = await dossiers.list_dossiers(ctx_of(me), dossiers.DossierFilter(status="validated"))
    assert (page.total, page.page_count) == (0, 1)


async def test_balance_for_nir_gives_the_holder_and_its_balances(db):
    me = await make_staff(Role.GESTIONNAIRE, Profile.CREATION)
    holder = await funded_holder(100 * H, 20 * H)
    found = await holders.balance_for_nir(ctx_of(me), " ".join([holder.nir[:5], holder.nir[5:]]))
    assert found is not None and (found.id, found.balances.total_available) == (holder.id, 120 * H)
    other = "2850578006084"
    assert await holders.balance_for_nir(ctx_of(me), other + nir_mod.calc_check_digits(other)) is None
