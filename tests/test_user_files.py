"""`cpf_tui.user_files`: over SSH every path stays in the drop folder; refusals say nothing about the disk."""

from __future__ import annotations

import os

import pytest

from cpf_tui.errors import NotFound, ValidationError
from cpf_tui.user_files import CONTROL, LINKED, REFUSED, UserFiles


@pytest.fixture
def drop(tmp_path):
    alice = tmp_path / "depot" / "alice"
    (alice / "lot").mkdir(parents=True)
    (alice / "a.xlsx").write_bytes(b"a")
    (alice / "lot" / "b.xlsx").write_bytes(b"b")
    (tmp_path / "depot" / "bob").mkdir()
    (tmp_path / "depot" / "bob" / "c.xlsx").write_bytes(b"c")
    return UserFiles.for_session(tmp_path / "data", {"CPF_TUI_DROP_DIR": str(alice)})


def refusal(files: UserFiles, typed: str) -> str:
    with pytest.raises((ValidationError, NotFound)) as caught:
        files.resolve(typed)
    return caught.value.message


def test_names_are_relative_to_the_drop_folder(drop):
    assert drop.over_ssh and drop.place == "votre dossier de dépôt"
    assert drop.resolve("a.xlsx") == drop.root / "a.xlsx"
    assert drop.resolve(" ./lot/b.xlsx ") == drop.root / "lot" / "b.xlsx"
    assert drop.shown(drop.root / "lot" / "b.xlsx") == "lot/b.xlsx"
    assert drop.output_folder(drop.root.parent / "ailleurs") == drop.root


def test_outside_paths_get_one_answer_whatever_exists(drop):
    bob = drop.root.parent / "bob" / "c.xlsx"
    for typed in ("../bob/c.xlsx", "lot/../../bob/c.xlsx", str(bob), "/etc/passwd", "/etc/absent-ici",
                  "~/c.xlsx", "~bob/c.xlsx", "..\\bob\\c.xlsx"):
        assert refusal(drop, typed) == REFUSED, typed
    assert refusal(drop, "absent.xlsx") == "Aucun fichier « absent.xlsx » dans votre dossier de dépôt."
    assert refusal(drop, "a.xlsx/x") == "Aucun fichier « a.xlsx/x » dans votre dossier de dépôt."
    assert refusal(drop, "lot").endswith("n'est pas un fichier.")
    assert refusal(drop, "a\x1b]2;x\x07.xlsx") == CONTROL
    assert refusal(drop, "a\u202e.xlsx") == CONTROL


def test_links_are_refused_and_not_listed(drop):
    bob = drop.root.parent / "bob"
    os.symlink(bob, drop.root / "vers-bob")
    os.symlink(drop.root / "a.xlsx", drop.root / "raccourci.xlsx")
    os.link(bob / "c.xlsx", drop.root / "dur.xlsx")
    for typed in ("vers-bob/c.xlsx", "raccourci.xlsx", "dur.xlsx"):
        assert refusal(drop, typed) == LINKED, typed
    listed = {path.name for path in drop.root.iterdir() if drop.may_list(path)}
    assert listed == {"a.xlsx", "lot"}


def test_locally_the_data_folder_is_the_root_and_paths_are_taken_as_typed(tmp_path):
    files = UserFiles.for_session(tmp_path / "data", {})
    assert not files.over_ssh
    assert files.place == f"votre dossier de données ({(tmp_path / 'data').resolve()})"
    assert files.resolve("a.xlsx") == (tmp_path / "data").resolve() / "a.xlsx"
    assert files.resolve(str(tmp_path / "x.xlsx")) == tmp_path / "x.xlsx"
    assert files.shown(tmp_path / "x.xlsx") == str(tmp_path / "x.xlsx")


def test_the_training_sandbox_roots_local_files_in_its_own_folder(tmp_path):
    from types import SimpleNamespace

    def settings(sandbox: bool, url: str):
        return SimpleNamespace(data_path=tmp_path / "data", sandbox=sandbox, database=SimpleNamespace(url=url))

    sandbox = settings(True, f"sqlite://{tmp_path / 'formation' / 'sandbox.sqlite3'}")
    files = UserFiles.for_settings(sandbox, {})
    assert files.root == (tmp_path / "formation").resolve() and not files.over_ssh
    assert files.place == f"le dossier du bac à sable ({(tmp_path / 'formation').resolve()})"
    assert UserFiles.for_settings(settings(False, "sqlite:///x/db.sqlite3"), {}).root == (tmp_path / "data").resolve()
    over_ssh = UserFiles.for_settings(sandbox, {"CPF_TUI_DROP_DIR": str(tmp_path / "depot" / "alice")})
    assert over_ssh.over_ssh and over_ssh.root == (tmp_path / "depot" / "alice").resolve()
    # Generated files (template, result workbook, feed reports, journal export) stay beside the sandbox.
    assert files.output_folder(tmp_path / "data" / "exports") == (tmp_path / "formation").resolve() / "exports"
    assert over_ssh.output_folder(tmp_path / "data" / "exports") == over_ssh.root
    real = UserFiles.for_settings(settings(False, "sqlite:///x/db.sqlite3"), {})
    assert real.output_folder(tmp_path / "data" / "exports") == tmp_path / "data" / "exports"
