"""The bulk import's fast paths change nothing in what is written: the checked file is read once,
accounts/e-mails/audit events go through COPY (PostgreSQL) or one executemany (SQLite) with the same
values as the row-by-row path, every e-mailed password opens its account, the keyed chain stays
intact, the hashing child process is reaped, and `kill -9` in the middle of an import leaves nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cpf_tui.errors import Conflict
from cpf_tui.services import audit, bulk, hash_worker, passwords
from cpf_tui.services.locking import serialised_transaction
from cpf_tui.services.provisioning import AccountSpec, provision_accounts
from models import Account, AuditEvent, OutboxEmail, Profile, Role
from tests.bulk_support import counts, import_children, valid_rows, write_book

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60.0
PASSWORD = re.compile(r"Votre mot de passe temporaire : (\S+)")


async def test_import_with_the_checked_report_reads_the_file_once(world, tmp_path, monkeypatch):
    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    calls: list[Path] = []
    real = bulk.parse_workbook

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk, "parse_workbook", counted)
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path, report=report, expected_sha256=report.sha256)
    assert result.created == 40 and len(calls) == 1


async def test_import_with_a_report_refuses_a_file_changed_since_its_check(world, tmp_path):
    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    write_book(path, valid_rows(41))
    before = await counts()
    with pytest.raises(Conflict, match="Le fichier a changé depuis sa vérification"):
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=tmp_path, report=report)
    assert await counts() == before


async def test_a_report_checked_for_another_organisation_is_refused(world, tmp_path):
    from tests.factories import make_organisation

    other = await make_organisation("Autre organisme")
    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    report = await bulk.analyse_workbook(path, siret=other.siret, ctx=world.operator_ctx)
    before = await counts()
    with pytest.raises(Conflict, match="vérifié pour un autre organisme"):
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=tmp_path, report=report)
    assert await counts() == before


def _specs(world, start: int, count: int) -> list[AccountSpec]:
    places = world.establishments
    return [
        AccountSpec(
            role=Role.GESTIONNAIRE if i % 5 else Role.DELEGATED_ADMIN, profile=list(Profile)[i % 4],
            organisation=world.organisation, establishment=places[i % len(places)], nom=f"Nom-{i % 7}",
            prenom="Élodie", email=f"agent.{i}@example.fr", phone="+33612345678" if i % 2 else "",
            service=f"Service {i % 3}",
        )
        for i in range(start, start + count)
    ]


STORED = ("role", "profile", "status", "nom", "prenom", "email", "phone", "service", "organisation_id",
          "establishment_id", "search_text", "password_is_temporary", "temp_password_expires_at", "created_by_id")


async def test_bulk_path_stores_what_the_row_by_row_path_stores(world):
    actor = await Account.get(id=world.operator_ctx.account_id)
    before_ids = set(await Account.all().values_list("id", flat=True))
    async with serialised_transaction() as conn:
        slow = await provision_accounts(_specs(world, 0, 250), created_by=actor, ctx=world.operator_ctx,
                                        using_db=conn, as_models=False)
    async with serialised_transaction() as conn:
        fast = await provision_accounts(_specs(world, 0, 250), created_by=actor, ctx=world.operator_ctx,
                                        using_db=conn, as_models=False, bulk_path=True)
    assert not before_ids & {record.id for record in fast}
    stored = {a.id: a for a in await Account.filter(id__in=[r.id for r in slow + fast])}
    for one, other in zip(slow, fast):
        assert stored[other.id].identifier == other.identifier  # the reserved id is the stored row's
        left, right = stored[one.id], stored[other.id]
        assert [getattr(left, key) for key in STORED[:-4]] == [getattr(right, key) for key in STORED[:-4]]
        assert left.search_text.replace(one.identifier.lower(), "") == right.search_text.replace(
            other.identifier.lower(), "")
        assert (left.password_is_temporary, left.created_by_id) == (right.password_is_temporary, right.created_by_id)
        assert abs(left.temp_password_expires_at - right.temp_password_expires_at).total_seconds() < 60
        assert stored[one.id].created_at is not None and stored[other.id].created_at is not None
    mails = {m.account_id: m for m in await OutboxEmail.filter(account_id__in=list(stored))}
    for one, other in zip(slow, fast):
        first, second = mails[one.id], mails[other.id]
        assert (first.kind, first.subject, first.contains_secret, first.status) == (
            second.kind, second.subject, second.contains_secret, second.status)
        assert PASSWORD.sub("", first.body) == PASSWORD.sub("", second.body).replace(
            other.identifier, one.identifier)
    events = {e.target_id: e for e in await AuditEvent.filter(action="account.create")}
    for one, other in zip(slow, fast):
        left, right = events[str(one.id)], events[str(other.id)]
        assert (left.target_label.replace(one.identifier, ""), left.organisation_id, left.establishment_id) == (
            right.target_label.replace(other.identifier, ""), right.organisation_id, right.establishment_id)
        assert {**left.after, "identifier": ""} == {**right.after, "identifier": ""}
    assert (await audit.verify_chain()).ok


async def test_every_e_mailed_password_opens_its_account_after_a_bulk_import(world, tmp_path):
    path = write_book(tmp_path / "f.xlsx", valid_rows(400))
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path)
    assert result.created == 400 >= hash_worker.MIN_PASSWORDS  # hashed by the child process
    hashes = dict(await Account.filter(identifier__in=result.identifiers).values_list("id", "password_hash"))
    mails = await OutboxEmail.filter(account_id__in=list(hashes)).values_list("account_id", "body")
    assert len(mails) == 400
    for account_id, body in mails:
        assert passwords.verify(hashes[account_id], PASSWORD.search(body).group(1))
    assert await AuditEvent.filter(action="account.create").count() == 400
    report = await audit.verify_chain()
    assert report.ok, report.message


async def test_hash_stream_falls_back_to_threads_when_no_process_can_start(monkeypatch):
    async def refused(*_args, **_kwargs):
        raise OSError("RLIMIT_NPROC")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refused)
    from cpf_tui.services.provisioning import _hash_temporary_passwords

    batches = [passwords.generate_temporary_passwords(count) for count in (hash_worker.MIN_PASSWORDS, 7)]
    stream = await hash_worker.HashStream(_hash_temporary_passwords).start(sum(map(len, batches)))
    try:
        futures = [await stream.submit(batch) for batch in batches]
        hashed = [await future for future in futures]
    finally:
        await stream.close()
    assert stream.process is None
    for plain, hashes in zip(batches, hashed):
        assert len(hashes) == len(plain) and all(passwords.verify(h, p) for h, p in zip(hashes, plain))


async def test_hash_stream_child_hashes_batch_after_batch_in_order():
    from cpf_tui.services.provisioning import _hash_temporary_passwords

    batches = [passwords.generate_temporary_passwords(count) for count in (300, 1, 260)]
    stream = await hash_worker.HashStream(_hash_temporary_passwords).start(hash_worker.MIN_PASSWORDS)
    try:
        assert stream.process is not None
        futures = [await stream.submit(batch) for batch in batches]
        hashed = [await future for future in futures]
    finally:
        await stream.close()
    assert stream.process.returncode is not None
    for plain, hashes in zip(batches, hashed):
        assert len(hashes) == len(plain) and all(passwords.verify(h, p) for h, p in zip(hashes, plain))


async def test_hash_stream_child_is_killed_and_reaped_when_closed_early():
    from cpf_tui.services.provisioning import _hash_temporary_passwords

    stream = await hash_worker.HashStream(_hash_temporary_passwords).start(20_000)
    assert stream.process is not None
    future = await stream.submit(passwords.generate_temporary_passwords(20_000))
    await stream.close()
    assert stream.process.returncode is not None and future.cancelled()


async def test_kill_9_in_the_middle_of_an_import_leaves_nothing(world, db_url, tmp_path, children):
    path = write_book(tmp_path / "f.xlsx", valid_rows(3000))
    out = tmp_path / "resultats"
    out.mkdir()
    before = await counts()
    head = (await audit.verify_chain()).head_seq
    env = {key: value for key, value in os.environ.items() if key not in ("CPF_TUI_CONFIG", "CPF_TUI_DROP_DIR")}
    env.update(CPF_TUI_DB_URL=db_url, CPF_TUI_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen(
        [sys.executable, "-m", "cpf_tui", "habilitation", "import", str(path), "--siret", world.organisation.siret,
         "--output-dir", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    children.append(process)
    deadline = time.monotonic() + WAIT_SECONDS
    workers: list[int] = []
    while len(workers) < 2:  # the hash worker and the result writer run inside the import's transaction
        assert process.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "no hash worker seen"
        workers = import_children(process.pid)
        await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + WAIT_SECONDS
    while any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
              for pid in workers if Path(f"/proc/{pid}").exists()):
        if time.monotonic() > deadline:
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            pytest.fail("the hash worker outlived its killed parent")
        await asyncio.sleep(0.05)
    assert await counts() == before
    report = await audit.verify_chain()
    assert report.ok and report.head_seq == head
    assert list(out.iterdir()) == []
