"""Provisioning: identifier format, temporary password by e-mail only, hash, audit without secrets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from cpf_tui.services import passwords, provisioning
from cpf_tui.services.context import RequestContext
from cpf_tui.services.identifiers import ALPHABET, LENGTH
from models import Account, AuditEvent, OutboxEmail, Profile, Role
from tests.factories import make_account, make_organisation

PASSWORD_IN_MAIL = re.compile(r"mot de passe temporaire : (\S+)")


async def _provision(org, **overrides):
    fields = dict(
        role=Role.GESTIONNAIRE, profile=Profile.CREATION, organisation=org, establishment=None,
        nom="Lefèvre", prenom="Élodie", email="elodie.lefevre@example.fr", phone="+33612345678",
        service="Formation", created_by=None, ctx=RequestContext(), temp_password_days=7,
    )
    fields.update(overrides)
    async with in_transaction() as conn:
        return await provisioning.provision_account(using_db=conn, **fields)


async def test_provision_account_creates_identifier_mail_and_audit(db, frozen_clock):
    org = await make_organisation()
    account = await _provision(org)

    assert len(account.identifier) == LENGTH
    assert set(account.identifier) <= set(ALPHABET)
    stored = await Account.get(id=account.id)
    assert stored.password_is_temporary is True
    assert stored.temp_password_expires_at == frozen_clock.current + timedelta(days=7)
    # The same search key as every other account (names first, then identifier, e-mail, service, role...).
    assert stored.search_text == (
        f"lefevre elodie {account.identifier.lower()} elodie.lefevre@example.fr formation gestionnaire creation actif"
    )

    mail = await OutboxEmail.get(account_id=account.id)
    assert mail.kind == "account_created"
    assert mail.contains_secret is True
    assert mail.to_address == "elodie.lefevre@example.fr"
    assert account.identifier in mail.body
    assert "22/01/2026" in mail.body
    password = PASSWORD_IN_MAIL.search(mail.body).group(1)
    assert passwords.verify(stored.password_hash, password)
    assert not passwords.verify(stored.password_hash, password + "x")

    event = await AuditEvent.get(action="account.create", target_id=str(account.id))
    assert event.after == provisioning.account_public_fields(stored)
    assert event.after["role"] == "gestionnaire"
    dumped = repr(event.before) + repr(event.after) + event.target_label
    assert password not in dumped
    assert stored.password_hash not in dumped


async def test_provision_account_rolls_back_with_the_callers_transaction(db):
    org = await make_organisation()
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await provisioning.provision_account(
                role=Role.GESTIONNAIRE, profile=Profile.CONSULTATION, organisation=org, establishment=None,
                nom="Roux", prenom="Paul", email="paul.roux@example.fr", created_by=None,
                ctx=RequestContext(), using_db=conn,
            )
            raise RuntimeError("caller failed")
    assert await Account.filter(nom="Roux").count() == 0
    assert await OutboxEmail.all().count() == 0
    assert await AuditEvent.filter(action="account.create").count() == 0


async def test_custom_audit_action_and_creator(db):
    org = await make_organisation()
    operator = await make_account(Role.OPERATOR)
    account = await _provision(org, role=Role.PRINCIPAL_ADMIN, profile=Profile.CLOTURE, created_by=operator,
                               audit_action="organisation.principal_create")
    event = await AuditEvent.get(action="organisation.principal_create")
    assert event.actor_id == operator.id
    assert (await Account.get(id=account.id)).created_by_id == operator.id


async def test_issue_temporary_password_unlocks_and_ends_sessions(db, frozen_clock):
    account = await make_account()
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=await make_organisation(), nom="Garnier",
                               prenom="Luc")
    account.failed_attempts = 10
    account.locked_at = frozen_clock.current
    await account.save()
    old_hash, old_epoch = account.password_hash, account.credentials_epoch

    async with in_transaction() as conn:
        await provisioning.issue_temporary_password(account, ctx=RequestContext(), using_db=conn,
                                                    temp_password_days=3, actor=admin)

    stored = await Account.get(id=account.id)
    assert stored.password_hash != old_hash
    assert stored.password_is_temporary is True
    assert stored.failed_attempts == 0 and stored.locked_at is None
    assert stored.credentials_epoch == old_epoch + 1
    assert stored.temp_password_expires_at == frozen_clock.current + timedelta(days=3)
    mail = await OutboxEmail.get(account_id=account.id, kind="password_regenerated")
    assert mail.contains_secret is True
    password = PASSWORD_IN_MAIL.search(mail.body).group(1)
    assert passwords.verify(stored.password_hash, password)
    assert "18/01/2026" in mail.body
    assert f"par Luc Garnier ({admin.identifier})" in mail.body


async def test_provision_accounts_batches_like_single_provisioning(db, frozen_clock, monkeypatch):
    from cpf_tui.services import audit

    monkeypatch.setattr(provisioning, "INSERT_BATCH", 4)  # several batches, the last one short
    monkeypatch.setattr(provisioning, "HASH_SLICE", 3)
    org = await make_organisation()
    creator = await make_account(Role.OPERATOR)
    taken = await make_account(organisation=org)
    specs = [
        provisioning.AccountSpec(
            role=Role.GESTIONNAIRE, profile=Profile.VALIDATION, organisation=org, establishment=None,
            nom=f"Nom{index}", prenom="Léa", email=f"lea.{index}@example.fr", phone="+33612345678",
            service=f"Service {index}",
        )
        for index in range(10)
    ]
    seen: list[tuple[int, int]] = []
    async with in_transaction() as conn:
        accounts = await provisioning.provision_accounts(
            specs, created_by=creator, ctx=RequestContext(), using_db=conn, temp_password_days=3,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert seen == [(done, 10) for done in range(1, 11)]
    assert [a.nom for a in accounts] == [f"Nom{index}" for index in range(10)]
    identifiers = {a.identifier for a in accounts}
    assert len(identifiers) == 10 and taken.identifier not in identifiers
    for account in accounts:
        stored = await Account.get(id=account.id)
        assert stored.identifier == account.identifier and stored.created_by_id == creator.id
        assert stored.temp_password_expires_at == frozen_clock.current + timedelta(days=3)
        assert stored.search_text.startswith("nom") and account.identifier.lower() in stored.search_text
        mail = await OutboxEmail.get(account_id=account.id)
        assert mail.contains_secret and mail.to_address == stored.email and stored.identifier in mail.body
        assert passwords.verify(stored.password_hash, PASSWORD_IN_MAIL.search(mail.body).group(1))
        event = await AuditEvent.get(action="account.create", target_id=str(account.id))
        assert event.after == provisioning.account_public_fields(stored) and event.actor_id == creator.id
    assert len({m.body for m in await OutboxEmail.all()}) == 10
    # A returned account is a saved instance: saving it again updates the row.
    accounts[0].service = "Autre"
    await accounts[0].save(update_fields=["service"])
    assert (await Account.get(id=accounts[0].id)).service == "Autre"
    assert (await audit.verify_chain()).ok


async def test_provision_accounts_writes_nothing_when_the_transaction_fails(db, monkeypatch):
    monkeypatch.setattr(provisioning, "INSERT_BATCH", 2)
    org = await make_organisation()
    specs = [
        provisioning.AccountSpec(role=Role.GESTIONNAIRE, profile=Profile.CONSULTATION, organisation=org,
                                 establishment=None, nom="Roux", prenom="Paul", email=f"p{index}@example.fr")
        for index in range(5)
    ]
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await provisioning.provision_accounts(specs, created_by=None, ctx=RequestContext(), using_db=conn)
            raise RuntimeError("caller failed")
    assert await Account.filter(nom="Roux").count() == 0
    assert await OutboxEmail.all().count() == 0
    assert await AuditEvent.filter(action="account.create").count() == 0
