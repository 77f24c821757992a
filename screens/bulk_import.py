"""Habilitation en masse: choose a filled workbook, see every error at once, confirm, follow the progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, ProgressBar, Static
from textual.worker import Worker

from cpf_tui.errors import CpfError
from cpf_tui.user_files import UserFiles
from screens.base import CpfScreen
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader


class XlsxTree(DirectoryTree):
    """A directory tree that lists folders and .xlsx workbooks only (hidden entries left out).

    Over SSH, links (symbolic, or files with other hard links) are not listed either.
    """

    def __init__(self, path: Path, files: UserFiles, **kwargs) -> None:
        self.files = files
        super().__init__(path, **kwargs)

    def filter_paths(self, paths):
        return [
            path for path in paths
            if not path.name.startswith(".") and (_is_dir(path) or _is_xlsx(path)) and self.files.may_list(path)
        ]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _is_xlsx(path: Path) -> bool:
    return path.suffix.lower() == ".xlsx"


class FilePickerModal(ModalScreen[Path | None]):
    """Pick a .xlsx file with the keyboard: arrows move, Entrée opens a folder or chooses the file."""

    DEFAULT_CSS = """
    FilePickerModal { align: center middle; }
    FilePickerModal > Vertical {
        width: 76; max-width: 100%; height: 20; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    FilePickerModal #picker-title { text-style: bold; height: 1; }
    FilePickerModal #picker-place { height: auto; color: $text-muted; }
    FilePickerModal #picker-tree { height: 1fr; }
    FilePickerModal #picker-hint { height: auto; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Annuler", tooltip="Fermer sans choisir de fichier", id="picker-cancel"),
        Binding("backspace", "parent", "Dossier parent", tooltip="Remonter d'un dossier", id="picker-parent"),
    ]

    def __init__(self, files: UserFiles) -> None:
        super().__init__()
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Choisir un classeur .xlsx", id="picker-title")
            yield Static(f"Dans {self.files.place}", id="picker-place", markup=False)
            yield XlsxTree(self.files.root, self.files, id="picker-tree")
            yield Static("Entrée : ouvrir / choisir   Retour arrière : dossier parent   Échap : annuler",
                         id="picker-hint", markup=False)

    @property
    def tree(self) -> XlsxTree:
        return self.query_one("#picker-tree", XlsxTree)

    def on_mount(self) -> None:
        self.tree.focus()

    @on(DirectoryTree.FileSelected)
    def _chosen(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_parent(self) -> None:
        """Up one folder, never above the root (the drop folder over SSH, the data folder locally)."""
        current = Path(self.tree.path).resolve()
        if current != self.files.root and self.files.root in current.parents:
            self.tree.path = current.parent

    def action_cancel(self) -> None:
        self.dismiss(None)


def browse_into(screen: CpfScreen, picker: type[FilePickerModal], files: UserFiles, field: Input,
                then: Callable[[], object] | None = None) -> None:
    """Open `picker` in the person's own folder; the chosen file goes into `field` (then `then` runs)."""
    files.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def chosen(path: Path | None) -> None:
        if path is not None:
            field.value = files.shown(path)
            field.focus()
            if then is not None:
                then()

    screen.app.push_screen(picker(files), chosen)


class BulkImportScreen(CpfScreen):
    """Operators import for any organisation (SIRET typed), principal administrators for their own."""

    BACKGROUND_WORKERS = frozenset({"bulk-import"})  # progress bar: keys do not wait for the import
    HELP_TITLE = "Habilitation en masse"
    HELP_TEXT = (
        "Importer un classeur « Habilitation en masse » rempli : Ctrl+T écrit le modèle de l'organisme,"
        " Ctrl+O choisit le fichier, Entrée ou F5 le vérifie (toutes les erreurs sont listées, rien n'est créé),"
        " Ctrl+S importe après confirmation. Un classeur de résultat donne les identifiants attribués."
    )
    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="bulk-back"),
        Binding("ctrl+o", "browse", "Parcourir", tooltip="Choisir le classeur dans un dossier", id="bulk-browse"),
        Binding("ctrl+t", "template", "Modèle", tooltip="Écrire le modèle du classeur pour cet organisme",
                id="bulk-template"),
        Binding("f5", "check", "Vérifier", tooltip="Vérifier le classeur sans rien créer", id="bulk-check"),
        Binding("ctrl+s", "import", "Importer", tooltip="Créer les comptes du classeur vérifié (confirmation)",
                id="bulk-import"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report = None
        self.checked_path: Path | None = None
        self.checked_siret = ""
        self.busy = False

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Vertical(id="bulk-form"):
            yield Input(placeholder="SIRET de l'organisme (14 chiffres)", id="bulk-siret", max_length=20,
                        compact=True)
            yield Input(placeholder="Chemin du classeur .xlsx (Ctrl+O pour parcourir)", id="bulk-path",
                        compact=True)
        yield Static("Choisissez un classeur puis appuyez sur Entrée pour le vérifier.", id="bulk-status",
                     markup=False)
        yield ProgressBar(id="bulk-progress", show_eta=False)
        with VerticalScroll(id="bulk-report-scroll"):
            yield Static("", id="bulk-report", markup=False)
        yield KeyBar()

    # -- widgets ---------------------------------------------------------------------------------
    @property
    def siret_input(self) -> Input:
        return self.query_one("#bulk-siret", Input)

    @property
    def path_input(self) -> Input:
        return self.query_one("#bulk-path", Input)

    @property
    def status(self) -> Static:
        return self.query_one("#bulk-status", Static)

    @property
    def report_view(self) -> Static:
        return self.query_one("#bulk-report", Static)

    @property
    def progress(self) -> ProgressBar:
        return self.query_one("#bulk-progress", ProgressBar)

    def on_mount(self) -> None:
        self.progress.display = False
        self.siret_input.focus()
        self.load_default_siret()

    def action_state(self, action: str) -> bool | None:
        if action == "import":
            ready = self.report is not None and self.report.ok and not self.busy
            return True if ready else None
        if action in ("check", "template", "browse"):
            return None if self.busy else True
        return True

    def show_status(self, text: str, *, error: bool = False) -> None:
        self.status.update(Text(text, style="bold" if error else ""))
        self.status.set_class(error, "-error")

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refusal on the status line; a refused import also lists every error of the workbook."""
        from cpf_tui.services.bulk import BulkImportRejected

        if isinstance(error, BulkImportRejected):
            self.show_status(error.report.summary(), error=True)
            self.show_report(error.report.lines()[1:])
        else:
            self.show_status(error.message, error=True)
        return True

    def show_report(self, lines: list[str]) -> None:
        self.report_view.update(Text("\n".join(lines)))
        self.query_one("#bulk-report-scroll", VerticalScroll).scroll_home(animate=False)

    def set_report(self, report) -> None:
        self.report = report
        self.refresh_bindings()

    # -- actions ---------------------------------------------------------------------------------
    @work(exclusive=True, group="bulk-default", exit_on_error=False)
    async def load_default_siret(self) -> None:
        from cpf_tui.services import bulk

        siret = await bulk.default_siret(self.ctx)
        if siret:
            self.siret_input.value = siret
            self.siret_input.disabled = True
            self.path_input.focus()

    @property
    def files(self) -> UserFiles:
        """Where this person's files are (the SSH drop folder, or the local data folder)."""
        return UserFiles.for_settings(self.settings)

    def _folder(self) -> Path:
        return self.files.output_folder(self.settings.data_path / "exports")

    def action_back(self) -> None:
        if not self.busy:
            self.app.pop_screen()

    def action_browse(self) -> None:
        browse_into(self, FilePickerModal, self.files, self.path_input, then=self.check_file)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "bulk-siret":
            self.path_input.focus()
            if not self.path_input.value.strip():
                return
        self.check_file()

    def action_check(self) -> None:
        self.check_file()

    @work(exclusive=True, group="bulk", exit_on_error=False)
    async def check_file(self) -> None:
        from cpf_tui.services import bulk

        if self.busy:
            return
        path_text = self.path_input.value.strip()
        if not path_text:
            self.show_status("Indiquez le chemin du classeur .xlsx (ou Ctrl+O pour parcourir).", error=True)
            self.path_input.focus()
            return
        self.set_report(None)
        self.show_status("Vérification du classeur…")
        self.show_report([])
        path = self.files.resolve(path_text)
        siret = self.siret_input.value
        report = await bulk.analyse_workbook(path, siret=siret, ctx=self.ctx, bulk=self.settings.bulk, prepare=True)
        self.checked_path, self.checked_siret = path, siret
        self.set_report(report)
        if report.ok:
            self.show_status(f"{report.summary()} Ctrl+S pour importer.")
        else:
            self.show_status(report.summary(), error=True)
        self.show_report(report.lines()[1:] or ["Aucune remarque."])

    def action_template(self) -> None:
        self.write_template()

    @work(exclusive=True, group="bulk", exit_on_error=False)
    async def write_template(self) -> None:
        from cpf_tui.services import bulk

        if self.busy:
            return
        path = await bulk.generate_template(self._folder(), siret=self.siret_input.value, ctx=self.ctx,
                                            bulk=self.settings.bulk)
        self.show_status(f"Modèle écrit : {self.files.shown(path)}")

    def action_import(self) -> None:
        if self.report is not None and self.report.ok and not self.busy:
            self.run_import()

    @work(exclusive=True, group="bulk-import", exit_on_error=False)
    async def run_import(self) -> None:
        from cpf_tui.services import bulk
        from screens.modals import ConfirmModal

        report = self.report
        if report is None or self.checked_path is None:
            return
        question = f"Créer {len(report.rows)} compte(s) pour {report.organisation_label} ? Chacun recevra un e-mail."
        if not await self.app.push_screen_wait(ConfirmModal(question, "Importer", "Annuler")):
            self.show_status("Import annulé : aucun compte n'a été créé.")
            return
        self.busy = True
        self.refresh_bindings()
        bar = self.progress
        bar.display = True
        bar.update(total=len(report.rows), progress=0)
        self.show_status("Création des comptes…")
        try:
            result = await bulk.import_workbook(
                self.checked_path, siret=self.checked_siret, ctx=self.ctx, output_dir=self._folder(),
                bulk=self.settings.bulk, temp_password_days=self.settings.security.temp_password_days,
                expected_sha256=report.sha256, progress=lambda done, total: bar.update(progress=done),
                report=report,
            )
        finally:
            self.busy = False
            self.set_report(None)
            bar.display = False
        self.show_status(f"{result.created} compte(s) créé(s) pour {result.organisation_label}.")
        self.show_report([
            f"Classeur de résultat (identifiants à transmettre) : {self.files.shown(result.result_path)}",
            "Chaque personne reçoit par e-mail son mot de passe temporaire.",
        ])
