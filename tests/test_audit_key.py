"""The journal's chain is keyed (HMAC, key in a 0600 file outside the database): removing an event and
re-chaining with the project's own functions, without the key, is found; anchors; older databases."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import pytest
from tortoise import connections

from cpf_tui import cli
from cpf_tui.errors import ConfigError
from cpf_tui.services import audit, audit_key
from models import AuditEvent


async def _fill(count: int) -> None:
    for index in range(count):
        await audit.record("test.event", actor_identifier=f"U{index}", target_label=f"cible {index}",
                           after={"n": index})


async def _sql(statement: str, *params) -> None:
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        for number in range(1, len(params) + 1):
            statement = statement.replace("?", f"${number}", 1)
    await connection.execute_query(statement, list(params))


async def _rechain_from(seq: int) -> None:
    """What someone who can write the database does after removing an event: renumber the events that
    follow and recompute their links with the project's own `event_digest`, as the code would."""
    events = await AuditEvent.filter(seq__gte=seq).order_by("seq")
    previous = await AuditEvent.filter(seq__lt=seq).order_by("-seq").first()
    prev_hash = previous.event_hash if previous else audit.GENESIS
    for new_seq, event in enumerate(events, start=seq):
        event.seq = new_seq
        event.prev_hash = prev_hash
        event.event_hash = prev_hash = audit.event_digest(audit.hashed_fields(event), prev_hash)
        await _sql("UPDATE audit_event SET seq = ?, prev_hash = ?, event_hash = ? WHERE id = ?",
                   -new_seq, event.prev_hash, event.event_hash, event.id)
    await _sql("UPDATE audit_event SET seq = -seq WHERE seq < 0")


async def test_links_are_an_hmac_under_the_key(db, frozen_clock):
    await _fill(2)
    key = audit_key.active()
    first, second = await AuditEvent.all().order_by("seq")
    content = (second.prev_hash + audit.canonical(audit.hashed_fields(second))).encode()
    assert second.event_hash == hmac.new(key.secret, content, hashlib.sha256).hexdigest()
    assert second.event_hash != hashlib.sha256(content).hexdigest()
    assert second.prev_hash == first.event_hash


async def test_removing_an_event_and_rechaining_without_the_key_is_found(db, frozen_clock):
    await _fill(6)
    await _sql("DELETE FROM audit_event WHERE seq = ?", 3)
    await _rechain_from(3)
    assert [e.seq for e in await AuditEvent.all().order_by("seq")] == [1, 2, 3, 4, 5]
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 3
    assert "n° 3" in report.message and "modifié" in report.message


async def test_rechaining_with_the_code_under_another_key_is_found(db, frozen_clock, tmp_path):
    await _fill(4)
    real = audit_key.active()
    await _sql("DELETE FROM audit_event WHERE seq >= ?", 3)
    audit_key.install(audit_key.create_key(tmp_path / "autre.key"))  # a key made up by the intruder
    await _fill(2)  # events 3 and 4 written again by the application's own code
    audit_key.install(real)
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 3


async def test_an_anchor_finds_a_removed_tail(db, frozen_clock):
    await _fill(4)
    anchor = await audit.verify_chain()
    await _sql("DELETE FROM audit_event WHERE seq = ?", 4)
    assert (await audit.verify_chain()).ok  # the chain alone cannot see it
    report = await audit.verify_chain(expected_head=(anchor.head_seq, anchor.head_hash))
    assert not report.ok and "fin de journal" in report.message


async def test_a_database_older_than_its_key_keeps_verifying(db, frozen_clock, tmp_path):
    """Events written before the key existed keep plain SHA-256 links; the first signed event seals them."""
    audit_key.install(audit_key.AuditKey(b"\0" * 32, keyed_from=10**9, path=tmp_path / "none"))
    await _fill(3)  # as an older version wrote them: plain SHA-256
    first = await AuditEvent.get(seq=1)
    assert first.event_hash == audit.event_digest(audit.hashed_fields(first), audit.GENESIS)
    key, created = await audit_key.ensure_key(tmp_path / "audit.key")
    assert created and key.keyed_from == 4
    audit_key.install(key)
    await _fill(2)
    assert (await audit.verify_chain()).ok
    # Editing an old event and re-chaining from it without the key breaks at the first signed event.
    await _sql("UPDATE audit_event SET target_label = 'falsifié' WHERE seq = ?", 2)
    await _rechain_from(2)
    report = await audit.verify_chain()
    assert not report.ok and report.bad_seq == 4


async def test_ensure_key_creates_a_private_key_once(db, frozen_clock, tmp_path):
    await _fill(2)
    path = tmp_path / "cles" / "audit.key"
    key, created = await audit_key.ensure_key(path)
    assert created and key.keyed_from == 3 and len(key.secret) == audit_key.KEY_BYTES
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    again, created_again = await audit_key.ensure_key(path)
    assert not created_again and again == key


