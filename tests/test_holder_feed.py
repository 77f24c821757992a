"""The CDC feeds (holders, yearly hours) on SQLite and PostgreSQL: applied whole, idempotent, every bad
input refused in French with nothing changed."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError

from cpf_tui.errors import PermissionDenied, ValidationError
from cpf_tui.services import holder_feed
from cpf_tui.services.context import RequestContext
from cpf_tui.services.feed_files import MAX_LINE_BYTES
from cpf_tui.services.ledger import acquisition_for_year, check_ledger
from models import Bucket, Holder, HoursMovement, MovementKind, Role
from tests.factories import make_account
from tests.feed_helpers import (
    HOLDER_HEADER,
    HOURS_HEADER,
    audit_events,
    feed_state,
    holder_fields,
    holder_line,
    hours_line,
    valid_nir,
    write_feed,
)
from tests.holder_helpers import funded_holder

CLI = RequestContext(terminal="cli")
H = 60


async def load(path: Path, tmp_path: Path, **options) -> holder_feed.FeedResult:
    return await holder_feed.import_holders(path, ctx=CLI, report_dir=tmp_path / "rapports", as_system=True,
                                            **options)


async def credit(path: Path, tmp_path: Path, year: int = 2025, **options) -> holder_feed.FeedResult:
    return await holder_feed.credit_hours(path, year=year, ctx=CLI, report_dir=tmp_path / "rapports",
                                          as_system=True, **options)


def report_rows(result: holder_feed.FeedResult) -> list[list[str]]:
    assert result.report_path is not None
    with result.report_path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter=";"))


# -- holders -------------------------------------------------------------------------------------------
async def test_holders_are_created_then_the_same_file_changes_nothing(db, tmp_path):
    path = write_feed(tmp_path / "titulaires.csv", HOLDER_HEADER, [holder_line(i) for i in range(30)])
    seen = []
    first = await load(path, tmp_path, progress=seen.append)
    assert first.applied and (first.created, first.updated, first.unchanged) == (30, 0, 0)
    assert first.report_path is None and first.error_count == 0
    assert seen[-1].stage == "Terminé" and seen[-1].done == seen[-1].total == path.stat().st_size
    holder = await Holder.get(nir=valid_nir(3))
    assert (holder.nom_naissance, holder.prenoms, holder.mobile) == ("THOMAS", "Camille", "+33600000003")
    assert holder.search_name == "THOMAS" and holder.version == 1
    state = await feed_state()

    second = await load(path, tmp_path)
    assert second.applied and (second.created, second.updated, second.unchanged) == (0, 0, 30)
    assert "aucun changement" in second.summary()
    assert await feed_state() == state

    events = await audit_events("holder.feed")
    assert len(events) == 2  # one per run, not one per line
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert events[0].after["file_sha256"] == digest and events[0].after["created"] == 30
    assert events[1].after["unchanged"] == 30 and events[0].actor_identifier == "cli"


async def test_update_by_nir_changes_names_and_contact_an_empty_contact_keeps_the_stored_one(db, tmp_path):
    await load(write_feed(tmp_path / "a.csv", HOLDER_HEADER, [holder_line(1), holder_line(2)]), tmp_path)
    changed = [
        holder_line(1, usage="Lefèvre", email="nouvelle@exemple.fr", phone="07 61 22 33 44"),
        holder_line(2, email="", phone=""),
    ]
    result = await load(write_feed(tmp_path / "b.csv", HOLDER_HEADER, changed), tmp_path)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    first = await Holder.get(nir=valid_nir(1))
    assert (first.nom_usage, first.search_usage, first.email, first.mobile, first.version) == (
        "Lefèvre", "LEFEVRE", "nouvelle@exemple.fr", "+33761223344", 2)
    second = await Holder.get(nir=valid_nir(2))
    assert (second.email, second.mobile, second.version) == ("titulaire2@exemple.fr", "+33600000002", 1)


async def test_a_logged_in_gestionnaire_may_not_feed_but_an_operator_may(db, tmp_path):
    path = write_feed(tmp_path / "t.csv", HOLDER_HEADER, [holder_line(5)])
    gestionnaire = await make_account(Role.GESTIONNAIRE)
    with pytest.raises(PermissionDenied):
        await holder_feed.import_holders(path, ctx=RequestContext(account_id=gestionnaire.id),
                                         report_dir=tmp_path)
    assert await Holder.all().count() == 0
    operator = await make_account(Role.OPERATOR)
    result = await holder_feed.import_holders(path, ctx=RequestContext(account_id=operator.id), report_dir=tmp_path)
    assert result.created == 1
    assert (await audit_events("holder.feed"))[0].actor_id == operator.id


def _line(index: int, position: int, value: str) -> str:
    fields = holder_fields(index)
    fields[position] = value
    return ";".join(fields)


def _file(*lines: str) -> bytes:
    return ("\n".join([HOLDER_HEADER, *lines]) + "\n").encode()


BAD_HOLDER_FILES = {
    # name: (file bytes, line, column, reason fragment)
    "latin1": (f"{HOLDER_HEADER}\n{holder_line(1)}\n".encode("latin-1"), 1, "", "UTF-8"),
    "latin1_line": ((f"{HOLDER_HEADER}\n" + _line(1, 1, "LEFÈVRE") + "\n").encode("utf-8").replace(
        "È".encode(), "È".encode("latin-1")), 2, "", "Latin-1"),
    "bom": (b"\xef\xbb\xbf" + f"{HOLDER_HEADER}\n{holder_line(1)}\n".encode(), 1, "", "BOM"),
    "comma_header": (f"{HOLDER_HEADER.replace(';', ',')}\n{holder_line(1)}\n".encode(), 1, "",
                     "point-virgule (;) est attendu, l'en-tête utilise la virgule"),
    "comma_line": (f"{HOLDER_HEADER}\n{holder_line(1).replace(';', ',')}\n".encode(), 2, "", "point-virgule"),
    "missing_column": (f"{HOLDER_HEADER.rsplit(';', 1)[0]}\n{holder_line(1)}\n".encode(), 1, "",
                       "colonne(s) manquante(s) : téléphone"),
    "extra_column": (f"{HOLDER_HEADER};commentaire\n{holder_line(1)}\n".encode(), 1, "",
                     "colonne(s) en trop : commentaire"),
    "short_line": (f"{HOLDER_HEADER}\n{holder_line(1).rsplit(';', 1)[0]}\n".encode(), 2, "", "colonne manquante"),
    "long_line": (f"{HOLDER_HEADER}\n{holder_line(1)};en trop\n".encode(), 2, "", "colonne en trop"),
    "duplicate_nir": (f"{HOLDER_HEADER}\n{holder_line(1)}\n{holder_line(2)}\n{holder_line(1)}\n".encode(), 2, "NIR",
                      "NIR présent 2 fois dans le fichier"),
    "nir_key": (_file(_line(1, 0, valid_nir(1)[:13] + "00")), 2, "NIR",
                "clé de contrôle invalide"),
    "future_birth": (_file(_line(1, 4, "01/01/2099")), 2, "date de naissance",
                     "dans le futur"),
    "formula": (_file(_line(1, 1, "=HYPERLINK(\"http://x\")")), 2,
                "nom de naissance", "formule"),
    "formula_email": (_file(_line(1, 5, "@SUM(A1)")), 2, "courriel", "formule"),
    "escape": (_file(_line(1, 3, "Jean\x1b[2J")), 2, "prénoms",
               "caractères de contrôle"),
    "bidi": (_file(_line(1, 1, "MARTIN\u202eNITRAM")), 2, "nom de naissance",
             "bidirectionnels"),
    "huge_line": (f"{HOLDER_HEADER}\n{holder_line(1)}\n".encode() + b"X" * (MAX_LINE_BYTES * 3) + b"\n", 3, "",
                  f"plus de {MAX_LINE_BYTES} octets"),
    "empty": (b"", 1, "", "fichier vide"),
    "header_only": (f"{HOLDER_HEADER}\n".encode(), 2, "", "aucune ligne de données"),
    "bad_email": (_file(_line(1, 5, "pas-une-adresse")), 2, "courriel",
                  "adresse e-mail invalide"),
    "bad_name": (_file(_line(1, 1, "R2D2")), 2, "nom de naissance", "lettres"),
}


@pytest.mark.parametrize("case", list(BAD_HOLDER_FILES))
async def test_a_bad_holder_file_is_refused_in_french_and_changes_nothing(db, tmp_path, case):
    await load(write_feed(tmp_path / "avant.csv", HOLDER_HEADER, [holder_line(1, usage="Avant")]), tmp_path)
    before = await feed_state()
    content, line, column, reason = BAD_HOLDER_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)

    result = await load(path, tmp_path)

    assert not result.applied and "refusé" in result.summary() and "rien n'a été modifié" in result.summary()
    assert any(e.line == line and e.column == column and reason in e.reason for e in result.first_errors), \
        result.first_errors
    assert [line, column] in [row[:2] for row in report_rows(result)[1:]] or [str(line), column] in [
        row[:2] for row in report_rows(result)[1:]]
    assert await feed_state() == before
    assert (await audit_events("holder.feed"))[-1].outcome == "failure"


async def test_every_error_of_a_file_is_reported_at_once_and_shown_safely(db, tmp_path):
    lines = [
        _line(1, 1, "=1+1"),
        _line(2, 3, "Jean\x1b]0 titre\x07"),
        _line(3, 0, "123"),
        holder_line(4),
        _line(5, 4, "31/02/1980"),
    ]
    result = await load(write_feed(tmp_path / "t.csv", HOLDER_HEADER, lines), tmp_path)
    assert result.error_count == 4 and not result.applied
    rows = report_rows(result)
    assert rows[0] == ["ligne", "colonne", "valeur", "motif"]
    assert [row[:2] for row in rows[1:]] == [["2", "nom de naissance"], ["3", "prénoms"], ["4", "NIR"],
                                             ["6", "date de naissance"]]
    assert rows[1][2] == "'=1+1"  # never a formula when the report is opened in a spreadsheet
    assert "\x1b" not in result.report_path.read_text(encoding="utf-8") and "\\x1b" in rows[2][2]
    assert all("\x1b" not in line for line in result.describe())
    assert await Holder.all().count() == 0


async def test_ignoring_errors_applies_the_good_lines_and_reports_the_others(db, tmp_path):
    lines = [holder_line(1), _line(2, 0, "999"), holder_line(3), holder_line(1)]
    result = await load(write_feed(tmp_path / "t.csv", HOLDER_HEADER, lines), tmp_path, ignore_errors=True)
    assert result.applied and result.created == 1 and result.error_count == 3
    assert "3 ligne(s) en erreur ignorée(s)" in result.summary()
    assert sorted(await Holder.all().values_list("nir", flat=True)) == [valid_nir(3)]
    assert [row[0] for row in report_rows(result)[1:]] == ["2", "3", "5"]


# -- hours -----------------------------------------------------------------------------------------------
async def _holders(tmp_path: Path, count: int) -> None:
    await load(write_feed(tmp_path / "registre.csv", HOLDER_HEADER, [holder_line(i) for i in range(count)]),
               tmp_path)


async def test_hours_follow_the_ledger_rule_once_per_year_and_check_stays_clean(db, tmp_path, frozen_clock):
    await _holders(tmp_path, 4)
    near_threshold = await funded_holder(cpf_minutes=110 * H, nir=valid_nir(10), nom_naissance="PRES",
                                         search_name="PRES")
    lines = [hours_line(0, 2025), hours_line(1, 2025, ratio="50"), hours_line(2, 2025, hours="803,5"),
             hours_line(3, 2025, hours="2000"), hours_line(10, 2025, ratio="80")]
    path = write_feed(tmp_path / "heures.csv", HOURS_HEADER, lines)

    result = await credit(path, tmp_path)

    expected = [24 * H, 12 * H, 12 * H, 24 * H, acquisition_for_year(110 * H, 80)]
    assert result.applied and result.credited == 5 and result.credited_minutes == sum(expected)
    nirs = [valid_nir(i) for i in (0, 1, 2, 3, 10)]
    for nir, minutes in zip(nirs, expected):
        holder = await Holder.get(nir=nir)
        movement = await HoursMovement.get(holder_id=holder.id, reference_year=2025)
        assert movement.minutes == minutes and movement.kind == MovementKind.CPF_ACQUISITION
    near = await Holder.get(id=near_threshold.id)
    assert near.cpf_acquired_minutes == 110 * H + expected[-1] and near.version == near_threshold.version + 1
    assert (await HoursMovement.get(holder_id=near.id, reference_year=2025)).reason == "Acquisition 2025 (80 %)"
    assert await check_ledger() == []
    assert len(await audit_events("holder.hours_feed")) == 1

    before = await feed_state()
    again = await credit(path, tmp_path)  # the same year twice
    assert not again.applied and again.error_count == 5
    assert "déjà créditées" in again.first_errors[0].reason
    assert await feed_state() == before and await check_ledger() == []


async def test_the_database_refuses_a_second_acquisition_for_the_same_year(db):
    holder = await funded_holder()
    await HoursMovement.create(holder=holder, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF, minutes=60,
                               reference_year=2024, work_ratio_percent=100)
    with pytest.raises(IntegrityError):
        await HoursMovement.create(holder=holder, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF,
                                   minutes=60, reference_year=2024, work_ratio_percent=100)


async def test_a_holder_at_the_ceiling_gets_nothing_and_no_movement(db, tmp_path):
    holder = await funded_holder(cpf_minutes=150 * H, nir=valid_nir(7), nom_naissance="PLAFOND",
                                 search_name="PLAFOND")
    result = await credit(write_feed(tmp_path / "h.csv", HOURS_HEADER, [hours_line(7, 2025)]), tmp_path)
    assert result.applied and (result.credited, result.at_ceiling) == (0, 1)
    assert await HoursMovement.filter(holder_id=holder.id).count() == 1
    assert await check_ledger() == []


BAD_HOURS_LINES = {
    "unknown_nir": (lambda: hours_line(50, 2025), "NIR", "aucun titulaire"),
    "negative_ratio": (lambda: hours_line(1, 2025, ratio="-50"), "quotité", "négative"),
    "absurd_ratio": (lambda: hours_line(1, 2025, ratio="250"), "quotité", "absurde"),
    "absurd_hours": (lambda: hours_line(1, 2025, hours="9000"), "heures travaillées", "absurde"),
    "zero_ratio": (lambda: hours_line(1, 2025, ratio="0"), "quotité", "moins de 1 %"),
    "both": (lambda: f"{valid_nir(1)};2025;50;800", "quotité", "pas les deux"),
    "neither": (lambda: f"{valid_nir(1)};2025;;", "quotité", "renseignez"),
    "other_year": (lambda: hours_line(1, 2024), "année", "alimente l'année 2025"),
    "formula": (lambda: "=1+1;2025;100;", "NIR", "formule"),
    "nir_key": (lambda: f"{valid_nir(1)[:13]}00;2025;100;", "NIR", "clé de contrôle"),
}


@pytest.mark.parametrize("case", list(BAD_HOURS_LINES))
async def test_a_bad_hours_line_refuses_the_file_and_changes_nothing(db, tmp_path, case):
    await _holders(tmp_path, 3)
    before = await feed_state()
    make, column, reason = BAD_HOURS_LINES[case]
    path = write_feed(tmp_path / "h.csv", HOURS_HEADER, [hours_line(0, 2025), make(), hours_line(2, 2025)])
    result = await credit(path, tmp_path)
    assert not result.applied
    assert [(e.line, e.column) for e in result.first_errors] == [(3, column)], result.first_errors
    assert reason in result.first_errors[0].reason
    assert await feed_state() == before


async def test_the_same_holder_twice_in_an_hours_file_is_refused(db, tmp_path):
    await _holders(tmp_path, 2)
    before = await feed_state()
    lines = [hours_line(0, 2025), hours_line(1, 2025, ratio="50"), hours_line(0, 2025, ratio="80")]
    result = await credit(write_feed(tmp_path / "h.csv", HOURS_HEADER, lines), tmp_path)
    assert not result.applied and [e.line for e in result.first_errors] == [2, 4]
    assert await feed_state() == before


async def test_a_year_in_the_future_or_before_the_cpf_is_refused_before_reading(db, tmp_path, frozen_clock):
    path = write_feed(tmp_path / "h.csv", HOURS_HEADER, [])
    for year, words in ((frozen_clock().year + 1, "dans le futur"), (2014, "depuis 2015")):
        with pytest.raises(ValidationError) as error:
            await credit(path, tmp_path, year=year)
        assert words in error.value.message
    assert await audit_events("holder.hours_feed") == []


async def test_a_missing_file_gets_a_french_message(db, tmp_path):
    with pytest.raises(ValidationError) as error:
        await load(tmp_path / "absent.csv", tmp_path)
    assert "introuvable" in error.value.message


async def test_the_constraint_stops_a_second_credit_the_checks_did_not_see(db, tmp_path, monkeypatch):
    """As if another process credited the same year between the checks and the apply step."""
    from cpf_tui.errors import Conflict

    await _holders(tmp_path, 2)
    path = write_feed(tmp_path / "h.csv", HOURS_HEADER, [hours_line(0, 2025), hours_line(1, 2025)])
    await credit(path, tmp_path)
    before = await feed_state()

    async def checks_blind(staging, year):
        return None

    monkeypatch.setattr(holder_feed, "_hours_errors", checks_blind)
    with pytest.raises(Conflict) as error:
        await credit(path, tmp_path)
    assert "rien n'a été modifié" in error.value.message
    assert await feed_state() == before and await check_ledger() == []


async def test_a_balance_changed_after_the_join_stops_the_credit(db, tmp_path, monkeypatch):
    """As if a gestionnaire's change of a balance came between reading the holders and crediting them:
    the crediting statement skips that holder, the count no longer matches, nothing is applied."""
    from cpf_tui.errors import Conflict

    await _holders(tmp_path, 2)
    before = await feed_state()
    path = write_feed(tmp_path / "h.csv", HOURS_HEADER, [hours_line(0, 2025), hours_line(1, 2025)])
    original = holder_feed._hours_errors

    async def then_a_balance_moves(staging, year):
        await original(staging, year)
        await holder_feed._execute(staging.conn, "UPDATE holder SET cpf_acquired_minutes = cpf_acquired_minutes + 60 "
                                                 "WHERE nir = $1", [valid_nir(1)])

    monkeypatch.setattr(holder_feed, "_hours_errors", then_a_balance_moves)
    with pytest.raises(Conflict) as error:
        await credit(path, tmp_path)
    assert "soldes d'heures ont changé" in error.value.message
    assert await feed_state() == before and await check_ledger() == []
