"""The Habilitation en masse screen at 80x24, keyboard only: errors reported, fix, confirm, import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openpyxl import load_workbook
from textual.widgets import Input

from cpf_tui.app import make_app
from models import Account, Establishment, Role
from screens.bulk_import import BulkImportScreen, FilePickerModal
from screens.home import HomeScreen
from screens.modals import ConfirmModal
from tests.factories import make_account, make_organisation
from tests.bulk_support import counts, valid_rows, write_book
from tests.pilot import log_in, settle, text_of


async def open_bulk(app, pilot) -> BulkImportScreen:
    assert isinstance(app.screen, HomeScreen)
    labels = [section.label for section in app.screen.sections]
    await pilot.press(*(["down"] * labels.index("Habilitation en masse")), "enter")
    await settle(pilot)
    assert isinstance(app.screen, BulkImportScreen)
    return app.screen


async def settle_screen(app, pilot, screen) -> None:
    """Wait for this screen's workers only (the file picker's tree keeps a loader worker alive)."""
    await pilot.pause()
    for worker in [w for w in app.workers if w.node is screen]:
        await worker.wait()
    await pilot.pause()


async def tree_loaded(pilot, picker: FilePickerModal) -> list[str]:
    """The labels under the picker's root, once its folder has been read."""
    for _ in range(200):
        await pilot.pause()
        if picker.tree.root.children:
            break
    return [str(node.label) for node in picker.tree.root.children]


async def test_operator_sees_errors_fixes_the_file_and_imports(db, settings, tmp_path, monkeypatch):
    monkeypatch.delenv("CPF_TUI_DROP_DIR", raising=False)
    organisation = await make_organisation("Organisme écran", secondary=1)
    operator = await make_account(Role.OPERATOR)
    rows = valid_rows(35)
    rows[1][2] = "pas-une-adresse"
    rows[4][4] = "Directeur"
    path = write_book(tmp_path / "habilitations.xlsx", rows)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, operator)
        screen = await open_bulk(app, pilot)
        before = await counts()  # after the session is opened (its own audit event)
        assert screen.query_one("#bulk-siret", Input).has_focus
        await pilot.press(*organisation.siret, "enter")
        await pilot.press(*str(path), "enter")
        await settle(pilot)

        status = text_of(screen, "#bulk-status")
        assert "refusé : 2 erreur(s)" in status and "aucun compte n'a été créé" in status
        report = text_of(screen, "#bulk-report")
        assert "Ligne 3, colonne « E-mail », valeur « pas-une-adresse »" in report
        assert "Ligne 6, colonne « Rôle », valeur « Directeur » : rôle inconnu" in report
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen  # nothing to import: no confirmation asked
        assert await counts() == before

        write_book(path, valid_rows(35))  # the administrator fixes the file
        await pilot.press("f5")
        await settle(pilot)
        assert "valide : 35 compte(s) à créer" in text_of(screen, "#bulk-status")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("o")
        await settle(pilot)

        assert app.screen is screen
        assert "35 compte(s) créé(s)" in text_of(screen, "#bulk-status")
        report = text_of(screen, "#bulk-report")
        assert "Classeur de résultat (identifiants à transmettre) : " in report
        result = Path(report.split(" : ", 1)[1].splitlines()[0])
        assert result.parent == settings.data_path / "exports"
        identifiers = [row[0] for row in load_workbook(result)["Comptes créés"].iter_rows(min_row=3, values_only=True)]
        assert sorted(identifiers) == sorted(
            await Account.filter(organisation=organisation).values_list("identifier", flat=True)
        )
        after = await counts()
        assert (after[0] - before[0], after[1] - before[1], after[3] - before[3]) == (35, 35, 1)
        await pilot.press("ctrl+s")  # the same check cannot be imported twice
        await pilot.pause()
        assert app.screen is screen


