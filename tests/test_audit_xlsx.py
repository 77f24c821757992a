"""Property test of the shared workbook writer: whatever the text, it is stored as text, never a formula."""

from __future__ import annotations

import zipfile

import openpyxl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cpf_tui.services import xlsx_export

texts = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(xlsx_export.FORMULA_TRIGGERS), st.text(max_size=30)).map("".join),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(texts, min_size=1, max_size=6))
@example(values=["\r\n", "a\r\nb", "x\rb"])
def test_any_text_is_stored_as_text(tmp_path, values):
    path = xlsx_export.write_workbook(
        tmp_path / "prop.xlsx", [xlsx_export.SheetData("Données", ["Valeur"], [[value] for value in values])]
    )
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and 't="e"' not in xml
    sheet = openpyxl.load_workbook(path).active
    for row, value in enumerate(values, start=2):
        cell = sheet.cell(row=row, column=1)
        expected = xlsx_export.clean_text(value)
        if expected == "":
            assert cell.value in (None, "")
            continue
        assert cell.data_type == "s"
        # Every character is kept: a carriage return is written `&#13;`, which XML does not turn into a
        # line feed on reading (a "\r\n" read back with its "\r" replaced failed as "\n\n").
        assert cell.value == expected
        assert bool(cell.quotePrefix) == xlsx_export.is_risky_text(expected)
