"""The audit chain: appends are sequential under concurrency, tampering is detected and named."""

from __future__ import annotations

import asyncio

from tortoise import connections

from cpf_tui.cli import main as cli_main
from cpf_tui.services import audit
from models import AuditEvent, Role
from tests.factories import make_account


async def _fill(count: int) -> None:
    for index in range(count):
        await audit.record("test.event", actor_identifier=f"U{index}", target_label=f"cible {index}",
                           before={"n": index}, after={"n": index + 1})


async def _sql(statement: str, *params) -> None:
    await connections.get("default").execute_query(statement.replace("?", "$1") if _is_pg() else statement,
                                                   list(params))


def _is_pg() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def test_intact_chain_verifies(db, frozen_clock):
    account = await make_account(Role.OPERATOR)
    await _fill(3)
    await audit.record("account.edit", actor=account, target=account, before={"nom": "A"}, after={"nom": "B"})
    report = await audit.verify_chain()
    assert report.ok and report.checked == 4 and report.head_seq == 4
    assert "intègre" in report.message


async def test_datetimes_in_before_after_survive_storage(db, frozen_clock):
    await audit.record("test.event", before={"quand": frozen_clock.current}, after={"jour": frozen_clock.current.date()})
    assert (await audit.verify_chain()).ok


async def test_concurrent_appends_get_distinct_sequence_numbers(db, frozen_clock):
    await asyncio.gather(*(audit.record("test.event", actor_identifier=f"C{i}") for i in range(20)))
    seqs = sorted(await AuditEvent.all().values_list("seq", flat=True))
    assert seqs == list(range(1, 21))
    assert (await audit.verify_chain()).ok


async def test_append_retries_when_another_writer_took_the_sequence(db, frozen_clock, monkeypatch):
    await _fill(2)
    real_last = audit.last_event
    calls = {"n": 0}

    async def stale_head(conn):
        calls["n"] += 1
        if calls["n"] == 1:  # first attempt reads a head that another writer has since extended
            return await AuditEvent.filter(seq=1).using_db(conn).first()
        return await real_last(conn)

    monkeypatch.setattr(audit, "last_event", stale_head)
    event = await audit.record("test.event", actor_identifier="RETRY")
    assert calls["n"] == 2
    assert event.seq == 3
    assert (await audit.verify_chain()).ok


async def test_field_changed_by_sql_is_named(db, frozen_clock):
    await _fill(5)
    await _sql("UPDATE audit_event SET target_label = 'falsifié' WHERE seq = ?", 3)
    report = await audit.verify_chain()
    assert not report.ok
    assert report.bad_seq == 3
    assert "n° 3" in report.message and "modifié" in report.message


async def test_rewritten_hash_breaks_the_link_to_the_next_event(db, frozen_clock):
    await _fill(4)
    await _sql("UPDATE audit_event SET event_hash = ? WHERE seq = 2", "f" * 64)
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 2


async def test_deleted_row_is_named(db, frozen_clock):
    await _fill(5)
    await _sql("DELETE FROM audit_event WHERE seq = ?", 2)
    report = await audit.verify_chain()
    assert not report.ok
    assert report.bad_seq == 2
    assert "n° 2 manquant" in report.message


async def test_deleted_first_row_is_named(db, frozen_clock):
    await _fill(3)
    await _sql("DELETE FROM audit_event WHERE seq = ?", 1)
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 1


async def test_truncated_tail_is_found_against_a_noted_head(db, frozen_clock):
    await _fill(4)
    noted = await audit.verify_chain()
    assert (await audit.verify_chain(expected_head=(noted.head_seq, noted.head_hash))).ok
    await _sql("DELETE FROM audit_event WHERE seq = ?", 4)
    assert (await audit.verify_chain()).ok  # the chain alone cannot see it
    report = await audit.verify_chain(expected_head=(noted.head_seq, noted.head_hash))
    assert not report.ok and report.bad_seq == 4


def _run(coro_factory, db_url):
    from cpf_tui import db as db_module

    async def go():
        await db_module.open_database(db_url)
        try:
            return await coro_factory()
        finally:
            await db_module.close_database()

    return asyncio.run(go())


