"""CGU service: required at first login and for each new version, acceptance, refusal, publication."""

from __future__ import annotations

import pytest

from cpf_tui.cli import main
from cpf_tui.errors import Conflict, ValidationError
from cpf_tui.services import cgu
from models import Account, AppSession, AuditEvent, CguAcceptance, CguVersion
from tests.factories import login, make_account


async def test_reference_text_is_version_one_when_nothing_was_published(db):
    latest = await cgu.latest_version()
    assert latest.version == 1 and "CONDITIONS GÉNÉRALES" in latest.text
    assert (await cgu.latest_version()).id == latest.id
    assert await CguVersion.all().count() == 1


async def test_accept_records_version_and_time(db, frozen_clock, fast_argon2):
    account = await make_account(cgu_version_accepted=None)
    assert (await cgu.required_version(account)).version == 1
    ctx = await login(account)
    await cgu.accept(ctx, 1)
    account = await Account.get(id=account.id)
    assert account.cgu_version_accepted == 1 and account.cgu_accepted_at == frozen_clock.current
    acceptance = await CguAcceptance.get(account_id=account.id)
    assert acceptance.version == 1 and acceptance.accepted_at == frozen_clock.current
    event = await AuditEvent.get(action="cgu.accept")
    assert event.before == {"cgu_version_accepted": None} and event.after == {"cgu_version_accepted": 1}
    assert await cgu.required_version(account) is None


async def test_a_new_version_is_asked_again(db, frozen_clock, fast_argon2):
    account = await make_account(cgu_version_accepted=1)
    await cgu.latest_version()
    assert await cgu.required_version(account) is None
    published = await cgu.publish("Version 2 des CGU.\nArticle unique.", published_by="ops")
    assert published.version == 2
    assert (await cgu.required_version(account)).version == 2
    ctx = await login(account)
    with pytest.raises(Conflict, match="version 2"):
        await cgu.accept(ctx, 1)  # read v1 while v2 was being published
    await cgu.accept(ctx, 2)
    assert await cgu.required_version(await Account.get(id=account.id)) is None


async def test_refusal_is_audited_and_ends_the_session(db, frozen_clock, fast_argon2):
    account = await make_account(cgu_version_accepted=None)
    ctx = await login(account)
    await cgu.refuse(ctx, 1)
    assert (await AppSession.get(token=ctx.session_token)).end_reason == "cgu_refused"
    assert await AuditEvent.filter(action="cgu.refuse", actor_id=account.id).exists()
    assert (await Account.get(id=account.id)).cgu_version_accepted is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "introuvable"),
        (b"", "vide"),
        (b"  \n\n \t\n", "vide"),
        (b"\xff\xfe\x00binaire", "illisible"),
        (b"Texte \x1b[31mrouge\x1b[0m", "contrôle"),
    ],
)
async def test_publish_file_errors_are_french_and_change_nothing(db, tmp_path, content, message):
    path = tmp_path / "cgu.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValidationError, match=message):
        await cgu.publish_file(path)
    assert not await CguVersion.exists()


async def test_publish_file_of_a_directory_is_refused(db, tmp_path):
    with pytest.raises(ValidationError, match="dossier"):
        await cgu.publish_file(tmp_path)


async def test_publish_file_audits_the_new_version(db, tmp_path):
    path = tmp_path / "cgu.txt"
    path.write_text("\ufeffCGU v1\r\nArticle 1.\r\n", encoding="utf-8")
    version = await cgu.publish_file(path, published_by="ops")
    assert version.version == 1 and version.text == "CGU v1\nArticle 1."
    event = await AuditEvent.get(action="cgu.publish")
    assert event.after["version"] == 1 and len(event.after["sha256"]) == 64


def test_cli_cgu_publish(settings, tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n', encoding="utf-8")
    path = tmp_path / "cgu.txt"
    path.write_text("Nouvelles conditions.\n", encoding="utf-8")
    assert main(["--config", str(config), "cgu", "publish", str(path)]) == 0
    assert "version 1" in capsys.readouterr().out
    assert main(["--config", str(config), "cgu", "publish", str(tmp_path / "absent.txt")]) == 1
    assert "introuvable" in capsys.readouterr().err
    empty = tmp_path / "vide.txt"
    empty.write_text("", encoding="utf-8")
    assert main(["--config", str(config), "cgu", "publish", str(empty)]) == 1
    assert "vide" in capsys.readouterr().err
