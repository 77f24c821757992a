"""The bulk import in chunks: the checked rows kept compressed (`bulk.CheckedRows`) are the rows the
reader checked, chunk after chunk; an import of several chunks stores what one chunk stores, in file
order, and a failure in its last chunk leaves nothing (no account, e-mail, journal event, import
record or result workbook; the hashing child reaped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cpf_tui.services import audit, bulk, bulk_workbook, hash_worker, outbox, provisioning, result_worker
from models import Account, AuditEvent, OutboxEmail
from tests.bulk_support import counts, import_children, valid_rows, write_book
from tests.bulk_corpus import CASES

SMALL_CHUNK = 7
WRITERS = pytest.mark.parametrize("writer", ["thread", "process"])


def _use_writer(monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    """The result workbook written, and the journal events chained, by this process or by child
    processes (`result_worker`, `audit_worker`)."""
    from cpf_tui.services import audit_worker

    monkeypatch.setattr(result_worker, "MIN_ROWS", 1 if writer == "process" else 10**9)
    monkeypatch.setattr(audit_worker, "MIN_ACCOUNTS", 1 if writer == "process" else 10**9)


def _outcome(parsed):
    return list(parsed.rows), parsed.errors, parsed.notices, parsed.data_rows, parsed.sha256


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_spooled_reader_reports_what_the_reader_reports(case, world, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", SMALL_CHUNK)  # many chunks and a partial last one
    path = tmp_path / f"{case.name}.xlsx"
    built = case.build(path, world)
    if hasattr(built, "__await__"):
        await built
    spooled = bulk.parse_workbook(path, case.settings)
    assert isinstance(spooled.rows, bulk.CheckedRows)
    assert _outcome(spooled) == _outcome(bulk_workbook.parse_workbook(path, case.settings))


def test_checked_rows_read_back_by_chunk_index_and_slice(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", SMALL_CHUNK)
    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    expected = bulk_workbook.parse_workbook(path).rows
    rows = bulk.parse_workbook(path).rows
    assert len(rows) == 40 and rows == expected and expected == rows and list(rows) == expected
    assert [len(chunk) for chunk in rows.chunks()] == [7, 7, 7, 7, 7, 5]
    assert [row for chunk in rows.chunks() for row in chunk] == expected
    for index in (0, 6, 7, 34, 35, 39, -1, -40):
        assert rows[index] == expected[index]
    assert rows[5:16] == expected[5:16]
    with pytest.raises(IndexError):
        rows[40]
    assert rows != expected[:-1]
    rows.clear()
    assert len(rows) == 0 and list(rows) == [] and rows == []


def test_checked_rows_take_a_small_part_of_the_rows_memory(tmp_path):
    import sys

    path = write_book(tmp_path / "f.xlsx", valid_rows(bulk.SPOOL_CHUNK * 2))
    rows = bulk.parse_workbook(path).rows
    packed = sum(len(chunk) for chunk in rows._packed) + sys.getsizeof(rows._pending)  # noqa: SLF001
    as_objects = sum(sys.getsizeof(row) + sum(sys.getsizeof(getattr(row, key)) for key in ("email", "phone"))
                     for row in bulk_workbook.parse_workbook(path).rows)
    assert packed * 5 < as_objects


def _result_rows(path: Path) -> list[tuple]:
    workbook = load_workbook(path, read_only=True)
    try:
        return [tuple(row) for row in workbook.active.iter_rows(min_row=3, values_only=True)]
    finally:
        workbook.close()


@WRITERS
async def test_an_import_of_many_chunks_keeps_the_file_order_everywhere(world, tmp_path, monkeypatch, writer):
    _use_writer(monkeypatch, writer)
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    monkeypatch.setattr(hash_worker, "MIN_PASSWORDS", 1)  # the child hashes every chunk
    path = write_book(tmp_path / "f.xlsx", valid_rows(250))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    seen: list[tuple[int, int]] = []
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path, report=report, progress=lambda d, t: seen.append((d, t)))
    assert result.created == 250 and len(set(result.identifiers)) == 250
    assert seen == [(done, 250) for done in range(1, 251)]
    rows = _result_rows(result.result_path)
    assert [row[0] for row in rows] == result.identifiers
    assert [row[10] for row in rows] == [checked.row for checked in report.rows]
    assert [row[3] for row in rows] == [checked.email for checked in report.rows]
    accounts = {a.identifier: a for a in await Account.filter(identifier__in=result.identifiers)}
    assert [accounts[i].email for i in result.identifiers] == [checked.email for checked in report.rows]
    ids = [accounts[i].id for i in result.identifiers]
    assert ids == sorted(ids)  # ids given in file order across chunks
    events = await AuditEvent.filter(action="account.create").order_by("seq")
    assert [event.target_id for event in events] == [str(i) for i in ids]
    assert await OutboxEmail.filter(account_id__in=ids).count() == 250
    chain = await audit.verify_chain()
    assert chain.ok, chain.message
    assert result.result_path.stat().st_mode & 0o777 == 0o600
    assert import_children(os.getpid()) == []


@WRITERS
async def test_a_failure_in_the_last_chunk_leaves_nothing(world, tmp_path, monkeypatch, writer):
    _use_writer(monkeypatch, writer)
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    monkeypatch.setattr(hash_worker, "MIN_PASSWORDS", 1)
    path = write_book(tmp_path / "f.xlsx", valid_rows(250))
    out = tmp_path / "resultats"
    out.mkdir()
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx)
    before = await counts()
    head = (await audit.verify_chain()).head_seq
    real = outbox.enqueue_rows
    calls: list[int] = []
    streams: list[hash_worker.HashStream] = []
    real_start = hash_worker.HashStream.start

    async def start(self, expected, **options):
        streams.append(self)
        return await real_start(self, expected, **options)

    async def failing(rows, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # the fifth chunk: rows 241 to 250
            raise RuntimeError("panne simulée")
        return await real(rows, **kwargs)

    monkeypatch.setattr(hash_worker.HashStream, "start", start)
    monkeypatch.setattr(provisioning.outbox, "enqueue_rows", failing)
    with pytest.raises(RuntimeError, match="panne simulée"):
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=out, report=report)
    assert len(calls) == 5
    assert await counts() == before
    chain = await audit.verify_chain()
    assert chain.ok and chain.head_seq == head
    assert list(out.iterdir()) == []
    (stream,) = streams
    assert stream.process is not None and stream.process.returncode is not None  # reaped
    assert import_children(os.getpid()) == []


@WRITERS
async def test_an_unwritable_result_workbook_after_the_last_chunk_leaves_nothing(world, tmp_path, monkeypatch, writer):
    _use_writer(monkeypatch, writer)
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    path = write_book(tmp_path / "f.xlsx", valid_rows(130))
    before = await counts()
    head = (await audit.verify_chain()).head_seq
    with pytest.raises(bulk.ValidationError, match="Impossible d'écrire le classeur de résultat .* Aucun compte"):
        # The output folder would be inside a file: the workbook cannot be written there.
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                   output_dir=path / "resultats")
    assert await counts() == before
    assert (await audit.verify_chain()).head_seq == head
    assert import_children(os.getpid()) == []


def test_identifiers_are_kept_as_one_text_and_read_back_as_strings():
    listed = ["K7MP4XQ2", "ABCDEFGH", "23456789"]
    identifiers = bulk.Identifiers(listed[:1])
    identifiers.extend(listed[1:])
    assert len(identifiers) == 3 and identifiers == listed and listed == identifiers and list(identifiers) == listed
    assert identifiers[1] == "ABCDEFGH" and identifiers[-1] == "23456789" and identifiers[1:] == listed[1:]
    assert identifiers != listed[:2] and identifiers != ["K7MP4XQ2", "ABCDEFGH", "23456788"]
    with pytest.raises(IndexError):
        identifiers[3]
    with pytest.raises(ValueError, match="longueur inattendue"):
        identifiers.extend(["COURT"])


def test_texts_drawn_together_are_drawn_like_one_at_a_time():
    import collections
    import re

    from cpf_tui.services import passwords
    from cpf_tui.services.identifiers import ALPHABET, LENGTH

    drawn = passwords.random_texts(ALPHABET, LENGTH, 5000)
    assert len(drawn) == 5000 and len(set(drawn)) == 5000
    assert all(len(text) == LENGTH and set(text) <= set(ALPHABET) for text in drawn)
    counts_by_symbol = collections.Counter("".join(drawn))
    expected = 5000 * LENGTH / len(ALPHABET)
    assert set(counts_by_symbol) == set(ALPHABET)
    assert all(0.85 * expected < count < 1.15 * expected for count in counts_by_symbol.values())
    shape = re.compile(r"^[^-]{4}(-[^-]{4})+$")
    single = passwords.generate_temporary_password()
    many = passwords.generate_temporary_passwords(300)
    assert len(many) == 300 and len(set(many)) == 300
    assert all(shape.match(p) and len(p) == len(single) and set(p) - {"-"} <= set(passwords.TEMP_ALPHABET)
               for p in many)


async def test_identifiers_drawn_in_a_transaction_skip_those_already_taken(world, monkeypatch):
    from cpf_tui.services import identifiers
    from cpf_tui.services.locking import serialised_transaction

    taken = await Account.all().values_list("identifier", flat=True)
    assert taken
    real = identifiers.random_texts
    draws: list[int] = []

    def rigged(alphabet, length, count):
        draws.append(count)
        if len(draws) == 1:  # the first draw collides with existing accounts
            return [*taken[:count], *real(alphabet, length, max(0, count - len(taken)))][:count]
        return real(alphabet, length, count)

    monkeypatch.setattr(identifiers, "random_texts", rigged)
    wanted = len(taken) + 3
    async with serialised_transaction() as conn:
        fresh = await identifiers.allocate_identifiers(wanted, using_db=conn)
    assert len(fresh) == wanted == len(set(fresh)) and not set(fresh) & set(taken)
    assert draws == [wanted, len(taken)]  # the taken ones drawn again


@pytest.mark.parametrize("child", ["cpf_tui.services.result_worker", "cpf_tui.services.hash_worker",
                                   "cpf_tui.services.audit_worker"])
def test_the_import_s_children_load_neither_the_models_nor_the_orm(child):
    """Each child starts while the import works on the other core: what it loads is processor time taken
    from the import (the ORM and the models were about 0.13 s of the result writer's start, asyncio
    0.03 s of each child's)."""
    import subprocess
    import sys

    code = (f"import sys, {child}; "
            "from cpf_tui.services import result_book, passwords; "
            "print(sorted(name for name in sys.modules"
            " if name.split('.')[0] in ('tortoise', 'models', 'pypika_tortoise', 'asyncio')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize("alphabet", ["ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", "àbcdé"])
def test_each_random_byte_gives_its_symbol_and_bytes_past_the_limit_are_rejected(alphabet, monkeypatch):
    from cpf_tui.services import passwords

    stream = iter([bytes(range(256)), bytes(range(256))])
    monkeypatch.setattr(passwords.secrets, "token_bytes", lambda _count: next(stream))
    limit = 256 - 256 % len(alphabet)
    expected = "".join(alphabet[byte % len(alphabet)] for byte in range(256) if byte < limit)
    drawn = passwords.random_texts(alphabet, 3, (len(expected) + 10) // 3)
    assert "".join(drawn) == (expected + expected)[: len(drawn) * 3]
    assert all(len(text) == 3 for text in drawn)


_PASSWORD = __import__("re").compile(r"Votre mot de passe temporaire : (\S+)")


async def _mailed_passwords(identifiers: list[str]) -> list[str]:
    """The temporary password of each account's welcome e-mail, in the order of `identifiers`, each
    checked against the account's stored hash."""
    from cpf_tui.services import passwords

    accounts = {a.identifier: a for a in await Account.filter(identifier__in=identifiers)}
    mails = {m.account_id: m for m in await OutboxEmail.filter(account_id__in=[a.id for a in accounts.values()])}
    found = []
    for identifier in identifiers:
        account = accounts[identifier]
        password = _PASSWORD.search(mails[account.id].body).group(1)
        assert passwords.verify(account.password_hash, password)
        found.append(password)
    return found


@pytest.mark.parametrize(("rows", "limit"), [(250, 20_000), (250, 120)], ids=["all-prepared", "beyond-the-limit"])
async def test_passwords_prepared_while_the_file_is_checked_are_the_import_s(world, tmp_path, monkeypatch, rows, limit):
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    monkeypatch.setattr(hash_worker, "MIN_PASSWORDS", 1)
    monkeypatch.setattr(provisioning.PreparedPasswords, "LIMIT", limit)
    path = write_book(tmp_path / "f.xlsx", valid_rows(rows))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx, prepare=True)
    prepared = report.prepared
    assert prepared is not None and prepared.count == min(rows, limit)
    assert [len(plain) for plain, _hashes in prepared.batches] == (
        [60, 60, 60, 60, 10] if limit > rows else [60, 60])
    prepared_passwords = [password for plain, _hashes in prepared.batches for password in plain]
    await prepared.hasher.reader  # its input closed: the child hashes what it was sent, then ends
    assert prepared.hasher.process.returncode == 0
    result = await bulk.import_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx,
                                        output_dir=tmp_path, report=report)
    assert report.prepared is None  # taken once
    mailed = await _mailed_passwords(list(result.identifiers))
    assert mailed[: len(prepared_passwords)] == prepared_passwords
    assert len(set(mailed)) == rows
    assert (await audit.verify_chain()).ok
    assert import_children(os.getpid()) == []


async def test_a_refused_file_keeps_no_prepared_password_nor_child(world, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    rows = valid_rows(200)
    rows[150][2] = "pas-une-adresse"  # the e-mail of one row, after two chunks were prepared
    path = write_book(tmp_path / "f.xlsx", rows)
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx, prepare=True)
    assert not report.ok and report.prepared is None
    assert import_children(os.getpid()) == []


async def test_a_report_that_is_not_imported_gives_its_child_back(world, tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "SPOOL_CHUNK", 60)
    path = write_book(tmp_path / "f.xlsx", valid_rows(130))
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=world.operator_ctx, prepare=True)
    process = report.prepared.hasher.process
    await report.discard_prepared()
    assert report.prepared is None and process.returncode is not None
    assert import_children(os.getpid()) == []


