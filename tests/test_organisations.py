"""Back office: registering organisations, establishments, replacing principal administrators, operators."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.exceptions import IntegrityError

from cpf_tui.errors import Conflict, CpfError, NotFound, PermissionDenied, ValidationError
from cpf_tui.services import organisations as orgs
from cpf_tui.services.context import RequestContext
from models import (
    Account,
    AccountStatus,
    AuditEvent,
    Establishment,
    Organisation,
    OutboxEmail,
    Profile,
    Role,
    StructureType,
)
from tests.factories import make_account, make_organisation, make_siren, make_siret, make_staff


def ctx_of(account: Account) -> RequestContext:
    return RequestContext(account_id=account.id)


def org_input(siret: str, **overrides) -> orgs.OrganisationInput:
    values = dict(
        raison_sociale="Formation Conseil Ouest", siret=siret, address="3 quai de la Fosse, 44000 Nantes",
        contact_email="contact@fco.example.fr", structure_type="unique",
    )
    values.update(overrides)
    return orgs.OrganisationInput(**values)


def admin_input(**overrides) -> orgs.PersonInput:
    values = dict(nom="Lefèvre", prenom="Anne", email="anne.lefevre@fco.example.fr", phone="06 12 34 56 78")
    values.update(overrides)
    return orgs.PersonInput(**values)


async def snapshot() -> tuple[int, ...]:
    return (
        await Organisation.all().count(), await Establishment.all().count(), await Account.all().count(),
        await OutboxEmail.all().count(), await AuditEvent.all().count(),
    )


@pytest.fixture
async def operator(db):
    return await make_account(Role.OPERATOR, nom="Opérateur", prenom="Paul")


async def test_register_creates_org_head_office_and_principal_in_one_go(operator, frozen_clock):
    siret = make_siret(make_siren(901), 12)
    result = await orgs.register_organisation(ctx_of(operator), org_input(siret), admin_input())
    org = await Organisation.get(id=result.organisation_id)
    assert (org.siret, org.siren, org.structure_type) == (siret, siret[:9], StructureType.UNIQUE)
    head = await Establishment.get(id=result.establishment_id)
    assert head.is_head_office and head.siret == siret
    admin = await Account.get(id=result.principal_id)
    assert (admin.role, admin.profile, admin.status) == (Role.PRINCIPAL_ADMIN, Profile.CLOTURE, AccountStatus.ACTIVE)
    assert admin.phone == "+33612345678"
    assert admin.identifier == result.principal_identifier
    assert "lefevre" in admin.search_text and "formation conseil ouest" in admin.search_text
    mail = await OutboxEmail.get(account_id=admin.id)
    assert mail.to_address == "anne.lefevre@fco.example.fr" and mail.contains_secret
    assert admin.identifier in mail.body
    actions = await AuditEvent.all().values_list("action", flat=True)
    assert "organisation.register" in actions and "account.create" in actions


async def test_register_reports_every_bad_field_in_french_and_changes_nothing(operator):
    before = await snapshot()
    with pytest.raises(ValidationError) as caught:
        await orgs.register_organisation(
            ctx_of(operator),
            org_input("12345678901234", raison_sociale="", contact_email="pas-une-adresse", structure_type="x",
                      address=""),
            admin_input(nom="<b>[bold]x[/bold]", prenom="", email="a@", phone="12"),
        )
    errors = caught.value.errors
    assert set(errors) == {"raison_sociale", "siret", "address", "contact_email", "structure_type", "admin_nom",
                           "admin_prenom", "admin_email", "admin_phone"}
    assert "SIRET" in errors["siret"] and "clé de contrôle" in errors["siret"]
    assert "obligatoire" in errors["raison_sociale"]
    assert await snapshot() == before


async def test_register_refuses_a_known_siret_and_a_unique_structure_sharing_its_siren(operator):
    siren = make_siren(902)
    await orgs.register_organisation(ctx_of(operator), org_input(make_siret(siren, 12)), admin_input())
    before = await snapshot()
    with pytest.raises(ValidationError, match="déjà enregistré"):
        await orgs.register_organisation(ctx_of(operator), org_input(make_siret(siren, 12)), admin_input())
    with pytest.raises(ValidationError, match="structure unique"):
        await orgs.register_organisation(ctx_of(operator), org_input(make_siret(siren, 13)), admin_input())
    assert await snapshot() == before


async def test_structures_multiples_share_a_siren_and_are_grouped(operator):
    siren = make_siren(903)
    for nic, name in ((12, "Agence Nord"), (13, "Agence Sud")):
        await orgs.register_organisation(
            ctx_of(operator), org_input(make_siret(siren, nic), raison_sociale=name, structure_type="multiple"),
            admin_input(email=f"admin{nic}@example.fr"),
        )
    groups = await orgs.list_organisations(ctx_of(operator))
    group = next(g for g in groups if g.siren == siren)
    assert [o.raison_sociale for o in group.organisations] == ["Agence Nord", "Agence Sud"]
    assert all(o.principal_id for o in group.organisations)
    found = await orgs.list_organisations(ctx_of(operator), "agence sud")
    assert [o.raison_sociale for g in found for o in g.organisations] == ["Agence Sud"]


async def test_principal_admin_lists_only_its_organisation(db):
    org = await make_organisation()
    await make_organisation()
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    groups = await orgs.list_organisations(ctx_of(admin))
    assert [o.id for g in groups for o in g.organisations] == [org.id]


async def test_add_establishment_needs_the_same_siren_and_the_right_scope(db):
    org = await make_organisation()
    other = await make_organisation()
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    other_principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=other)
    delegated = await make_account(Role.DELEGATED_ADMIN, organisation=org)
    good = make_siret(org.siren, 4321)
    before = await snapshot()
    with pytest.raises(ValidationError, match="même SIREN"):
        await orgs.add_establishment(ctx_of(principal), org.id, siret=make_siret(other.siren, 4321), name="Lyon")
    with pytest.raises(NotFound):
        await orgs.add_establishment(ctx_of(other_principal), org.id, siret=good, name="Lyon")
    with pytest.raises(PermissionDenied):
        await orgs.add_establishment(ctx_of(delegated), org.id, siret=good, name="Lyon")
    assert await snapshot() == before
    new_id = await orgs.add_establishment(ctx_of(principal), org.id, siret=good, name="Lyon", address="Lyon 3e")
    established = await Establishment.get(id=new_id)
    assert (established.organisation_id, established.is_head_office) == (org.id, False)
    with pytest.raises(ValidationError, match="déjà enregistré"):
        await orgs.add_establishment(ctx_of(principal), org.id, siret=good, name="Lyon bis")


async def test_replace_principal_deactivates_the_old_one_in_the_same_transaction(operator, frozen_clock):
    org = await make_organisation()
    old = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    new_id, identifier = await orgs.replace_principal(
        ctx_of(operator), org.id, admin_input(email="nouveau@example.fr"), expected_principal_id=old.id
    )
    old = await Account.get(id=old.id)
    assert old.status == AccountStatus.DEACTIVATED and old.deactivated_by_id == operator.id
    new = await Account.get(id=new_id)
    assert (new.role, new.status, new.identifier) == (Role.PRINCIPAL_ADMIN, AccountStatus.ACTIVE, identifier)
    event = await AuditEvent.get(action="principal.replace")
    assert event.before["identifier"] == old.identifier and event.after["identifier"] == identifier


async def test_only_operators_replace_a_principal(db):
    org = await make_organisation()
    old = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    before = await snapshot()
    with pytest.raises(PermissionDenied):
        await orgs.replace_principal(ctx_of(old), org.id, admin_input(), expected_principal_id=old.id)
    assert await snapshot() == before


async def test_database_refuses_a_second_active_principal(db):
    org = await make_organisation()
    await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    with pytest.raises(IntegrityError):
        await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    # A deactivated former principal does not count.
    await make_account(Role.PRINCIPAL_ADMIN, organisation=org, status=AccountStatus.DEACTIVATED)
    assert await Account.filter(organisation=org, role=Role.PRINCIPAL_ADMIN).count() == 2


async def test_two_racing_replacements_leave_exactly_one_active_principal(operator):
    org = await make_organisation()
    old = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    results = await asyncio.gather(
        orgs.replace_principal(ctx_of(operator), org.id, admin_input(email="a@example.fr"),
                               expected_principal_id=old.id),
        orgs.replace_principal(ctx_of(operator), org.id, admin_input(email="b@example.fr"),
                               expected_principal_id=old.id),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], Conflict)
    assert "changé entre-temps" in failures[0].message
    active = await Account.filter(organisation=org, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE)
    assert len(active) == 1


async def test_two_racing_first_designations_leave_exactly_one_active_principal(operator):
    org = await make_organisation()
    results = await asyncio.gather(
        *[orgs.replace_principal(ctx_of(operator), org.id, admin_input(email=f"p{i}@example.fr"),
                                 expected_principal_id=None) for i in range(3)],
        return_exceptions=True,
    )
    assert sum(isinstance(r, tuple) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, tuple))
    assert await Account.filter(organisation=org, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE).count() == 1


async def test_two_racing_registrations_of_one_siret_create_one_organisation(operator):
    siret = make_siret(make_siren(904), 12)
    results = await asyncio.gather(
        orgs.register_organisation(ctx_of(operator), org_input(siret), admin_input(email="x@example.fr")),
        orgs.register_organisation(ctx_of(operator), org_input(siret), admin_input(email="y@example.fr")),
        return_exceptions=True,
    )
    assert sum(isinstance(r, orgs.Registration) for r in results) == 1
    assert all(isinstance(r, CpfError) for r in results if not isinstance(r, orgs.Registration))
    assert await Organisation.filter(siret=siret).count() == 1
    assert await Account.filter(role=Role.PRINCIPAL_ADMIN).count() == 1


async def test_operators_create_operators_and_nobody_else_does(operator):
    new_id, identifier = await orgs.create_operator(
        ctx_of(operator), orgs.PersonInput(nom="Durand", prenom="Léa", email="lea.durand@cdc.example.fr",
                                           phone="01 58 50 00 00")
    )
    created = await Account.get(id=new_id)
    assert (created.role, created.organisation_id, created.identifier) == (Role.OPERATOR, None, identifier)
    admin = await make_account(Role.PRINCIPAL_ADMIN)
    before = await snapshot()
    with pytest.raises(PermissionDenied):
        await orgs.create_operator(ctx_of(admin), orgs.PersonInput(nom="X", prenom="Y", email="x@example.fr",
                                                                   phone="0600000000"))
    assert await snapshot() == before


async def test_two_raw_connections_cannot_both_commit_an_active_principal(db):
    """Below the services: two connections insert a principal for the same organisation at once."""
    org = await make_organisation()
    template = await make_staff(Role.PRINCIPAL_ADMIN, organisation=org, status=AccountStatus.DEACTIVATED)

    def copy_sql(columns: list[str], identifier: str, marker: str) -> str:
        values = [f"'{identifier}'" if c == "identifier" else "'active'" if c == "status" else c for c in columns]
        cols = ", ".join(columns)
        return f"INSERT INTO account ({cols}) SELECT {', '.join(values)} FROM account WHERE id = {marker}"

    if db.startswith("sqlite://"):
        import sqlite3

        path = db[len("sqlite://"):]
        first, second = sqlite3.connect(path, timeout=10), sqlite3.connect(path, timeout=10)
        try:
            columns = [row[1] for row in first.execute("PRAGMA table_info(account)") if row[1] != "id"]
            active = "SELECT COUNT(*) FROM account WHERE role='principal_admin' AND status='active'"
            assert first.execute(active).fetchone()[0] == 0 and second.execute(active).fetchone()[0] == 0
            first.execute(copy_sql(columns, "RACEAAA1", str(template.id)))
            first.commit()
            with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
                second.execute(copy_sql(columns, "RACEAAA2", str(template.id)))
        finally:
            first.close()
            second.close()
    else:
        import asyncpg

        first, second = await asyncpg.connect(db.replace("postgres://", "postgresql://")), \
            await asyncpg.connect(db.replace("postgres://", "postgresql://"))
        try:
            columns = [r["column_name"] for r in await first.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name='account' AND column_name<>'id'")]
            tx1, tx2 = first.transaction(), second.transaction()
            await tx1.start()
            await tx2.start()
            await first.execute(copy_sql(columns, "RACEAAA1", str(template.id)))
            racing = asyncio.ensure_future(second.execute(copy_sql(columns, "RACEAAA2", str(template.id))))
            await tx1.commit()  # the second insert waited on (or follows) this transaction's index entry
            with pytest.raises(asyncpg.UniqueViolationError):
                await racing
            await tx2.rollback()
        finally:
            await first.close()
            await second.close()
    assert await Account.filter(organisation=org, role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE).count() == 1