def test_a_key_readable_by_others_or_missing_is_refused_in_french(tmp_path):
    path = audit_key.create_key(tmp_path / "audit.key").path
    for mode in (0o644, 0o660, 0o604):
        os.chmod(path, mode)
        with pytest.raises(ConfigError, match="chmod 600"):
            audit_key.read_key(path)
    os.chmod(path, 0o640)  # read by the group of a several-accounts installation: accepted
    assert audit_key.read_key(path).path == path
    with pytest.raises(ConfigError, match="cpf-tui migrate"):
        audit_key.read_key(tmp_path / "absente.key")
    (tmp_path / "abimee.key").write_text("key = 12\n")
    os.chmod(tmp_path / "abimee.key", 0o600)
    with pytest.raises(ConfigError, match="invalide"):
        audit_key.read_key(tmp_path / "abimee.key")


def test_a_new_key_never_replaces_an_existing_file(tmp_path):
    path = audit_key.create_key(tmp_path / "audit.key").path
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        audit_key.create_key(path)
    assert path.read_bytes() == before


def _run(coro_factory, url: str):
    import asyncio

    from cpf_tui import db as db_module

    async def go():
        await db_module.open_database(url)
        try:
            return await coro_factory()
        finally:
            await db_module.close_database()

    return asyncio.run(go())


def test_cli_anchor_then_verify_against_it(db_url, frozen_clock, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    _run(lambda: _fill(3), db_url)
    assert cli.main(["audit", "anchor"]) == 0
    captured = capsys.readouterr()
    anchor = captured.out.strip()
    seq, _, digest = anchor.partition(":")
    assert seq == "3" and len(digest) == 64 and "hors du serveur" in captured.err
    assert cli.main(["audit", "verify", "--ancre", anchor]) == 0
    assert "intègre" in capsys.readouterr().out
    _run(lambda: _sql("DELETE FROM audit_event WHERE seq = ?", 3), db_url)
    assert cli.main(["audit", "verify", "--ancre", anchor]) == 2
    assert "fin de journal" in capsys.readouterr().out
    assert cli.main(["audit", "anchor"]) == 0  # the anchor of what is there now
    assert capsys.readouterr().out.startswith("2:")


def test_cli_anchor_of_an_altered_journal_is_refused(db_url, frozen_clock, capsys, monkeypatch):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    _run(lambda: _fill(3), db_url)
    _run(lambda: _sql("UPDATE audit_event SET target_label = 'falsifié' WHERE seq = ?", 2), db_url)
    assert cli.main(["audit", "anchor"]) == 2
    assert "n° 2" in capsys.readouterr().out


def test_cli_without_its_key_says_how_to_create_it(db_url, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    monkeypatch.delenv(audit_key.ENV_VAR)
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["audit", "verify"]) == 1
    assert "cpf-tui migrate" in capsys.readouterr().err
    assert cli.main(["migrate"]) == 0
    assert "Clé du journal d'audit créée" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "audit.key").st_mode) == 0o600
    assert cli.main(["audit", "verify"]) == 0


@pytest.mark.slow  # many processes: started first in the suite (tests/conftest.py)
def test_the_training_sandbox_gets_a_key_of_its_own(tmp_path, monkeypatch):
    for name in ("CPF_TUI_CONFIG", "CPF_TUI_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path / "data"))
    sandbox_file = tmp_path / "formation" / "bac.sqlite3"
    url = f"sqlite://{sandbox_file}"
    assert cli.main(["demo", "--db", str(sandbox_file), "--build-only"]) == 0
    key_path = sandbox_file.parent / "bac-audit.key"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    first_key = key_path.read_bytes()
    assert cli.main(["demo", "--db", str(sandbox_file), "--build-only"]) == 0  # reopened: same key
    assert key_path.read_bytes() == first_key
    assert _run(lambda: audit.verify_chain(key=audit_key.read_key(key_path)), url).ok
    assert cli.main(["demo", "--db", str(sandbox_file), "--build-only", "--reset"]) == 0  # a new journal, a new key
    assert key_path.read_bytes() != first_key
    assert _run(lambda: audit.verify_chain(key=audit_key.read_key(key_path)), url).ok


async def test_a_missing_key_is_created_by_the_first_event_written_never_by_a_verification(db, frozen_clock,
                                                                                          tmp_path, monkeypatch):
    from cpf_tui.config import Settings

    audit_key.install(audit_key.AuditKey(b"\0" * 32, keyed_from=10**9, path=tmp_path / "none"))
    await _fill(2)  # events of a database older than its key
    monkeypatch.delenv(audit_key.ENV_VAR)
    settings = Settings()
    settings.data_dir = str(tmp_path / "donnees")
    with pytest.raises(ConfigError, match="cpf-tui migrate"):
        audit_key.configure(settings, create_missing=False)  # what `audit verify` does
    assert not settings.audit_key_path.exists()
    audit_key.configure(settings)  # what the App and the writing commands do
    assert not settings.audit_key_path.exists()
    await _fill(1)
    key = audit_key.read_key(settings.audit_key_path)
    assert key.keyed_from == 3 and stat.S_IMODE(os.stat(settings.audit_key_path).st_mode) == 0o600
    assert audit_key.active() == key
    assert (await audit.verify_chain()).ok