class _Rollback(Exception):
    pass


async def _journal_written(chain_in_child: bool, accounts, ctx, actor) -> list[dict]:
    """The events of `accounts` written in two chunks by the chaining child or by `record_batch`, read
    back, then rolled back."""
    from tortoise.transactions import in_transaction

    from cpf_tui.services import audit_worker

    columns = [name for name in AuditEvent._meta.fields_map if name != "id"]
    written: list[dict] = []
    try:
        async with in_transaction() as conn:
            head = (await audit.chain_head(conn))[0]
            chain = audit_worker.ChainProcess("account.create", ctx, actor) if chain_in_child else None
            assert chain is None or await chain.start()
            try:
                for chunk in (accounts[:7], accounts[7:]):
                    if chain is not None:
                        await chain.send(conn, chunk, [provisioning._label(account) for account in chunk])
                        assert await chain.write(conn) == len(chunk)
                    else:
                        await audit.record_batch(
                            (provisioning._created_event(account, "account.create", ctx, actor) for account in chunk),
                            using_db=conn,
                        )
            finally:
                if chain is not None:
                    await chain.close()
            written = await AuditEvent.filter(seq__gt=head).using_db(conn).order_by("seq").values(*columns)
            raise _Rollback
    except _Rollback:
        pass
    return written


