"""What the application writes is for its own system user only (folders 0700, files 0600), whatever
the umask: the database, the audit key, e-mails of the spool, exports, result workbooks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cpf_tui import private_files
from cpf_tui.services import holder_feed, result_book, xlsx_export
from cpf_tui.services.context import RequestContext
from tests.feed_helpers import HOLDER_HEADER, holder_line, write_feed

UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`cpf-tui ARGS` in a child process started with umask 022, as a shell of most systems would."""
    return subprocess.run(
        [sys.executable, "-m", "cpf_tui", *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=120, preexec_fn=lambda: os.umask(UMASK),
    )


def test_init_and_commands_under_umask_022_write_nothing_readable_by_others(tmp_path):
    data = tmp_path / "donnees"
    key = tmp_path / "secrets" / "journal.key"
    config = tmp_path / "cpf-tui.toml"
    config.write_text(f'data_dir = "{data}"\n\n[audit]\nkey_file = "{key}"\n', encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith("CPF_TUI_")}
    env["CPF_TUI_CONFIG"] = str(config)

    done = cli(["init"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Clé du journal d'audit créée : {key}" in done.stdout
    assert mode(data) == 0o700 and mode(data / "cpf-tui.sqlite3") == 0o600
    assert mode(key) == 0o600 and mode(key.parent) == 0o700
    done = cli(["create-operator", "--nom", "Martin", "--prenom", "Lucie", "--email", "lucie@example.fr"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    for args in (["mail", "send"], ["audit", "export"], ["audit", "verify"]):
        done = cli(args, env, tmp_path)
        assert done.returncode == 0, (args, done.stderr)
    written = sorted(data.rglob("*"))
    assert {path.name for path in written} >= {"cpf-tui.sqlite3", "spool", "exports"}
    assert [p for p in written if p.is_file() and mode(p) != 0o600] == []
    assert [p for p in written if p.is_dir() and mode(p) != 0o700] == []
    assert len(list((data / "spool").iterdir())) == 1 and len(list((data / "exports").iterdir())) == 1


def test_init_restricts_a_data_folder_made_earlier(tmp_path):
    data = tmp_path / "donnees"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "cpf-tui.sqlite3").touch(mode=0o644)
    os.chmod(data / "cpf-tui.sqlite3", 0o644)
    env = {name: value for name, value in os.environ.items() if not name.startswith("CPF_TUI_")}
    env["CPF_TUI_DATA_DIR"] = str(data)
    done = cli(["init"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700 and mode(data / "cpf-tui.sqlite3") == 0o600 and mode(data / "audit.key") == 0o600


def test_workbooks_are_private_whatever_the_umask(tmp_path):
    with umask(UMASK):
        result = result_book.write_result(tmp_path / "resultats" / "resultat.xlsx", "Résultat", [["A", 1]])
        export = xlsx_export.write_workbook(
            tmp_path / "exports" / "export.xlsx", [xlsx_export.SheetData("Journal", ["Colonne"], [["valeur"]])]
        )
    for path in (result, export):
        assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert [p.name for p in (tmp_path / "resultats").iterdir()] == ["resultat.xlsx"]  # no temporary left


def test_a_file_rewritten_in_place_becomes_private(tmp_path):
    target = tmp_path / "rapport.txt"
    target.write_text("ancien")
    os.chmod(target, 0o644)
    with umask(UMASK):
        private_files.write_private_bytes(target, b"nouveau")
    assert target.read_bytes() == b"nouveau" and mode(target) == 0o600


def test_an_existing_folder_of_the_person_keeps_its_mode(tmp_path):
    own = tmp_path / "bureau"
    own.mkdir()
    os.chmod(own, 0o755)
    with umask(UMASK):
        private_files.write_private_bytes(own / "modele.xlsx", b"x")
    assert mode(own) == 0o755 and mode(own / "modele.xlsx") == 0o600


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    def broken(out):
        out.write(b"debut")
        raise OSError("disque plein")

    with pytest.raises(OSError):
        private_files.write_private(tmp_path / "fichier.xlsx", broken)
    assert list(tmp_path.iterdir()) == []


async def test_a_feed_report_is_private_whatever_the_umask(db, tmp_path):
    path = write_feed(tmp_path / "titulaires.csv", HOLDER_HEADER, [holder_line(1), "pas;une;ligne"])
    with umask(UMASK):
        result = await holder_feed.import_holders(path, ctx=RequestContext(terminal="cli"),
                                                  report_dir=tmp_path / "rapports", as_system=True)
    assert not result.applied and result.report_path is not None
    assert mode(result.report_path) == 0o600 and mode(result.report_path.parent) == 0o700


def test_opening_an_existing_database_keeps_a_shared_mode(tmp_path):
    """A several-accounts installation shares the file with its group on purpose (docs/deploy.md § 3)."""
    from cpf_tui import db as db_module

    shared = tmp_path / "partage.sqlite3"
    shared.touch()
    os.chmod(shared, 0o660)
    db_module.normalise_url(f"sqlite://{shared}")
    assert mode(shared) == 0o660
    with umask(UMASK):
        db_module.normalise_url(f"sqlite://{tmp_path / 'neuve' / 'base.sqlite3'}")
    assert mode(tmp_path / "neuve" / "base.sqlite3") == 0o600 and mode(tmp_path / "neuve") == 0o700
