"""The journal service: scope, filters, pages, and an export where no text becomes a formula."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openpyxl
import pytest

from cpf_tui.cli import main as cli_main
from cpf_tui.errors import PermissionDenied, ValidationError
from cpf_tui.services import audit, journal, xlsx_export
from cpf_tui.services.context import RequestContext
from cpf_tui.services.journal import JournalFilters
from models import AuditEvent, Profile, Role
from tests.factories import make_account, make_organisation


def ctx_of(account) -> RequestContext:
    return RequestContext(account_id=account.id)


async def _two_organisations(frozen_clock):
    org_a, org_b = await make_organisation("Alpha"), await make_organisation("Beta")
    admin_a = await make_account(Role.PRINCIPAL_ADMIN, organisation=org_a, identifier="ADMAAA")
    admin_b = await make_account(Role.PRINCIPAL_ADMIN, organisation=org_b, identifier="ADMBBB")
    operator = await make_account(Role.OPERATOR, identifier="OPECDC")
    await audit.record("account.create", actor=admin_a, target_type="Account", target_id=41, target_label="Claire Martin")
    frozen_clock.advance(days=1)
    await audit.record("account.deactivate", actor=admin_a, target_type="Account", target_id=42,
                       target_label="=HYPERLINK(\"http://x\")", before={"status": "active"}, after={"status": "deactivated"})
    frozen_clock.advance(days=1)
    await audit.record("account.create", actor=admin_b, target_type="Account", target_id=43, target_label="Paul Durand")
    await audit.record("organisation.register", actor=operator, target_type="Organisation", target_id=org_b.id,
                       target_label="Beta")
    return admin_a, admin_b, operator


async def test_administrator_sees_only_its_organisation(db, frozen_clock):
    admin_a, _, operator = await _two_organisations(frozen_clock)
    page = await journal.search(ctx_of(admin_a), JournalFilters())
    assert {row.target_label for row in page.rows} == {"Claire Martin", '=HYPERLINK("http://x")'}
    assert page.rows[0].seq > page.rows[1].seq  # newest first
    everything = await journal.search(ctx_of(operator), JournalFilters())
    assert everything.total == 4


async def test_gestionnaire_may_not_read_the_journal(db, frozen_clock):
    gestionnaire = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE)
    with pytest.raises(PermissionDenied):
        await journal.search(ctx_of(gestionnaire), JournalFilters())


async def test_filters_by_actor_action_target_and_period(db, frozen_clock):
    _, _, operator = await _two_organisations(frozen_clock)
    ctx = ctx_of(operator)
    assert (await journal.search(ctx, JournalFilters(actor="admb"))).total == 1
    assert (await journal.search(ctx, JournalFilters(action="account.create"))).total == 2
    assert (await journal.search(ctx, JournalFilters(action="désactivation"))).total == 1  # French label
    assert (await journal.search(ctx, JournalFilters(target="durand"))).total == 1
    assert (await journal.search(ctx, JournalFilters(target="42"))).total == 1
    day_two = (await journal.search(ctx, JournalFilters(date_from="16/01/2026", date_to="16/01/2026"))).rows
    assert [row.action for row in day_two] == ["account.deactivate"]
    assert (await journal.search(ctx, JournalFilters(date_from="2026-01-17"))).total == 2


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (JournalFilters(date_from="32/01/2026"), "n'existe pas"),
        (JournalFilters(date_to="demain"), "n'est pas une date"),
        (JournalFilters(date_from="17/01/2026", date_to="15/01/2026"), "précède"),
        (JournalFilters(actor="\x1b[31m"), "contrôle"),
    ],
)
async def test_bad_filters_get_a_french_message(db, frozen_clock, filters, message):
    operator = await make_account(Role.OPERATOR)
    with pytest.raises(ValidationError, match=message):
        await journal.search(ctx_of(operator), filters)


async def test_pages(db, frozen_clock):
    operator = await make_account(Role.OPERATOR)
    for index in range(7):
        await audit.record("test.event", actor_identifier=f"P{index}")
    first = await journal.search(ctx_of(operator), JournalFilters(), page=0, page_size=3)
    last = await journal.search(ctx_of(operator), JournalFilters(), page=9, page_size=3)
    assert (first.total, first.page_count, len(first.rows)) == (7, 3, 3)
    assert (last.page, len(last.rows)) == (2, 1)
    assert last.rows[0].seq == 1


async def test_export_keeps_text_as_text_and_is_audited(db, frozen_clock, tmp_path):
    admin_a, _, _ = await _two_organisations(frozen_clock)
    path, count = await journal.export_xlsx(ctx_of(admin_a), JournalFilters(), tmp_path / "journal.xlsx")
    assert count == 2
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=False))
    assert [c.value for c in rows[0]][:4] == ["N°", "Date et heure", "Acteur", "Action"]
    labels = {row[8].value: row[8] for row in rows[1:]}
    formula_like = labels['=HYPERLINK("http://x")']
    assert formula_like.data_type == "s" and formula_like.quotePrefix
    export_event = await AuditEvent.filter(action="audit.export").first()
    assert export_event is not None and export_event.after["lignes"] == 2
    assert export_event.organisation_id == admin_a.organisation_id


@pytest.mark.parametrize("value", ["=1+1", "+33 6 12", "-2+3", "@SUM(A1:A2)", "\tcalc", "\rcmd", "#N/A", "=A1"])
def test_writer_never_writes_a_formula(tmp_path, value):
    path = xlsx_export.write_workbook(
        tmp_path / "x.xlsx", [xlsx_export.SheetData("Feuille", ["Valeur"], [[value], [12]])]
    )
    sheet = openpyxl.load_workbook(path).active
    cell = sheet["A2"]
    assert cell.data_type == "s"
    assert cell.value.strip("\r\n") == value.strip("\r\n")
    assert sheet["A3"].value == 12
    with open(path, "rb") as handle:
        import zipfile

        xml = zipfile.ZipFile(handle).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and 't="e"' not in xml


def test_writer_refuses_other_extensions(tmp_path):
    with pytest.raises(ValidationError, match="xlsx"):
        xlsx_export.write_workbook(tmp_path / "x.csv", [])


def test_cli_export_writes_filtered_workbook(db_url, tmp_path, frozen_clock, monkeypatch, capsys):
    from cpf_tui import db as db_module

    async def fill():
        await db_module.open_database(db_url)
        try:
            await audit.record("login", actor_identifier="=cmd|'/c calc'!A0", outcome="failure")
            await audit.record("account.create", actor_identifier="ADMAAA")
        finally:
            await db_module.close_database()

    asyncio.run(fill())
    monkeypatch.setenv("CPF_TUI_DB_URL", db_url)
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    target = tmp_path / "export.xlsx"
    assert cli_main(["audit", "export", "-o", str(target), "--action", "login"]) == 0
    assert "1 événement(s)" in capsys.readouterr().out
    sheet = openpyxl.load_workbook(target).active
    assert sheet.max_row == 2
    assert sheet["C2"].value == "=cmd|'/c calc'!A0" and sheet["C2"].data_type == "s"
    assert cli_main(["audit", "export", "-o", str(target), "--du", "31/02/2026"]) == 1
    assert "n'existe pas" in capsys.readouterr().err


# -- French labels of the detail: every action code and before/after key the code writes ----------------
SOURCES = sorted((Path(__file__).parent.parent / "cpf_tui").rglob("*.py"))


def _audited_actions() -> set[str]:
    """Action codes written by `audit.record("…")`, `audit_action="…"` and the accounts' edit choice."""
    import re

    from cpf_tui.services import dossiers

    found: set[str] = {f"dossier.{action}" for action in dossiers.ACTIONS}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'audit\.record\(\s*"([a-z_]+\.[a-z_]+|login)"', text))
        found |= set(re.findall(r'audit_action(?:: str)? ?= ?"([a-z_.]+)"', text))
        for chosen in re.findall(r'action = "([a-z_]+\.[a-z_]+)" if .* else "([a-z_]+\.[a-z_]+)"', text):
            found |= set(chosen)
    return found


