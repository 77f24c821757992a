"""Training sandbox and reference data: valid, consistent, deterministic, and usable by keyboard."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import zxcvbn
from stdnum.fr import nir as nir_mod
from stdnum.fr import siren as siren_mod
from stdnum.fr import siret as siret_mod
from textual.widgets import DataTable, Static

from cpf_tui import db as db_module
from cpf_tui.app import make_app
from cpf_tui.config import Settings
from cpf_tui.hours import Reservation, reservation_split
from cpf_tui.services import passwords, reference, sandbox
from cpf_tui.services.identifiers import ALPHABET, LENGTH
from cpf_tui.services.ledger import check_ledger
from models import (
    Account,
    AccountStatus,
    CguVersion,
    Dossier,
    DossierStatus,
    Establishment,
    Holder,
    HoursMovement,
    Organisation,
    PlanningMilestone,
    Role,
    StructureType,
)
from screens.home import HomeScreen
from screens.login import LoginScreen
from screens.training_accounts import TrainingAccountsModal
from tests.databases import dump_database
from tests.pilot import workers_done

@pytest.fixture(scope="module")
def built_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "sandbox.sqlite3"
    asyncio.run(sandbox.build_sandbox(f"sqlite://{path}"))
    return path


@pytest.fixture
async def sandbox_db(built_sandbox: Path, tmp_path: Path):
    """A copy of the built sandbox, open in Tortoise for this test."""
    target = tmp_path / "sandbox.sqlite3"
    shutil.copyfile(built_sandbox, target)
    url = f"sqlite://{target}"
    await db_module.open_database(url)
    try:
        yield url
    finally:
        await db_module.close_database()


# -- training accounts (no database) -------------------------------------------------------------
def test_training_accounts_are_fixed_valid_and_two_are_pending():
    rows = sandbox.training_accounts()
    identifiers = [row.identifier for row in rows]
    assert len(set(identifiers)) == len(rows) >= 10
    assert all(len(i) == LENGTH and set(i) <= set(ALPHABET) for i in identifiers)
    pending = [row for row in rows if row.state == "première connexion"]
    assert [(row.role_label, row.identifier) for row in pending] == [
        ("Administrateur principal", "PRNC4MTB"), ("Gestionnaire", "GSTN6NEW")]
    assert {row.state for row in rows} == {"actif", "première connexion"}
    assert {row.role_label for row in rows} == {"Opérateur CDC", "Administrateur principal",
                                                "Administrateur délégué", "Gestionnaire"}
    gestionnaire_profiles = {row.profile_label for row in rows if row.role_label == "Gestionnaire"}
    assert gestionnaire_profiles == {"Consultation", "Création", "Validation", "Clôture"}
    assert sandbox.training_accounts() == rows


def test_training_password_follows_the_cnil_floor():
    password = sandbox.TRAINING_PASSWORD
    assert len(password) >= 12
    assert re.search(r"[A-Z]", password) and re.search(r"[a-z]", password)
    assert re.search(r"\d", password) and re.search(r"[^A-Za-z0-9]", password)
    assert zxcvbn.zxcvbn(password)["score"] >= 3
    for spec in sandbox.ACCOUNTS:
        for forbidden in (spec.identifier, spec.nom, spec.prenom):
            assert forbidden.lower() not in password.lower()


def test_organisation_numbers_are_valid_and_structured_as_the_kit_says():
    unique, nantes, rennes = sandbox.ORGANISATIONS
    assert unique.structure == "unique" and len(unique.establishments) == 3
    assert nantes.structure == rennes.structure == "multiple"
    assert nantes.siren == rennes.siren and nantes.siret != rennes.siret
    for spec in sandbox.ORGANISATIONS:
        assert siren_mod.is_valid(spec.siren) and siret_mod.is_valid(spec.siret)
        assert spec.siret.startswith(spec.siren)


def test_plan_is_deterministic_and_follows_the_hours_rules():
    first, second = sandbox.make_plan(), sandbox.make_plan()
    assert first == second
    assert sandbox.make_plan(seed=7).holders[0].nir != first.holders[0].nir
    for holder in first.holders:
        assert nir_mod.is_valid(holder.nir)
        assert holder.cpf_acquired <= 150 * 60
        assert holder.dif_total <= 120 * 60
        assert holder.available >= 0
        assert all(m.minutes > 0 for m in holder.movements)
    for dossier in first.dossiers:
        assert 0 < dossier.requested_minutes <= 150 * 60
        assert siret_mod.is_valid(dossier.provider_siret)
    assert {d.status for d in first.dossiers} == {"draft", "validated", "closed"}
    assert any(d.done_minutes is not None and d.done_minutes < d.requested_minutes and d.closure_reason
               for d in first.dossiers)


def test_reservation_takes_dif_first():
    assert reservation_split(50 * 60, 20 * 60) == Reservation(20 * 60, 30 * 60)
    assert reservation_split(10 * 60, 20 * 60) == Reservation(10 * 60, 0)
    assert reservation_split(10 * 60, 0) == Reservation(0, 10 * 60)


# -- reference data ------------------------------------------------------------------------------
def test_kit_dates_are_parsed_where_possible():
    assert reference.parse_kit_date("17-11-2014") == date(2014, 11, 17)
    assert reference.parse_kit_date("11-2014") == date(2014, 11, 1)
    assert reference.parse_kit_date("02-2015", end=True) == date(2015, 2, 28)
    assert reference.parse_kit_date("Sous 8 jours") is None
    assert reference.parse_kit_date("") is None


async def test_reference_data_is_idempotent(db):
    assert await reference.load_reference_data() == {"cgu": 1, "planning": 9}
    assert await reference.load_reference_data() == {"cgu": 0, "planning": 0}
    cgu = await CguVersion.get(version=1)
    for needle in ("Objet", "Identifiant", "confidentialit", "RGPD", "Responsabilit", "CPF-gestion@caissedesdepots.fr"):
        assert needle in cgu.text
    lines = await PlanningMilestone.all().order_by("position")
    assert len(lines) == 9
    assert lines[2].action == "Création organismes et administrateurs principaux"
    assert (lines[2].responsible, lines[2].start_date, lines[2].end_date) == ("CDC", date(2014, 11, 17),
                                                                            date(2014, 12, 31))
    assert (lines[1].end_text, lines[1].end_date) == ("Sous 8 jours", None)
    assert lines[7].end_date == date(2015, 2, 28)


# -- the built database --------------------------------------------------------------------------
async def test_sandbox_rows_and_ledger_are_consistent(sandbox_db):
    assert await Organisation.all().count() == 3
    assert await Holder.all().count() == sandbox.HOLDER_COUNT
    assert await check_ledger() == []
    for status in DossierStatus:
        assert await Dossier.filter(status=status).count() == sandbox.DOSSIERS_PER_STATE
    unique = await Organisation.get(structure_type=StructureType.UNIQUE)
    establishments = await Establishment.filter(organisation=unique)
    assert len(establishments) == 3 and sum(e.is_head_office for e in establishments) == 1
    assert all(e.siret[:9] == unique.siren and siret_mod.is_valid(e.siret) for e in establishments)
    multiples = await Organisation.filter(structure_type=StructureType.MULTIPLE)
    assert len({o.siren for o in multiples}) == 1 and len(multiples) == 2
    for organisation in await Organisation.all():
        assert await Account.filter(organisation=organisation, role=Role.PRINCIPAL_ADMIN,
                                    status=AccountStatus.ACTIVE).count() == 1
    delegated = await Account.filter(identifier__in=["ADMD2SEC", "ADMD3SEC"]).prefetch_related("establishment")
    assert all(not a.establishment.is_head_office for a in delegated)
    for holder in await Holder.all():
        assert nir_mod.is_valid(holder.nir)
        assert holder.search_name == holder.search_name.upper() and "É" not in holder.search_name
    for dossier in await Dossier.filter(status=DossierStatus.VALIDATED).prefetch_related("holder"):
        assert dossier.reserved_dif_minutes + dossier.reserved_cpf_minutes == dossier.requested_minutes
        if dossier.reserved_cpf_minutes:
            assert dossier.holder.dif_available_minutes == 0  # DIF first
    assert await HoursMovement.filter(minutes__lt=0).count() == 0


async def test_ledger_history_is_dated_like_what_it_records(sandbox_db):
    from datetime import datetime, timezone

    end_of_today = datetime.combine(sandbox.SANDBOX_TODAY, datetime.max.time(), timezone.utc)
    for movement in await HoursMovement.all().prefetch_related("dossier"):
        assert movement.created_at <= end_of_today
        if movement.kind == "cpf_acquisition":
            assert (movement.created_at.year, movement.created_at.month) == (movement.reference_year + 1, 1)
        elif movement.kind == "dif_setting":
            assert movement.created_at < datetime(2021, 7, 1, tzinfo=timezone.utc)  # DIF recording deadline
        elif movement.kind == "reservation":
            assert movement.created_at == movement.dossier.validated_at
        else:
            assert movement.created_at == movement.dossier.closed_at


async def test_training_accounts_can_log_in(sandbox_db):
    active = await Account.get(identifier="GSTN4VAD")
    assert passwords.verify(active.password_hash, sandbox.TRAINING_PASSWORD)
    assert (active.password_is_temporary, active.cgu_version_accepted) == (False, 1)
    pending = await Account.get(identifier="PRNC4MTB")
    assert passwords.verify(pending.password_hash, sandbox.PENDING_TEMP_PASSWORD)
    assert pending.password_is_temporary is True and pending.cgu_version_accepted is None
    assert pending.temp_password_expires_at.year == 2099


async def test_seeding_a_non_empty_database_is_refused(sandbox_db):
    from cpf_tui.errors import ConfigError

    with pytest.raises(ConfigError, match="--reset"):
        await sandbox.seed()
    assert await Holder.all().count() == sandbox.HOLDER_COUNT


def test_two_builds_hold_the_same_data(built_sandbox: Path, tmp_path: Path):
    again = tmp_path / "again.sqlite3"
    asyncio.run(sandbox.build_sandbox(f"sqlite://{again}"))
    first, second = dump_database(built_sandbox), dump_database(again)
    assert len(first["holder"]) == sandbox.HOLDER_COUNT + 1
    assert first == second


# -- the app in training mode, by keyboard --------------------------------------------------------
def _sandbox_settings(url: str, tmp_path: Path) -> Settings:
    settings = Settings()
    settings.data_dir = str(tmp_path / "data")
    settings.database.url = url
    settings.sandbox = True
    return settings


async def test_training_account_logs_in_by_keyboard(sandbox_db, tmp_path):
    row = next(r for r in sandbox.training_accounts() if r.identifier == "GSTN4VAD")
    app = make_app(_sandbox_settings(sandbox_db, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query("SandboxBanner")
        await pilot.press(*row.identifier.lower(), "enter", *row.password, "enter")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.screen.query_one("#home-name", Static).content == "Camille Lambert"
        assert "Validation" in str(app.screen.query_one("#home-role", Static).content)


async def test_f3_shows_the_training_accounts_table(sandbox_db, tmp_path):
    app = make_app(_sandbox_settings(sandbox_db, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, TrainingAccountsModal)
        table = app.screen.query_one(DataTable)
        rows = sandbox.training_accounts()
        assert table.row_count == len(rows)
        for row in rows:  # six fields in three two-line columns (no horizontal scrolling at 80 columns)
            identity, role, organisation = (str(c) for c in table.get_row(row.identifier))
            assert identity.split("\n") == [row.identifier, row.password]
            assert role.split("\n") == [row.role_label, row.profile_label]
            assert organisation.split("\n")[-1] == row.state
            assert " ".join(organisation.split("\n")[:-1]) == row.organisation
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)


async def test_f3_does_nothing_outside_the_sandbox(db, settings):
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)


# -- README ----------------------------------------------------------------------------------------
README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_starts_with_the_two_set_up_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "```sh" and lines[3] == "```"
    assert [line.split("#")[0].strip() for line in lines[1:3]] == ["make run", "make test"]


def test_readme_training_table_matches_the_sandbox():
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| Identifiant | Mot de passe | Rôle | Profil | Organisme | État |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(tuple(cell.strip().strip("`") for cell in line.strip("|").split("|")))
    expected = [(r.identifier, r.password, r.role_label, r.profile_label, r.organisation, r.state)
                for r in sandbox.training_accounts()]
    assert rows == expected


def test_plan_is_the_same_in_another_process():
    """No dependence on hash randomisation: a reset on another day, in another process, gives the same data."""
    code = ("import hashlib; from cpf_tui.services.sandbox import make_plan; "
            "print(hashlib.sha256(repr(make_plan()).encode()).hexdigest())")
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(repr(sandbox.make_plan()).encode()).hexdigest()}


async def test_every_sandbox_account_has_the_services_search_key(sandbox_db):
    """The sandbox writes the same search key as the services (its site included: « lyon » finds GSTN4VAD)."""
    from cpf_tui.services.accounts import is_search_text_current, search_accounts
    from cpf_tui.services.context import RequestContext

    accounts = await Account.all().prefetch_related("establishment")
    assert len(accounts) >= 10
    stale = [a.identifier for a in accounts
             if not is_search_text_current(a, a.establishment.name if a.establishment else "")]
    assert stale == []
    principal = RequestContext(account_id=(await Account.get(identifier="PRNC2UNQ")).id)
    found = [row.identifier for row in await search_accounts(principal, "lyon")]
    assert "GSTN4VAD" in found