def test_cli_verify_reports_tampering_with_nonzero_exit(db_url, frozen_clock, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    _run(lambda: _fill(3), db_url)
    assert cli_main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "intègre" in out and "n° 3" in out
    _run(lambda: _sql("UPDATE audit_event SET actor_identifier = 'X' WHERE seq = ?", 2), db_url)
    assert cli_main(["audit", "verify"]) == 2
    captured = capsys.readouterr()
    assert "n° 2" in captured.out and "modifié" in captured.out


def test_cli_verify_names_a_deleted_event(db_url, frozen_clock, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    _run(lambda: _fill(4), db_url)
    _run(lambda: _sql("DELETE FROM audit_event WHERE seq = ?", 3), db_url)
    assert cli_main(["audit", "verify"]) == 2
    assert "n° 3 manquant" in capsys.readouterr().out


def test_cli_verify_with_noted_head_sees_a_truncated_tail(db_url, frozen_clock, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    _run(lambda: _fill(3), db_url)
    head = _run(audit.verify_chain, db_url)
    _run(lambda: _sql("DELETE FROM audit_event WHERE seq = ?", 3), db_url)
    assert cli_main(["audit", "verify"]) == 0
    capsys.readouterr()
    assert cli_main(["audit", "verify", "--tete", f"{head.head_seq}:{head.head_hash}"]) == 2
    assert "supprimés en fin de journal" in capsys.readouterr().out
    assert cli_main(["audit", "verify", "--tete", "n'importe quoi"]) == 1
    assert "--tete" in capsys.readouterr().err


async def test_event_scope_follows_the_target_organisation(db, frozen_clock):
    operator = await make_account(Role.OPERATOR)
    gestionnaire = await make_account(Role.GESTIONNAIRE)
    by_operator = await audit.record("account.edit", actor=operator, target=gestionnaire)
    failed_login = await audit.record("login", actor_identifier=gestionnaire.identifier, target=gestionnaire,
                                      outcome="failure")
    organisation = await gestionnaire.organisation
    on_organisation = await audit.record("organisation.edit", actor=operator, target=organisation)
    assert by_operator.organisation_id == failed_login.organisation_id == gestionnaire.organisation_id
    assert on_organisation.organisation_id == organisation.id
    assert (await audit.record("operator.create", actor=operator)).organisation_id is None
    assert (await audit.verify_chain()).ok


async def test_record_many_appends_a_verifiable_run_after_the_head(db, frozen_clock, monkeypatch):
    monkeypatch.setattr(audit, "INSERT_BATCH", 7)  # several INSERT statements for one run
    account = await make_account(Role.OPERATOR)
    await _fill(2)
    events = await audit.record_many(
        [dict(action="test.batch", actor=account, target=account, after={"n": index, "quand": frozen_clock.current})
         for index in range(20)]
    )
    await audit.record("test.event", actor_identifier="APRES")
    assert [event.seq for event in events] == list(range(3, 23))
    assert events[0].prev_hash == (await AuditEvent.get(seq=2)).event_hash
    stored = await AuditEvent.filter(action="test.batch").order_by("seq")
    assert [event.event_hash for event in stored] == [event.event_hash for event in events]
    assert stored[5].after == {"n": 5, "quand": str(frozen_clock.current)}
    assert stored[5].actor_id == account.id and stored[5].target_id == str(account.id)
    assert stored[5].organisation_id == account.organisation_id
    report = await audit.verify_chain()
    assert report.ok and report.checked == 23
    assert await audit.record_many([]) == []


async def test_record_many_in_the_callers_transaction_rolls_back_with_it(db, frozen_clock):
    from tortoise.transactions import in_transaction

    await _fill(1)
    try:
        async with in_transaction() as conn:
            await audit.record_many([dict(action="test.batch") for _ in range(3)], using_db=conn)
            raise RuntimeError("caller failed")
    except RuntimeError:
        pass
    assert await AuditEvent.all().count() == 1
    await _sql("UPDATE audit_event SET target_label = 'falsifié' WHERE seq = ?", 1)
    async with in_transaction() as conn:
        await audit.record_many([dict(action="test.batch") for _ in range(3)], using_db=conn)
    assert await AuditEvent.all().count() == 4
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 1
