"""The corpus of bad workbooks of the bulk tests: each case writes its file and says the French message
expected (used by tests/test_bulk_corpus.py, test_bulk_reader.py, test_bulk_chunks.py)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cpf_tui.config import BulkSettings
from tests.bulk_support import HEADER, BulkWorld, valid_rows, write_book
from tests.factories import make_organisation, make_siren, make_siret

ROWS = 35


@dataclass(frozen=True)
class Case:
    """One bad file: how to build it, the settings to use, the French words the report must hold."""

    name: str
    build: Callable[[Path, BulkWorld], Any]
    expected: str
    settings: BulkSettings | None = None


def rows_with(row_index: int, column: int, value: Any, count: int = ROWS) -> list[list[Any]]:
    rows = valid_rows(count)
    rows[row_index][column] = value
    return rows


def one_cell(row_index: int, column: int, value: Any) -> Callable[[Path, BulkWorld], Path]:
    """A case: valid rows but one cell (`rows_with`)."""

    def build(path: Path, _world: BulkWorld) -> Path:
        return write_book(path, rows_with(row_index, column, value))

    return build


def good_book(path: Path, _world: BulkWorld | None = None) -> Path:
    return write_book(path, valid_rows(ROWS))


def text_file(path: Path, _world: BulkWorld) -> Path:
    path.write_text("nom;prénom;e-mail\nMartin;Claire;claire@example.fr\n", encoding="utf-8")
    return path


def empty_file(path: Path, _world: BulkWorld) -> Path:
    path.write_bytes(b"")
    return path


def truncated_zip(path: Path, _world: BulkWorld) -> Path:
    good_book(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupted_sheet_data(path: Path, _world: BulkWorld) -> Path:
    good_book(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 10, start + min(info.compress_size, 400), 3):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def password_protected(path: Path, _world: BulkWorld) -> Path:
    """An encrypted OOXML file is a CFB container holding an EncryptionInfo stream."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    directory = "EncryptionInfo".encode("utf-16-le") + b"\x00" * 98 + "EncryptedPackage".encode("utf-16-le")
    path.write_bytes(header + directory + b"\x00" * 2048)
    return path


def legacy_xls(path: Path, _world: BulkWorld) -> Path:
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "Workbook".encode("utf-16-le") + b"\0" * 1024)
    return path


def plain_zip(path: Path, _world: BulkWorld) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "pas un classeur")
    return path