@pytest.mark.parametrize("with_actor", [True, False], ids=["operator", "system"])
async def test_the_chaining_child_writes_the_events_record_batch_writes(world, with_actor):
    from types import SimpleNamespace

    from cpf_tui.services.context import RequestContext
    from models import AccountStatus, Profile, Role

    establishment = world.establishments[1]
    accounts = [
        SimpleNamespace(
            id=5000 + i, pk=5000 + i, identifier=f"ZK{i:06d}", role=Role.GESTIONNAIRE if i % 5 else Role.DELEGATED_ADMIN,
            profile=Profile.CREATION if i % 2 else Profile.CLOTURE, status=AccountStatus.ACTIVE, nom="Dupré-Éloi",
            prenom="Zoé", email=f"zoe.{i}@exemple.fr", phone="+262692036728" if i % 3 else "",
            service="Paie « RH »" if i % 4 else "", organisation_id=world.organisation.id,
            establishment_id=establishment.id if i % 2 else None,
        )
        for i in range(19)
    ]
    actor = await Account.get(id=world.operator_ctx.account_id) if with_actor else None
    ctx = RequestContext(account_id=actor.id if actor else None, session_token="s" * 43, ssh_user="jean",
                         ssh_key_fingerprint="SHA256:abc", terminal="ssh")
    expected = await _journal_written(False, accounts, ctx, actor)
    assert len(expected) == 19
    assert await _journal_written(True, accounts, ctx, actor) == expected  # the clock is frozen: same times
    assert import_children(os.getpid()) == []


async def test_a_value_the_database_would_not_store_as_it_is_fails_the_chunk(world, tmp_path, monkeypatch):
    from cpf_tui.services import audit_worker
    from cpf_tui.services.context import RequestContext

    monkeypatch.setattr(audit_worker, "MIN_ACCOUNTS", 1)
    path = write_book(tmp_path / "f.xlsx", valid_rows(40))
    ctx = RequestContext(account_id=world.operator_ctx.account_id, ssh_user="x" * 101)  # the column holds 100
    report = await bulk.analyse_workbook(path, siret=world.organisation.siret, ctx=ctx)
    assert report.ok, report.lines()
    before = await counts()
    with pytest.raises(RuntimeError, match="valeur non conforme dans la colonne ssh_user"):
        await bulk.import_workbook(path, siret=world.organisation.siret, ctx=ctx, output_dir=tmp_path, report=report)
    assert await counts() == before
    assert import_children(os.getpid()) == []
