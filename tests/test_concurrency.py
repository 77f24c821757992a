"""Validations racing on one holder never overdraw it: several OS processes on one database file (or
PostgreSQL when CPF_TUI_TEST_PG_URL is set), and tasks of one process."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from datetime import date

import pytest

from cpf_tui.errors import CpfError
from cpf_tui.services import dossiers, ledger
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from cpf_tui.services.locking import BUSY_MESSAGE, DatabaseBusy, serialised_transaction
from models import Dossier, DossierStatus, Holder, Profile, Role
from tests.conftest import PG_URL
from tests.factories import make_account, make_organisation, make_siren, make_siret
from tests.holder_helpers import funded_holder

H = 60
WORKERS = 6
REQUESTED = 30 * H
BALANCE = 100 * H  # room for 3 files of 30 h, not for 6


async def _drafts(count: int) -> tuple[int, int, list[int]]:
    org = await make_organisation()
    validator = await make_account(Role.GESTIONNAIRE, Profile.VALIDATION, organisation=org)
    ctx = RequestContext(account_id=validator.id)
    holder = await funded_holder(BALANCE)
    ids = []
    for _ in range(count):
        data = DossierInput(
            holder_nir=holder.nir, training_title="Gestion de projet", provider_name="Formapro",
            provider_siret=make_siret(make_siren(903), 11), start_date=date(2026, 4, 1), end_date=date(2026, 4, 30),
            duration_minutes=REQUESTED, requested_minutes=REQUESTED,
        )
        ids.append((await dossiers.create_draft(ctx, data)).id)
    return validator.id, holder.id, ids


async def _validate_in_child(url: str, account_id: int, dossier_id: int) -> str:
    from cpf_tui import db as db_module

    await db_module.open_database(url)
    try:
        await dossiers.validate(RequestContext(account_id=account_id), dossier_id)
        return "validated"
    except CpfError as refused:  # what the user would see: a French message
        return "refused: " + refused.message
    finally:
        await db_module.close_database()


def _child(url: str, account_id: int, dossier_id: int, barrier, results) -> None:
    barrier.wait()
    try:
        outcome = asyncio.run(_validate_in_child(url, account_id, dossier_id))
    except Exception as crash:  # e.g. a raw "database is locked" reaching the user
        outcome = f"crash: {type(crash).__name__}: {crash}"
    results.put((dossier_id, outcome))


def _start_together(target, argument_lists: list[tuple]) -> dict:
    """Run `target(*arguments, barrier, results)` in one spawned process per argument list, released
    together by a barrier; returns what each one put on the results queue (a key, an outcome)."""
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(argument_lists))
    results = spawn.Queue()
    processes = [spawn.Process(target=target, args=(*arguments, barrier, results)) for arguments in argument_lists]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return outcomes


def _race(url: str, account_id: int, dossier_ids: list[int]) -> dict[int, str]:
    return _start_together(_child, [(url, account_id, d) for d in dossier_ids])


async def test_parallel_processes_never_overdraw_one_holder(db):
    account_id, holder_id, ids = await _drafts(WORKERS)
    outcomes = await asyncio.to_thread(_race, db, account_id, ids)
    assert len(outcomes) == WORKERS
    crashes = [o for o in outcomes.values() if not o.startswith(("validated", "refused: "))]
    assert crashes == []
    assert not any("locked" in o for o in outcomes.values())
    validated = [d for d, o in outcomes.items() if o == "validated"]
    refused = [o for o in outcomes.values() if o.startswith("refused: ")]
    assert len(validated) == BALANCE // REQUESTED  # every file that fits is validated, no more
    assert all("Heures insuffisantes" in o for o in refused)
    holder = await Holder.get(id=holder_id)
    assert holder.cpf_reserved_minutes == len(validated) * REQUESTED <= holder.cpf_acquired_minutes
    assert holder.cpf_available_minutes >= 0
    assert set(await Dossier.filter(status=DossierStatus.VALIDATED).values_list("id", flat=True)) == set(validated)
    assert await ledger.check_ledger() == []


async def test_parallel_tasks_of_one_process_never_overdraw(db):
    account_id, holder_id, ids = await _drafts(5)
    ctx = RequestContext(account_id=account_id)
    results = await asyncio.gather(*(dossiers.validate(ctx, d) for d in ids), return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, Dossier)) == 3
    assert all(isinstance(r, CpfError) for r in results if not isinstance(r, Dossier))
    holder = await Holder.get(id=holder_id)
    assert holder.cpf_available_minutes == BALANCE - 3 * REQUESTED
    assert await ledger.check_ledger() == []


@pytest.mark.skipif(bool(PG_URL), reason="SQLite writer lock")
async def test_writer_lock_held_too_long_gives_a_french_message_and_changes_nothing(db):
    path = db[len("sqlite://"):]
    holder = await funded_holder(10 * H)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusy) as caught:
            async with serialised_transaction(busy_timeout_ms=20, retries=1) as conn:
                await Holder.filter(id=holder.id).using_db(conn).update(cpf_acquired_minutes=0)
        assert caught.value.message == BUSY_MESSAGE
        assert "réessayez" in caught.value.message
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (await Holder.get(id=holder.id)).cpf_acquired_minutes == 10 * H
    # Once the other writer is gone the same call goes through.
    async with serialised_transaction() as conn:
        await Holder.filter(id=holder.id).using_db(conn).update(email="libre@example.fr")
    assert (await Holder.get(id=holder.id)).email == "libre@example.fr"


# Several administrators at work at once (one app process per SSH session, one database file): every
# write service takes the writer lock up front, so none of them meets a raw "database is locked".
ADMINS = 4
ACCOUNTS_EACH = 5


async def _create_in_child(url: str, admin_id: int, establishment_id: int, tag: str) -> list[str]:
    from cpf_tui import db as db_module
    from cpf_tui.services import accounts
    from cpf_tui.services.organisations import PersonInput

    await db_module.open_database(url)
    outcomes = []
    try:
        for n in range(ACCOUNTS_EACH):
            person = PersonInput(nom=f"Parallele{tag}", prenom=f"Agent{chr(97 + n)}", email=f"agent{tag}{n}@example.fr")
            try:
                created = await accounts.create_account(RequestContext(account_id=admin_id), role="gestionnaire",
                                                        profile="validation", establishment_id=establishment_id,
                                                        person=person)
                outcomes.append("created " + created.identifier)
            except CpfError as refused:
                outcomes.append("refused: " + refused.message)
    finally:
        await db_module.close_database()
    return outcomes


def _admin_child(url: str, admin_id: int, establishment_id: int, tag: str, barrier, results) -> None:
    barrier.wait()
    try:
        outcomes = asyncio.run(_create_in_child(url, admin_id, establishment_id, tag))
    except Exception as crash:
        outcomes = [f"crash: {type(crash).__name__}: {crash}"]
    results.put((tag, outcomes))


def _admins_race(url: str, admin_ids: list[int], establishment_id: int) -> dict[str, list[str]]:
    return _start_together(_admin_child, [(url, a, establishment_id, chr(65 + i)) for i, a in enumerate(admin_ids)])


async def test_administrators_in_parallel_processes_all_create_their_accounts(db):
    from cpf_tui.services import audit
    from models import Account, Establishment, OutboxEmail

    org = await make_organisation()
    head = await Establishment.get(organisation_id=org.id, is_head_office=True)
    admins = [await make_account(Role.DELEGATED_ADMIN, Profile.CLOTURE, organisation=org, establishment=head)
              for _ in range(ADMINS)]
    before = await Account.filter(role=Role.GESTIONNAIRE).count()
    outcomes = await asyncio.to_thread(_admins_race, db, [a.id for a in admins], head.id)
    flat = [o for per_admin in outcomes.values() for o in per_admin]
    assert len(outcomes) == ADMINS and len(flat) == ADMINS * ACCOUNTS_EACH
    assert [o for o in flat if not o.startswith("created ")] == []
    identifiers = {o.split()[1] for o in flat}
    assert len(identifiers) == ADMINS * ACCOUNTS_EACH  # unique identifiers
    assert await Account.filter(role=Role.GESTIONNAIRE).count() == before + ADMINS * ACCOUNTS_EACH
    assert await OutboxEmail.filter(to_address__startswith="agent").count() == ADMINS * ACCOUNTS_EACH
    assert (await audit.verify_chain()).ok
