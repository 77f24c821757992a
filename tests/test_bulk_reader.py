"""The bulk import's own readers and writers give exactly what the slower reference gives: the lxml
sheet and shared-string readers what openpyxl reads, the batch audit chain what `record_many` chains,
the bulk row conversions what the fields' `to_db_value` give, the result rows what openpyxl would write."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpf_tui import clock
from cpf_tui.config import BulkSettings
from cpf_tui.services import bulk_workbook
from tests.bulk_hostile import MAIN_NS, write_parts
from tests.bulk_corpus import CASES

XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"),
    max_size=12,
).map(lambda text: "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20))
"""Texts XML can hold (the spreadsheet's own characters: accents, spaces, line breaks, emoji)."""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _cell_xml(kind: str, value: Any, ref: str) -> str:
    r = f' r="{ref}"' if ref else ""
    if kind == "inline":
        return f'<c{r} t="inlineStr"><is><t>{_escape(value)}</t></is></c>'
    if kind == "inline_spaced":
        return f'<c{r} t="inlineStr"><is><t xml:space="preserve">{_escape(value)}</t></is></c>'
    if kind == "inline_rich":
        return (f'<c{r} t="inlineStr"><is><r><t>{_escape(value)}</t></r>'
                f'<r><rPr><b/></rPr><t>{_escape(value[::-1])}</t></r></is></c>')
    if kind == "inline_comment":
        return f'<c{r} t="inlineStr"><is><t>{_escape(value)}<!-- note -->{_escape(value)}</t></is></c>'
    if kind == "inline_cdata":
        return f'<c{r} t="inlineStr"><is><t><![CDATA[{value.replace("]]>", "")}]]></t></is></c>'
    if kind == "shared":
        return f'<c{r} t="s"><v>{value}</v></c>'
    if kind == "number":
        return f"<c{r}><v>{value!r}</v></c>"
    if kind == "typed_number":
        return f'<c{r} t="n" s="0"><v>{value!r}</v></c>'
    if kind == "bool":
        return f'<c{r} t="b"><v>{len(value) % 2}</v></c>'
    if kind == "error":
        return f'<c{r} t="e"><v>#N/A</v></c>'
    if kind == "str":
        return f'<c{r} t="str"><v>{_escape(value)}</v></c>'
    if kind == "formula":
        return f"<c{r}><f>SUM(1,{len(value)})</f><v>3</v></c>"
    if kind == "empty":
        return f"<c{r}/>"
    return f'<c{r} t="inlineStr"/>'  # an inline string without its text


SHARED = ["Martin", " espacé ", "é<&>\"", "ligne\nsuivante", "x005F_préfixe", ""]
SHARED_XML = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN_NS}">'
    + "".join(f"<si><t>{_escape(text)}</t></si>" for text in SHARED)
    + '<si><r><t>Ri</t></r><r><rPr><b/></rPr><t>che</t></r><rPh sb="0" eb="1"><t>ふ</t></rPh></si>'
    + "<si><t/></si></sst>"
)
CELL = st.one_of(
    st.tuples(st.sampled_from(["inline", "inline_spaced", "inline_rich", "inline_comment", "inline_cdata", "str"]),
              XML_TEXT),
    st.tuples(st.just("shared"), st.integers(0, len(SHARED) + 1)),
    st.tuples(st.sampled_from(["number", "typed_number"]),
              st.one_of(st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False))),
    st.tuples(st.sampled_from(["bool", "error", "formula", "empty", "bare_inline"]), XML_TEXT),
)
ROW = st.tuples(st.integers(0, 3), st.booleans(), st.lists(st.tuples(st.integers(0, 2), st.booleans(), CELL), max_size=6))
"""(rows skipped before it, numbered or not, cells: (columns skipped before it, referenced or not, cell))."""


def _sheet(rows: list[Any], dimension: bool) -> str:
    """A sheet of `ROW`s: numbered rows and referenced cells where drawn, gaps included (whatever the
    layout, both readers must agree on it)."""
    out, number = [], 0
    for gap, numbered, cells in rows:
        number += gap + 1
        column, parts = 0, []
        for skip, referenced, (kind, value) in cells:
            column += skip + 1
            parts.append(_cell_xml(kind, value, f"{chr(64 + column)}{number}" if referenced else ""))
        attribute = f' r="{number}"' if numbered else ""
        out.append(f"<row{attribute}>{''.join(parts)}</row>")
    size = '<dimension ref="A1:D6"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}">{size}'
            f'<sheetData>{"".join(out)}</sheetData></worksheet>')


