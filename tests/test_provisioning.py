"""Provisioning: identifier format, temporary password by e-mail only, hash, audit without secrets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from cpf_tui import clock, text
from cpf_tui.services import audit, outbox, passwords, provisioning
from cpf_tui.services.context import RequestContext
from cpf_tui.services.identifiers import ALPHABET, LENGTH
from cpf_tui.services.rows import insert_rows
from models import Account, AccountStatus, AuditEvent, OutboxEmail, Profile, Role
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
    # Created by an administrator: the password only, never the identifier (handed over by the creator).
    assert account.identifier not in mail.body
    assert "Votre identifiant ne figure pas dans ce message" in mail.body
    assert mail.subject == "Votre mot de passe temporaire pour l'espace de gestion CPF"
    assert f"pour l'organisme {org.raison_sociale}." in mail.body
    assert "Bonjour Élodie Lefèvre," in mail.body
    # Expiry in Paris time: 22/01/2026 09:00 UTC is 10:00 in Paris (winter time).
    assert "Il expire le 22/01/2026 à 10:00 (heure de Paris)." in mail.body
    assert "UTC" not in mail.body
    password = PASSWORD_IN_MAIL.search(mail.body).group(1)
    assert passwords.verify(stored.password_hash, password)
    assert not passwords.verify(stored.password_hash, password + "x")

    event = await AuditEvent.get(action="account.create", target_id=str(account.id))
    assert event.after == audit.account_public_fields(stored)
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
    assert "Il expire le 18/01/2026 à 10:00 (heure de Paris)." in mail.body
    assert "généré par Luc Garnier pour votre compte" in mail.body
    assert account.identifier not in mail.body and admin.identifier not in mail.body


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
        assert mail.contains_secret and mail.to_address == stored.email and stored.identifier not in mail.body
        assert f"créé pour vous par {creator.prenom} {creator.nom}" in mail.body and org.raison_sociale in mail.body
        assert passwords.verify(stored.password_hash, PASSWORD_IN_MAIL.search(mail.body).group(1))
        event = await AuditEvent.get(action="account.create", target_id=str(account.id))
        assert event.after == audit.account_public_fields(stored) and event.actor_id == creator.id
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


# -- rows written without model instances (services.rows.insert_rows) are stored as the ORM stores them --

# Columns whose values legitimately differ between the two rows compared.
OWN = {"id", "identifier", "created_at", "seq", "prev_hash", "event_hash", "to_address"}


async def _stored(table: str, key: str, value) -> dict:
    conn = connections.get("default")
    mark = "$1" if conn.capabilities.dialect == "postgres" else "?"
    _count, rows = await conn.execute_query(f"SELECT * FROM {table} WHERE {key} = {mark}", [value])
    return {name: item for name, item in dict(rows[0]).items() if name not in OWN}


async def test_account_row_equals_a_saved_model(db, frozen_clock):
    org = await make_organisation()
    creator = await make_account(Role.OPERATOR)
    values = dict(
        role=Role.GESTIONNAIRE, profile=Profile.VALIDATION, nom="Lefèvre", prenom="Élodie",
        email="elodie@example.fr", phone="+33612345678", service="=Formation", search_text="lefevre elodie",
        password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", password_is_temporary=True,
        temp_password_expires_at=clock.now() + timedelta(days=7),
    )
    await Account.create(identifier="ORMORM01", organisation=org, created_by=creator, **values)
    async with in_transaction() as conn:
        automatic = await insert_rows(
            Account, [dict(identifier="ROWROW01", **values)], using_db=conn,
            common=dict(organisation_id=org.id, created_by_id=creator.id),
        )
    assert await _stored("account", "identifier", "ROWROW01") == await _stored("account", "identifier", "ORMORM01")
    by_orm, by_rows = await Account.get(identifier="ORMORM01"), await Account.get(identifier="ROWROW01")
    for name in Account._meta.fields_db_projection:  # noqa: SLF001
        if name not in OWN:
            assert getattr(by_rows, name) == getattr(by_orm, name), name
    assert by_rows.status == AccountStatus.ACTIVE and by_rows.version == 1
    assert abs(by_rows.created_at - by_orm.created_at) < timedelta(minutes=1)
    assert automatic["created_at"] == by_rows.created_at


async def test_outbox_row_equals_a_saved_message(db, frozen_clock):
    fields = dict(kind="account_created", subject="Vos identifiants", body="Bonjour,\n\nsecret", contains_secret=True,
                  account_id=42)
    await outbox.enqueue(to_address="orm@example.fr", **fields)
    async with in_transaction() as conn:
        await outbox.enqueue_rows([dict(to_address="rows@example.fr", **fields)], using_db=conn)
    assert await _stored("outbox_email", "to_address", "rows@example.fr") == await _stored(
        "outbox_email", "to_address", "orm@example.fr"
    )


async def test_audit_rows_equal_saved_events_and_chain(db, frozen_clock):
    account = await make_account(Role.OPERATOR)
    event = dict(action="test.same", actor=account, target=account, before={"nom": "A", "n": 1, "ok": True},
                 after={"nom": "B", "rien": None})
    await audit.record(**event)  # one event: saved through the model
    await audit.record_many([event, event])  # a run: inserted as rows
    stored = [await _stored("audit_event", "seq", seq) for seq in (1, 2, 3)]
    assert stored[0] == stored[1] == stored[2]
    first, second = await AuditEvent.get(seq=1), await AuditEvent.get(seq=2)
    assert second.after == first.after and second.at == first.at and second.target_label == str(account)
    assert (await audit.verify_chain()).ok


async def test_audit_plain_json_shortcut_matches_the_round_trip():
    import json

    for value in ({"b": 1, "a": "x", "c": None, "d": True}, {"é": "ü", "n": -3}, {}):
        assert audit._plain_json(value) == json.loads(audit.canonical(value))  # noqa: SLF001
        assert list(audit._plain_json(value)) == list(json.loads(audit.canonical(value)))  # noqa: SLF001


async def test_insert_rows_refuses_unknown_fields_and_missing_required_values(db):
    async with in_transaction() as conn:
        with pytest.raises(ValueError):
            await insert_rows(OutboxEmail, [dict(kind="x", nope=1)], using_db=conn)
        with pytest.raises(ValueError):
            await insert_rows(OutboxEmail, [dict(kind="x", to_address=None, subject="s", body="b")], using_db=conn)


async def test_provision_accounts_records_equal_the_models(db, frozen_clock):
    org = await make_organisation()
    spec = provisioning.AccountSpec(role=Role.GESTIONNAIRE, profile=Profile.CREATION, organisation=org,
                                    establishment=None, nom="Roux", prenom="Paul", email="paul@example.fr")
    async with in_transaction() as conn:
        (record,) = await provisioning.provision_accounts(
            [spec], created_by=None, ctx=None, using_db=conn, as_models=False
        )
    stored = await Account.get(id=record.id)
    assert record.identifier == stored.identifier and record.search_text == stored.search_text
    assert audit.account_public_fields(record) == audit.account_public_fields(stored)
    event = await AuditEvent.get(action="account.create", target_id=str(stored.id))
    assert event.target_type == "Account" and event.target_label == str(stored)
    assert event.organisation_id == org.id


def test_search_text_folded_part_by_part_equals_folding_the_joined_parts():
    from types import SimpleNamespace

    memo: dict[str, str] = {}
    for nom, prenom, service, site in [
        ("Lefèvre", "Élodie", "Formation", "Siège"), ("O'Neil", "Ŋoa  Zoë", "", "Agence  Lyon\u00a0Part-Dieu"),
        ("ΣΟΦΙΑΣ", "Chloé", "  ", "ﬁn Æther"), ("x" * 300, "y" * 300, "z" * 200, "Site"),
        ("Müller", "Σ'", "\u0301Accent", ""), ("  Ab\tC ", "D\x0bE", "F  G", "H\x1cI"),
    ]:
        for role, profile, status in [(Role.GESTIONNAIRE, Profile.CLOTURE, "active"),
                                      (Role.DELEGATED_ADMIN, Profile.CLOTURE, "inactive")]:
            account = SimpleNamespace(nom=nom, prenom=prenom, identifier="ABCD2345", email="A.b@x.fr", service=service,
                                      role=role, profile=profile, status=status)
            parts = provisioning._search_parts(account, site)  # noqa: SLF001
            whole = text.fold(" ".join(part for part in parts if part))[:600]
            assert provisioning.search_text_of(account, site, memo) == whole
            assert provisioning.search_text_of(account, site) == whole


def test_welcome_mail_variants_and_summer_time():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    account = SimpleNamespace(identifier="ABCD2345", prenom="Zoé", nom="Hoarau")
    creator = SimpleNamespace(identifier="WXYZ6789", prenom="Jean", nom="Payet")
    july = datetime(2026, 7, 22, 9, 0, tzinfo=timezone.utc)
    # Created by an administrator: the password only, who hands the identifier over, the organisation.
    subject, body = provisioning.welcome_mail(
        account, "Secret-Temp-1234", july, organisation_name="Lycée Leconte-de-Lisle",
        establishment_name="Antenne de Saint-Denis", creator=creator,
    )
    assert subject == "Votre mot de passe temporaire pour l'espace de gestion CPF"
    assert "ABCD2345" not in body and "WXYZ6789" not in body
    assert "Votre mot de passe temporaire : Secret-Temp-1234" in body
    assert "Jean Payet vous le communique" in body
    assert "pour l'organisme Lycée Leconte-de-Lisle (établissement Antenne de Saint-Denis)." in body
    assert "Il expire le 22/07/2026 à 11:00 (heure de Paris)." in body  # summer time: UTC+2
    # A principal administrator registered by the CDC: « ses identifiants », both.
    subject, body = provisioning.welcome_mail(
        account, "Secret-Temp-1234", july, organisation_name="Lycée Leconte-de-Lisle", creator=creator,
        with_identifier=True,
    )
    assert subject == "Vos identifiants pour l'espace de gestion CPF"
    assert "Votre identifiant : ABCD2345" in body and "Votre mot de passe temporaire : Secret-Temp-1234" in body
    assert "pour l'organisme Lycée Leconte-de-Lisle." in body
    # An operator belongs to the CDC.
    _subject, body = provisioning.welcome_mail(account, "Secret-Temp-1234", july, creator=creator)
    assert "pour la Caisse des dépôts (opérateurs CDC)." in body


async def test_only_principals_registered_by_the_cdc_get_their_identifier_by_mail(db, frozen_clock):
    from cpf_tui.services import organisations as orgs
    from cpf_tui.services.organisations import OrganisationInput, PersonInput
    from tests.factories import make_siren, make_siret

    operator = await make_account(Role.OPERATOR)
    ctx = RequestContext(account_id=operator.id)
    siret = make_siret(make_siren(901), 12)
    registration = await orgs.register_organisation(
        ctx, OrganisationInput("Organisme réunionnais", siret, "1 rue de Paris, 97400 Saint-Denis",
                               "contact@example.re", "unique"),
        PersonInput("Hoarau", "Zoé", "zoe.hoarau@example.re", "0692 03 67 28"),
    )
    principal_mail = await OutboxEmail.get(account_id=registration.principal_id)
    assert registration.principal_identifier in principal_mail.body
    assert "pour l'organisme Organisme réunionnais." in principal_mail.body
    assert (await Account.get(id=registration.principal_id)).phone == "+262692036728"
    _id, operator_identifier = await orgs.create_operator(
        ctx, PersonInput("Grondin", "Léa", "lea@example.fr", "0639 01 12 34")
    )
    operator_mail = await OutboxEmail.get(account_id=_id)
    assert operator_identifier not in operator_mail.body
    assert f"{operator.prenom} {operator.nom} vous le communique" in operator_mail.body