async def test_principal_admin_picks_the_file_in_the_drop_folder(db, settings, tmp_path, monkeypatch):
    drop = tmp_path / "depot"
    drop.mkdir()
    monkeypatch.setenv("CPF_TUI_DROP_DIR", str(drop))
    organisation = await make_organisation("Organisme dépôt")
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    write_book(drop / "rempli.xlsx", valid_rows(31))
    (drop / "notes.txt").write_text("à ignorer", encoding="utf-8")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, principal)
        screen = await open_bulk(app, pilot)
        siret = screen.query_one("#bulk-siret", Input)
        assert siret.value == organisation.siret and siret.disabled

        await pilot.press("ctrl+t")
        await settle(pilot)
        template = drop / f"habilitation-en-masse-{organisation.siret}.xlsx"
        assert f"Modèle écrit : {template.name}" in text_of(screen, "#bulk-status")  # no server path
        heads = await Establishment.filter(organisation=organisation).values_list("siret", flat=True)
        assert [c.value for c in load_workbook(template)["Établissements"]["A"][1:]] == list(heads)

        await pilot.press("ctrl+o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePickerModal)
        assert await tree_loaded(pilot, picker) == [template.name, "rempli.xlsx"]
        await pilot.press("down", "down", "enter")
        await settle_screen(app, pilot, screen)
        assert app.screen is screen
        assert screen.query_one("#bulk-path", Input).value == "rempli.xlsx"
        assert "valide : 31 compte(s) à créer" in text_of(screen, "#bulk-status")
        await pilot.press("ctrl+s", "n")
        await settle_screen(app, pilot, screen)
        assert "Import annulé" in text_of(screen, "#bulk-status")
        assert await Account.filter(organisation=organisation).count() == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


def status_after(app, pilot, screen):
    async def typed(path_text: str) -> str:
        field = screen.query_one("#bulk-path", Input)
        field.focus()
        field.value = ""
        await pilot.press(*path_text, "enter")
        await settle_screen(app, pilot, screen)
        return text_of(screen, "#bulk-status")

    return typed


@pytest.mark.slow  # many processes: started first in the suite (tests/conftest.py)
async def test_over_ssh_the_picker_and_the_path_stay_in_the_users_drop_folder(db, settings, tmp_path, monkeypatch):
    """alice cannot reach bob's folder nor the server's disk, by the picker or by a typed path, and a
    refusal says nothing about what exists outside her folder."""
    from cpf_tui.user_files import LINKED, REFUSED

    depot = tmp_path / "depot"
    alice, bob = depot / "alice", depot / "bob"
    alice.mkdir(parents=True)
    bob.mkdir()
    monkeypatch.setenv("CPF_TUI_DROP_DIR", str(alice))
    organisation = await make_organisation("Organisme confiné")
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    write_book(bob / "liste-de-bob.xlsx", valid_rows(40))
    write_book(alice / "a-habilitations.xlsx", valid_rows(31))
    (alice / "lot").mkdir()
    write_book(alice / "lot" / "b.xlsx", valid_rows(32))
    # A file of the same name in the server's working directory must not be used.
    server_dir = tmp_path / "serveur"
    server_dir.mkdir()
    (server_dir / "a-habilitations.xlsx").write_text("pas un classeur", encoding="utf-8")
    monkeypatch.chdir(server_dir)
    # Links planted from the server side are neither listed nor opened.
    os.symlink(bob / "liste-de-bob.xlsx", alice / "lien.xlsx")
    os.link(bob / "liste-de-bob.xlsx", alice / "lien-dur.xlsx")
    os.symlink(bob, alice / "dossier-de-bob")
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, principal)
        screen = await open_bulk(app, pilot)

        await pilot.press("ctrl+o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePickerModal)
        assert "Dans votre dossier de dépôt" in text_of(picker, "#picker-place")
        assert await tree_loaded(pilot, picker) == ["lot", "a-habilitations.xlsx"]
        await pilot.press("backspace", "backspace")
        await pilot.pause()
        assert Path(picker.tree.path) == alice.resolve()
        assert await tree_loaded(pilot, picker) == ["lot", "a-habilitations.xlsx"]
        await pilot.press("down", "enter")  # open "lot"
        lot = picker.tree.root.children[0]
        for _ in range(200):
            await pilot.pause()
            if lot.children:
                break
        await pilot.press("down", "enter")  # choose "lot/b.xlsx"
        await settle_screen(app, pilot, screen)
        assert app.screen is screen
        assert screen.query_one("#bulk-path", Input).value == "lot/b.xlsx"
        assert "valide : 32 compte(s) à créer" in text_of(screen, "#bulk-status")

        typed = status_after(app, pilot, screen)
        assert "valide : 31 compte(s) à créer" in await typed("a-habilitations.xlsx")  # the drop folder's
        refusals = {
            text: await typed(text)
            for text in ("../bob/liste-de-bob.xlsx", str(bob / "liste-de-bob.xlsx"), "/etc/passwd",
                         "/etc/absent-de-ce-serveur", "lot/../../bob/liste-de-bob.xlsx", "~/fichier.xlsx")
        }
        assert set(refusals.values()) == {REFUSED}, refusals  # the same answer whether the file exists or not
        assert await typed("lien.xlsx") == LINKED
        assert await typed("lien-dur.xlsx") == LINKED
        assert await typed("dossier-de-bob/liste-de-bob.xlsx") == LINKED
        assert await typed("absent.xlsx") == "Aucun fichier « absent.xlsx » dans votre dossier de dépôt."
        assert await Account.filter(organisation=organisation).count() == 1


async def test_locally_the_picker_is_rooted_in_the_data_folder(db, settings, tmp_path, monkeypatch):
    monkeypatch.delenv("CPF_TUI_DROP_DIR", raising=False)
    organisation = await make_organisation("Organisme local")
    principal = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    write_book(data / "local.xlsx", valid_rows(33))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await log_in(pilot, principal)
        screen = await open_bulk(app, pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePickerModal)
        assert f"Dans votre dossier de données ({data.resolve()})" in text_of(picker, "#picker-place")
        assert "local.xlsx" in await tree_loaded(pilot, picker)
        await pilot.press("backspace")
        await pilot.pause()
        assert Path(picker.tree.path) == data.resolve()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert "valide : 33 compte(s) à créer" in await status_after(app, pilot, screen)("local.xlsx")