def _cells(rows: Any) -> list[list[tuple[str, Any, str]]]:
    """Each cell's value (with its type: True is not 1) and data type."""
    return [[(type(cell.value).__name__, cell.value, cell.data_type) for cell in row] for row in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, max_size=6), dimension=st.booleans())
def test_lxml_sheet_reader_gives_the_cells_openpyxl_gives(tmp_path_factory, rows, dimension):
    from openpyxl import load_workbook

    path = write_parts(tmp_path_factory.mktemp("cells") / "cells.xlsx", [_sheet(rows, dimension).encode()],
                       [SHARED_XML.encode()])
    for max_col in (None, 2, 8):
        book = load_workbook(path, read_only=True)
        try:
            theirs: Any = _cells(book.active.iter_rows(max_col=max_col))
        except Exception as exc:  # noqa: BLE001 - a cell openpyxl cannot read (a shared string out of range)
            theirs = type(exc)
        try:
            ours: Any = _cells(bulk_workbook._iter_rows(book.active, max_col, fast=True))
        except Exception as exc:  # noqa: BLE001
            ours = type(exc)
        book.close()
        assert ours == theirs, max_col


def test_lxml_shared_strings_are_openpyxl_s():
    from openpyxl.reader.strings import read_string_table

    assert bulk_workbook._read_shared_strings(io.BytesIO(SHARED_XML.encode())) == read_string_table(
        io.BytesIO(SHARED_XML.encode())
    )


