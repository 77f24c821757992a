"""Journal events carry their establishment: a delegated administrator reads and exports only its
establishment's events; migration 0004 fills the establishment of events written before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import openpyxl
import pytest

from cpf_tui import db as db_module
from cpf_tui.errors import AuthenticationFailed, NotFound
from cpf_tui.services import accounts, audit, auth, journal
from cpf_tui.services.context import RequestContext
from cpf_tui.services.journal import JournalFilters
from cpf_tui.services.organisations import PersonInput
from models import AuditEvent, Establishment, Profile, Role
from tests.factories import make_account, make_holder, make_organisation


async def _organisation_with_two_sites():
    organisation = await make_organisation("Réseau", secondary=2)
    head, lyon, marseille = await Establishment.filter(organisation=organisation).order_by("id")
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation, establishment=head)
    admin_lyon = await make_account(Role.DELEGATED_ADMIN, organisation=organisation, establishment=lyon)
    admin_marseille = await make_account(Role.DELEGATED_ADMIN, organisation=organisation, establishment=marseille)
    agent_marseille = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=organisation,
                                         establishment=marseille, identifier="AGTMRS22")
    return organisation, (head, lyon, marseille), principal, admin_lyon, admin_marseille, agent_marseille


async def test_a_delegated_administrator_reads_and_exports_only_its_establishment(db, frozen_clock, fast_argon2,
                                                                                 tmp_path):
    organisation, (head, lyon, marseille), principal, admin_lyon, admin_marseille, agent_marseille = (
        await _organisation_with_two_sites()
    )
    created = await accounts.create_account(
        RequestContext(account_id=admin_lyon.id), role="gestionnaire", profile="consultation",
        establishment_id=lyon.id, person=PersonInput(nom="Rhône", prenom="Léa", email="lea.rhone@example.fr"),
    )
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(agent_marseille.identifier, "Mauvais-mot-de-passe-1", RequestContext())
    holder = await make_holder()
    await audit.record("holder.update_contact", actor=admin_marseille, target=holder, after={"email": "x@y.fr"})
    await audit.record("organisation.edit", actor=principal, target=organisation, after={"address": "Paris"})

    events = {event.action: event for event in await AuditEvent.all()}
    assert events["account.create"].establishment_id == lyon.id
    assert events["login"].establishment_id == marseille.id  # the account the attempt was made on
    assert events["holder.update_contact"].establishment_id == marseille.id  # a holder: the actor's site
    assert events["organisation.edit"].establishment_id is None  # organisation-wide
    assert (await audit.verify_chain()).ok  # the establishment is covered by the chain

    lyon_page = await journal.search(RequestContext(account_id=admin_lyon.id), JournalFilters())
    assert {row.action for row in lyon_page.rows} == {"account.create"}
    assert [row.target_label for row in lyon_page.rows] == [f"Léa Rhône ({created.identifier})"]
    marseille_page = await journal.search(RequestContext(account_id=admin_marseille.id), JournalFilters())
    assert {row.action for row in marseille_page.rows} == {"login", "holder.update_contact"}
    with pytest.raises(NotFound):
        await journal.get_event(RequestContext(account_id=admin_lyon.id), events["login"].seq)
    principal_page = await journal.search(RequestContext(account_id=principal.id), JournalFilters())
    assert {row.action for row in principal_page.rows} == {"account.create", "login", "holder.update_contact",
                                                            "organisation.edit"}

    written, count = await journal.export_xlsx(RequestContext(account_id=admin_lyon.id), JournalFilters(),
                                               tmp_path / "journal-lyon.xlsx")
    assert count == 1
    sheet = openpyxl.load_workbook(written).active
    cells = " ".join(str(cell.value) for row in sheet.iter_rows() for cell in row)
    assert agent_marseille.identifier not in cells and "Paris" not in cells


async def test_a_delegated_administrator_without_establishment_reads_nothing(db, frozen_clock):
    organisation = await make_organisation(secondary=1)
    admin = await make_account(Role.DELEGATED_ADMIN, organisation=organisation)
    await admin.__class__.filter(id=admin.id).update(establishment_id=None)
    await audit.record("organisation.edit", actor=admin, target=organisation)
    await audit.record("holder.update_contact", actor=admin, target=await make_holder())
    assert (await journal.search(RequestContext(account_id=admin.id), JournalFilters())).total == 0


# -- migration 0004 -----------------------------------------------------------------------------------
_EVENT_COLUMNS = ("seq, at, actor_id, actor_identifier, organisation_id, action, outcome, target_type, target_id,"
                  " target_label, session_token, ssh_user, ssh_key_fingerprint, prev_hash, event_hash")


async def _migrate_to(url: str, target: str) -> None:
    from tortoise.context import TortoiseContext
    from tortoise.migrations.api import migrate

    db_module.forget_cached_statements()
    async with TortoiseContext():
        await migrate(config=db_module.tortoise_config(url), target=target)


async def test_migration_fills_the_establishment_of_earlier_events(tmp_path: Path):
    path = tmp_path / "avant-0004.sqlite3"
    url = f"sqlite://{path}"
    await _migrate_to(url, "models.0003_holder_feed")
    await db_module.open_database(url)
    try:
        organisation, (head, lyon, marseille), principal, admin_lyon, _admin_marseille, agent_marseille = (
            await _organisation_with_two_sites()
        )
    finally:
        await db_module.close_database()
    # Events as the previous version wrote them: no establishment column yet.
    written = [
        (admin_lyon.id, organisation.id, "account.edit", "Account", str(agent_marseille.id)),
        (admin_lyon.id, organisation.id, "holder.update_contact", "Holder", "7"),
        (principal.id, organisation.id, "organisation.edit", "Organisation", str(organisation.id)),
        (principal.id, organisation.id, "establishment.add", "Establishment", str(lyon.id)),
        (None, None, "login", "", ""),
        (principal.id, organisation.id, "dossier.delete", "Dossier", "999"),
    ]
    conn = sqlite3.connect(path)
    try:
        for seq, (actor_id, organisation_id, action, target_type, target_id) in enumerate(written, start=1):
            conn.execute(
                f"INSERT INTO audit_event ({_EVENT_COLUMNS}) VALUES (?, '2026-01-05 10:00:00+00:00', ?, '', ?, ?,"
                " 'ok', ?, ?, '', '', '', '', ?, ?)",
                (seq, actor_id, organisation_id, action, target_type, target_id, "0" * 64, "0" * 64),
            )
        conn.commit()
    finally:
        conn.close()

    assert (await db_module.migrate(url))[:1] == ["0004_audit_establishment"]  # and the later ones
    conn = sqlite3.connect(path)
    try:
        filled = dict(conn.execute("SELECT action, establishment_id FROM audit_event").fetchall())
    finally:
        conn.close()
    assert filled == {
        "account.edit": marseille.id,  # the target account's establishment
        "holder.update_contact": lyon.id,  # no organisation on a holder: the actor's
        "organisation.edit": None,
        "establishment.add": lyon.id,
        "login": None,
        "dossier.delete": None,  # the file is gone: its establishment is not known any more
    }