def _audited_keys() -> set[str]:
    """Keys of the before/after dictionaries written in the code (literals, `after.update(...)`, and the
    snapshot helpers every account, file and planning event uses)."""
    import ast
    from types import SimpleNamespace

    from cpf_tui.services import dossiers, planning
    from cpf_tui.services.audit import account_public_fields

    keys: set[str] = set()

    def literal_keys(node: ast.AST | None) -> None:
        if isinstance(node, ast.Dict):
            keys.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))

    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("record", "record_many", "record_batch"):
                    for keyword in node.keywords:
                        if keyword.arg in ("before", "after"):
                            literal_keys(keyword.value)
                if node.func.attr == "update" and isinstance(node.func.value, ast.Name) and node.func.value.id in (
                        "before", "after"):
                    keys.update(keyword.arg for keyword in node.keywords if keyword.arg)
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in ("before", "after") for t in targets):
                    literal_keys(node.value)
    class Anything(SimpleNamespace):
        """Any attribute a snapshot helper reads: None (dates, ids, texts alike)."""

        def __getattr__(self, name: str) -> None:
            return None

    keys |= set(account_public_fields(Anything()))
    keys |= set(dossiers._snapshot(Anything(status="validated")))
    keys |= set(planning._snapshot(Anything()))
    keys |= set(JournalFilters(actor="a", action="b", target="c", date_from="d", date_to="e").describe())
    return keys


def test_every_audited_action_and_key_has_a_french_label():
    actions, keys = _audited_actions(), _audited_keys()
    assert {"sandbox.build", "account.locked", "session.hangup", "account.edit_and_change_profile"} <= actions
    assert {"failed_attempts", "seed", "retry_after_seconds", "reserved_dif_minutes", "credited_minutes"} <= keys
    assert sorted(actions - set(journal.ACTION_LABELS)) == []
    assert sorted(keys - set(journal.FIELD_LABELS)) == []


@pytest.mark.parametrize("key, value, shown", [
    ("failed_attempts", 10, "10"), ("dif_total_minutes", 45 * 60 + 30, "45 h 30"), ("locked", False, "non"),
    ("start_date", "2027-06-30", "30/06/2027"), ("status", "deactivated", "Désactivé"), ("status", "closed", "Clos"),
    ("role", "principal_admin", "Administrateur principal"), ("profile", "cloture", "Clôture"),
    ("reason", "wrong_password", "mot de passe erroné"), ("reason", "Attestation [A12]", "Attestation [A12]"),
    ("temporary_password_expires_at", "2026-01-22T09:00:00+00:00", "22/01/2026 10:00"), ("phone", None, "—"),
])
def test_detail_values_are_written_for_a_reader(key, value, shown):
    assert journal.value_text(key, value) == shown


def test_detail_lines_never_show_a_raw_key():
    lines = journal.detail_lines({"failed_attempts": 3, "some_new_key": 1, "filtres": {"date_from": "01/01/2026"}})
    assert ("Échecs de connexion consécutifs", "3") in lines and ("Some new key", "1") in lines
    assert ("Filtres", "Du : 01/01/2026") in lines


def test_every_reason_a_session_ends_for_has_a_french_name():
    from cpf_tui.services import journal, sessions

    reasons = {value for name, value in vars(sessions).items() if name.startswith("END_")}
    assert {"logout", "hangup", "quit"} <= reasons
    assert reasons <= set(journal.CODE_LABELS)