@pytest.mark.parametrize(("head", "plain"), [
    (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet>', True),
    (b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?><worksheet>", True),
    (b"<worksheet>", True),
    (b'<?xml version="1.0"?><!-- x --><worksheet>', True),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><worksheet>', False),
    (b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "b">]><worksheet>', False),
    ("<?xml version='1.0' encoding='UTF-16'?><worksheet>".encode("utf-16"), False),
    (b"  <worksheet>", False),
])
def test_only_plain_utf8_parts_without_doctype_are_read_by_lxml(head, plain):
    assert bulk_workbook._plain_xml(head) is plain


def _parsed(path: Path, settings: Any, slow: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        if slow:  # every part read by openpyxl, as before the lxml readers
            patch.setattr(bulk_workbook, "_plain_xml", lambda head: False)
        parsed = bulk_workbook.parse_workbook(path, settings)
    return parsed.rows, parsed.errors, parsed.notices, parsed.data_rows, parsed.sha256


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_corpus_reads_the_same_with_lxml_and_with_openpyxl(case, world, tmp_path, monkeypatch):
    path = tmp_path / f"{case.name}.xlsx"
    built = case.build(path, world)
    if hasattr(built, "__await__"):
        await built
    assert _parsed(path, case.settings, False, monkeypatch) == _parsed(path, case.settings, True, monkeypatch)


def _shared_strings_book(path: Path, rows: list[list[Any]]) -> Path:
    """A workbook as Excel saves it: texts in the shared-string table, numbers and dates styled."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Habilitations"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(buffer)
    sheet_xml = source.read("xl/worksheets/sheet1.xml").decode()
    strings: list[str] = []
    import re

    def shared(match: re.Match[str]) -> str:
        text = match.group(2)
        if text not in strings:
            strings.append(text)
        return f'<c r="{match.group(1)}" t="s"><v>{strings.index(text)}</v></c>'

    sheet_xml = re.sub(r'<c r="([A-Z]+\d+)" t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>',
                       shared, sheet_xml)
    sst = f'<sst xmlns="{MAIN_NS}">' + "".join(f'<si><t xml:space="preserve">{t}</t></si>' for t in strings) + "</sst>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            elif member.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            elif member.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.'
                                    b'org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    b"</Relationships>")
            target.writestr(member, data)
        target.writestr("xl/sharedStrings.xml", sst)
    return path


async def test_shared_strings_numbers_and_dates_read_the_same_with_lxml_and_with_openpyxl(tmp_path, monkeypatch):
    from tests.bulk_support import HEADER, valid_rows

    rows = valid_rows(40)
    rows[3][0] = datetime(2026, 3, 1)
    rows[4][3] = 612341056
    rows[5][6] = 73282932000074
    rows[6][1] = " Léa & <Zoé> "
    rows[7][2] = "=1+1"
    path = _shared_strings_book(tmp_path / "shared.xlsx", [HEADER, *rows])
    assert b"sharedStrings" in zipfile.ZipFile(path).read("[Content_Types].xml")
    fast = _parsed(path, None, False, monkeypatch)
    assert fast == _parsed(path, None, True, monkeypatch)
    assert any("une date" in error.reason for error in fast[1])


async def test_libreoffice_fixture_reads_the_same_with_lxml_and_with_openpyxl(monkeypatch):
    path = Path(__file__).parent / "fixtures" / "habilitation-libreoffice.xlsx"
    fast = _parsed(path, None, False, monkeypatch)
    assert fast == _parsed(path, None, True, monkeypatch)
    assert fast[0]


@pytest.mark.parametrize(("damage", "expected"), [
    (b"<oops></sheetData>", "corrompu"),  # openpyxl's load reads it: damaged, whatever else is wrong
    (b"</sheetData><oops>", "fusionnées"),  # after the rows: the load stops before it
])
@pytest.mark.parametrize("block", [7, 1 << 20], ids=["end-tag-cut-between-blocks", "one-block"])
def test_a_malformed_sheet_without_dimension_is_judged_as_openpyxl_judges_it(
    tmp_path, monkeypatch, damage, expected, block
):
    """openpyxl parses a sheet without `<dimension>` up to the end of its rows while loading: damage
    there makes the workbook corrupt before its merged cells are looked at, with lxml as before."""
    from tests.bulk_hostile import sheet_xml, valid_inline_rows

    body = b"".join(sheet_xml(valid_inline_rows(40)))
    body = body.replace(b"</sheetData>", damage + b'<mergeCells><mergeCell ref="A2:B2"/></mergeCells>')
    path = write_parts(tmp_path / "bad.xlsx", [body])
    monkeypatch.setattr(bulk_workbook, "_BLOCK", block)
    fast = _parsed(path, None, False, monkeypatch)
    assert fast == _parsed(path, None, True, monkeypatch)
    assert expected in fast[1][0].reason


def test_a_sheet_with_an_entity_declaration_is_read_by_openpyxl(tmp_path, monkeypatch):
    from tests.bulk_hostile import sheet_xml, valid_inline_rows

    body = b"".join(sheet_xml(valid_inline_rows(40)))
    body = body.replace(b"\n<worksheet", b'\n<!DOCTYPE worksheet [<!ENTITY nom "Martin">]><worksheet', 1)
    body = body.replace(b"<t>Martin</t>", b"<t>&nom;</t>")
    path = write_parts(tmp_path / "entity.xlsx", [body])
    calls: list[bytes] = []
    real = bulk_workbook._plain_xml
    monkeypatch.setattr(bulk_workbook, "_plain_xml", lambda head: calls.append(head) or real(head))
    parsed = bulk_workbook.parse_workbook(path)
    assert calls and not real(calls[0])
    assert not parsed.errors and parsed.rows[0].nom == "Martin"


async def test_batch_chain_gives_record_many_s_rows(db, monkeypatch):
    from cpf_tui.services import audit

    start = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
    ticks = iter(range(10**6))
    monkeypatch.setattr(clock, "_now", lambda: start + timedelta(microseconds=next(ticks)))
    events = [
        audit._event_values("account.create", actor_identifier="cli", target_type="Account", target_id=i,
                            target_label=f"Léa Zoé {i}", organisation_id=3, establishment_id=(i % 3) or None,
                            after={"nom": "Dupré", "n": i, "actif": True, "vide": None, "liste": [1, "é"]})
        for i in range(1, 40)
    ]
    key = SimpleNamespace(secret=b"k" * 32, keyed_from=20)
    expected = list(audit._chain(events, 10, "a" * 64, key))
    ticks = iter(range(10**6))
    assert list(audit._batch_chain(events, 10, "a" * 64, key)) == expected


async def test_bulk_conversions_are_the_fields_own(db):
    from cpf_tui.services.rows import _converter
    from models import Account, AuditEvent

    after = AuditEvent._meta.fields_map["after"]
    at = AuditEvent._meta.fields_map["at"]
    expires = Account._meta.fields_map["temp_password_expires_at"]
    for value in ({"é": "ü", "n": 1, "l": [None, True]}, [1, "x"], None, '{"déjà": "json"}'):
        assert _converter(after)(value) == after.to_db_value(value, None)
    moment = datetime(2026, 1, 15, 9, 0, 1, 5, tzinfo=timezone.utc)
    for field in (at, expires):
        assert _converter(field)(moment) is field.to_db_value(moment, None)
        assert _converter(field)(None) == field.to_db_value(None, None)


def _reference_row_parts(rows: Any, letters: list[str], quoted: str, first_row: int) -> Any:
    """The result rows as written before the cell cache (one rendering per value)."""
    from cpf_tui.services.result_book import _XML_ESCAPES, FORMULA_TRIGGERS, _clean

    for number, row in enumerate(rows, start=first_row):
        cells = []
        for letter, value in zip(letters, row):
            ref = f"{letter}{number}"
            if isinstance(value, str):
                text = _clean(value)
                style = quoted if text.startswith(FORMULA_TRIGGERS) else ""
                if not text:
                    cells.append(f'<c r="{ref}"{style} t="inlineStr"></c>')
                    continue
                space = ' xml:space="preserve"' if text != text.strip() else ""
                cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text.translate(_XML_ESCAPES)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}" t="n"><v>{value}</v></c>')
        yield f'<row r="{number}">{"".join(cells)}</row>'


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.one_of(XML_TEXT, st.sampled_from(["=SOMME(A1)", "+33", " x ", "", "Gestionnaire"]),
                                   st.integers(0, 10**6)), min_size=3, max_size=3), max_size=30))
def test_result_rows_with_the_cell_cache_are_the_rows_written_one_by_one(rows):
    from cpf_tui.services import result_book

    letters = ["A", "B", "C"]
    expected = list(_reference_row_parts(rows, letters, ' s="1"', 3))
    assert list(result_book._row_parts(rows, letters, ' s="1"', 3)) == expected
    with pytest.MonkeyPatch.context() as patch:  # the cache emptied when full keeps the same output
        patch.setattr(result_book, "_CELL_CACHE_SIZE", 2)
        assert list(result_book._row_parts(rows, letters, ' s="1"', 3)) == expected


_EVERY_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(c|row|sheetData|mergeCell|dimension)\b([^>]*)")


def _scan_tag_by_tag(data: bytes, limit_cells: int, max_row_cells: int, max_row_bytes: int) -> Any:
    """The sheet scan as one pass over every tag of the whole part: what `_scan_sheet` must find."""
    merged, late, started, cells, row_cells, row_start = [], False, False, 0, 0, None

    def row_ended(at: int) -> None:
        if row_start is not None and at - row_start > max_row_bytes:
            raise bulk_workbook.WorkbookTooLarge("octets")

    try:
        for match in _EVERY_TAG.finditer(data):
            closing, name = match.group(1), match.group(2)
            if name == b"c":
                if not closing:
                    cells, row_cells = cells + 1, row_cells + 1
                    if cells > limit_cells:
                        raise bulk_workbook.WorkbookTooLarge("cellules")
                    if row_cells > max_row_cells:
                        raise bulk_workbook.WorkbookTooLarge("ligne")
            elif name == b"row":
                if not closing:
                    row_ended(match.start())
                    row_start, row_cells = match.start(), 0
            elif name == b"sheetData":
                if closing:
                    row_ended(match.start())
                    row_start = None
                else:
                    started = True
            elif name == b"dimension":
                late = late or started
            elif not closing and (ref := re.search(rb'\bref="([A-Z0-9:]+)"', match.group(3))):
                merged.append(ref.group(1).decode())
        row_ended(len(data))
    except bulk_workbook.WorkbookTooLarge as exc:
        return str(exc)
    return merged, late


_PLAIN_SCAN_CELLS = ['<c r="A{n}" t="inlineStr"><is><t>x</t></is></c>', "<c><v>1</v></c>", "<c/>", "<col/>",
                     "<cx>texte</cx>", '<c\n s="1"><v>{pad}</v></c>', "<!-- <c> -->", '<c\tr="C{n}"/>']
_PREFIXED_SCAN_CELLS = ['<x:c r="B{n}"/>', '<c:c t="s"><v>0</v></c:c>']
_SCAN_ROW = st.tuples(st.lists(st.sampled_from(_PLAIN_SCAN_CELLS + _PREFIXED_SCAN_CELLS), max_size=7),
                      st.sampled_from(["row", "x:row", "c:row"]), st.integers(0, 300))
_PLAIN_SCAN_ROW = st.tuples(st.lists(st.sampled_from(_PLAIN_SCAN_CELLS), max_size=7), st.just("row"),
                            st.integers(0, 300))


@settings(max_examples=300, deadline=None)
@given(prefixes=st.sampled_from(["", ' xmlns:x="{ns}" xmlns:c="{ns}"', "late"]), data=st.data(), merge=st.booleans(),
       late=st.booleans(), block=st.integers(16, 1500), limit=st.integers(1, 60), per_row=st.integers(1, 8),
       row_bytes=st.integers(100, 2500))
def test_the_sheet_scan_counts_what_a_tag_by_tag_pass_counts(prefixes, data, merge, late, block, limit, per_row,
                                                             row_bytes):
    """Cells counted row by row, in blocks of any size, with or without namespace prefixes (declared on
    the root, or on a row far into the part): the same caps, messages, merged ranges and late dimension
    as one pass over every tag."""
    rows = data.draw(st.lists(_PLAIN_SCAN_ROW if prefixes == "" else _SCAN_ROW, max_size=14))
    if prefixes == "late":  # every prefix declared on the first prefixed row
        declared, prefixes = False, ""
        for index, (cells, tag, pad) in enumerate(rows):
            if not declared and (":" in tag or any(":" in cell for cell in cells)):
                rows[index] = (cells, tag + f' xmlns:x="{MAIN_NS}" xmlns:c="{MAIN_NS}"', pad)
                declared = True
    body = "".join(
        f"<{tag}>" + "".join(cell.format(n=n, pad="9" * pad) for cell in cells) + f"</{tag.split()[0]}>"
        for n, (cells, tag, pad) in enumerate(rows, start=1)
    )
    xml = (f'<worksheet xmlns="{MAIN_NS}"{prefixes.format(ns=MAIN_NS)}><sheetData>{body}</sheetData>'
           + ('<dimension ref="A1"/>' if late else "")
           + ('<mergeCells><mergeCell ref="A1:B2"/></mergeCells>' if merge else "") + "</worksheet>").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk_workbook, "_SCAN_BLOCK", block)
        patch.setattr(bulk_workbook, "max_cells", lambda _bulk: limit)
        patch.setattr(bulk_workbook, "MAX_CELLS_PER_ROW", per_row)
        patch.setattr(bulk_workbook, "MAX_ROW_BYTES", row_bytes)
        expected = _scan_tag_by_tag(xml, limit, per_row, row_bytes)
        try:
            scan = bulk_workbook._scan_sheet(zipfile.ZipFile(buffer), "/xl/worksheets/sheet1.xml", BulkSettings())
        except bulk_workbook.WorkbookTooLarge as exc:
            assert isinstance(expected, str), (str(exc), expected)
            assert _SCAN_MESSAGES[expected] in str(exc)
        else:
            assert (scan.merged, scan.late_dimension) == expected


_SCAN_MESSAGES = {"cellules": "Le classeur contient plus de", "ligne": "Une ligne du classeur contient",
                  "octets": "Une ligne du classeur occupe"}


def test_a_prefix_declared_across_two_blocks_is_seen_before_its_cells_are_counted():
    xml = (f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c/></row>'
           f'<row r="2" xmlns:x="{MAIN_NS}"><x:c/><x:c/><x:c/></row></sheetData></worksheet>').encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    for block in range(xml.index(b"xmlns:x") + 1, xml.index(b"xmlns:x") + 6):  # "xmlns:" cut in two
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bulk_workbook, "_SCAN_BLOCK", block)
            patch.setattr(bulk_workbook, "MAX_CELLS_PER_ROW", 2)
            with pytest.raises(bulk_workbook.WorkbookTooLarge, match="Une ligne du classeur contient"):
                bulk_workbook._scan_sheet(zipfile.ZipFile(buffer), "/xl/worksheets/sheet1.xml", BulkSettings())