def zip_bomb(path: Path, _world: BulkWorld) -> Path:
    good_book(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/image1.bin", b"\0" * (20 * 1024 * 1024))
    return path


def big_file(path: Path, _world: BulkWorld) -> Path:
    return good_book(path)


def too_many_rows(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, valid_rows(45))


def too_few_rows(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, valid_rows(10))


def empty_sheet(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, [], header=())


def header_only(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, [])


def missing_column(path: Path, _world: BulkWorld) -> Path:


    header = [h for h in HEADER if h != "Téléphone"]
    return write_book(path, [row[:3] + row[4:] for row in valid_rows(ROWS)], header=header)


def renamed_column(path: Path, _world: BulkWorld) -> Path:


    return write_book(path, valid_rows(ROWS), header=["Nom de famille", *HEADER[1:]])


def wrong_sheet(path: Path, _world: BulkWorld) -> Path:
    def extra(ws: Any) -> None:
        ws.parent.create_sheet("Notes")

    return write_book(path, valid_rows(ROWS), sheet="Feuil1", tweak=extra)


def merged_cells(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, valid_rows(ROWS), tweak=lambda ws: ws.merge_cells("H3:H4"))


async def other_organisation_establishment(path: Path, _world: BulkWorld) -> Path:
    other = await make_organisation("Organisme voisin")
    return write_book(path, rows_with(9, 6, other.siret))


def unknown_establishment(path: Path, _world: BulkWorld) -> Path:
    return write_book(path, rows_with(9, 6, make_siret(make_siren(987), 55)))


def duplicate_header(path: Path, _world: BulkWorld) -> Path:


    return write_book(path, [row + ["x@example.fr"] for row in valid_rows(ROWS)], header=[*HEADER, "Courriel"])


CASES = [
    Case("not_xlsx", text_file, "n'est pas un classeur Excel .xlsx"),
    Case("empty_file", empty_file, "Le fichier est vide (0 octet)"),
    Case("truncated_zip", truncated_zip, "corrompu ou incomplet"),
    Case("corrupted_data", corrupted_sheet_data, "corrompu ou illisible"),
    Case("password", password_protected, "protégé par un mot de passe"),
    Case("legacy_xls", legacy_xls, "Excel 97-2003 (.xls)"),
    Case("plain_zip", plain_zip, "n'est pas un classeur Excel .xlsx"),
    Case("zip_bomb", zip_bomb, "anormalement compressé"),
    Case("too_many_bytes", big_file, "Fichier trop volumineux", BulkSettings(max_bytes=3000)),
    Case("too_many_rows", too_many_rows, "Le fichier dépasse 40 lignes", BulkSettings(max_rows=40)),
    Case("too_few_rows", too_few_rows, "ne contient que 10 ligne(s)"),
    Case("empty_sheet", empty_sheet, "est vide : aucun en-tête"),
    Case("header_only", header_only, "ne contient aucune ligne sous l'en-tête"),
    Case("missing_column", missing_column, "manquante(s) ou renommée(s) dans l'en-tête (ligne 1) : « Téléphone »"),
    Case("renamed_column", renamed_column, "« Nom de famille » non reconnue"),
    Case("wrong_sheet", wrong_sheet, "Feuille « Habilitations » introuvable"),
    Case("formula", one_cell(3, 0, '=CONCATENER("Mar";"tin")'),
         "Ligne 5, colonne « Nom », valeur « =CONCATENER(\"Mar\";\"tin\") » : formule interdite"),
    Case("merged_cells", merged_cells, "cellules fusionnées (H3:H4)"),
    Case("date", one_cell(2, 1, datetime(2026, 3, 1)),
         "Ligne 4, colonne « Prénom », valeur « 01/03/2026 00:00 » : une date"),
    Case("number", one_cell(6, 0, 612345678), "Ligne 8, colonne « Nom », valeur « 612345678 » : un nombre"),
    Case("ambiguous_phone_number", one_cell(6, 3, 687412345),
         "Ligne 8, colonne « Téléphone », valeur « 687412345 » : le nombre 687412345 peut se lire 06 87 41 23 45 "
         "ou +687 41.23.45"),
    Case("long_siret_number", one_cell(9, 6, 123456789012345),
         "valeur « 123456789012345 » : le SIRET comporte 14 chiffres"),
    Case("duplicated_email", one_cell(8, 2, "AGENT.1@EXAMPLE.FR"),
         "e-mail en double dans le fichier (déjà à la ligne 3)"),
    Case("invalid_email", one_cell(4, 2, "claire.martin@@exemple"),
         "Ligne 6, colonne « E-mail », valeur « claire.martin@@exemple » : adresse"),
    Case("invalid_phone", one_cell(5, 3, "01 23"),
         "Ligne 7, colonne « Téléphone », valeur « 01 23 » : numéro de téléphone"),
    Case("invalid_siret", one_cell(5, 6, "12345678901234"), "numéro SIRET invalide (clé de contrôle)"),
    Case("unknown_role", one_cell(7, 4, "Chef de projet"), "valeur « Chef de projet » : rôle inconnu"),
    Case("principal_role", one_cell(7, 4, "administrateur PRINCIPAL"), "ce rôle ne peut pas être attribué par fichier"),
    Case("unknown_profile", one_cell(7, 5, "Super-utilisateur"),
         "profil inconnu (Consultation, Création, Validation ou Clôture)"),
    Case("other_organisation", other_organisation_establishment, "appartient à un autre organisme"),
    Case("unknown_establishment", unknown_establishment, "établissement inconnu"),
    Case("control_characters", one_cell(3, 1, "Jean\tPierre"),
         "valeur « Jean\\x09Pierre » : caractères de contrôle interdits"),
    Case("escape_sequence", one_cell(3, 0, "Martin\x9b31m"),
         "valeur « Martin\\x9b31m » : caractères de contrôle interdits"),
    Case("markup_in_name", one_cell(3, 0, "[bold red]Martin[/]"), "caractère « [ » non accepté"),
    # Brackets alone are ordinary characters (never markup); a C1 sequence that clears the screen is not.
    Case("clear_sequence_in_service", one_cell(3, 7, "Comptabilité [siège]\x9b2J"),
         "colonne « Service », valeur « Comptabilité [siège]\\x9b2J » : caractères de contrôle interdits"),
    Case("duplicate_header", duplicate_header, "colonne en double dans l'en-tête"),
    Case("missing_name", one_cell(10, 0, "   \u00a0 "), "Ligne 12, colonne « Nom » : champ obligatoire"),
    Case("no_profile", one_cell(1, 5, None), "Ligne 3, colonne « Profil » : profil obligatoire"),
]
