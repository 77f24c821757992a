"""CDC feeds: an operator chooses a holder file or a yearly hours file, follows the progress, reads the report."""

from __future__ import annotations


from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, ProgressBar, RadioButton, RadioSet, Static
from textual.worker import Worker

from cpf_tui.errors import CpfError
from cpf_tui.user_files import UserFiles
from screens.base import CpfScreen
from screens.bulk_import import FilePickerModal, XlsxTree, _is_dir, browse_into
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader


class CsvTree(XlsxTree):
    """The picker's tree, listing folders and .csv files (same rules for hidden entries and links)."""

    def filter_paths(self, paths):
        return [
            path for path in paths
            if not path.name.startswith(".") and (_is_dir(path) or path.suffix.lower() == ".csv")
            and self.files.may_list(path)
        ]


class CsvPickerModal(FilePickerModal):
    """Pick a .csv feed file with the keyboard (arrows, Entrée, Retour arrière, Échap)."""

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical():
            yield Label("Choisir un fichier d'alimentation .csv", id="picker-title")
            yield Static(f"Dans {self.files.place}", id="picker-place", markup=False)
            yield CsvTree(self.files.root, self.files, id="picker-tree")
            yield Static("Entrée : ouvrir / choisir   Retour arrière : dossier parent   Échap : annuler",
                         id="picker-hint", markup=False)


class HolderFeedScreen(CpfScreen):
    """Load the holder register or credit a year of CPF hours from a CDC file (all or nothing)."""

    BACKGROUND_WORKERS = frozenset({"feed"})  # progress bar: keys do not wait for the import
    HELP_TITLE = "Alimentation des titulaires et des heures"
    HELP_TEXT = (
        "Charger le fichier des titulaires (création ou mise à jour par NIR) ou créditer les heures CPF d'une"
        " année. Ctrl+O choisit le fichier, Ctrl+S lance l'alimentation après confirmation. Toutes les erreurs"
        " sont listées dans un rapport ; rien n'est appliqué si une ligne est en erreur, sauf si « ignorer les"
        " lignes en erreur » est coché. Format des fichiers : docs/holder-feed.md."
    )
    DEFAULT_CSS = """
    HolderFeedScreen #feed-form { height: auto; padding: 0 1; }
    HolderFeedScreen #feed-title { margin: 0 1; text-style: bold; }
    HolderFeedScreen #feed-kind { height: auto; width: auto; layout: horizontal; border: none; padding: 0; }
    HolderFeedScreen #feed-kind RadioButton { width: auto; margin-right: 2; }
    HolderFeedScreen #feed-year { width: 16; margin-left: 2; }
    HolderFeedScreen #feed-path { margin: 0 1; }
    HolderFeedScreen #feed-ignore { margin: 0 1; border: none; padding: 0; height: 1; }
    HolderFeedScreen #feed-status { margin: 0 1; height: auto; }
    HolderFeedScreen #feed-progress { margin: 0 1; }
    HolderFeedScreen #feed-report-scroll { height: 1fr; margin: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Revenir à l'accueil", id="feed-back"),
        Binding("ctrl+o", "browse", "Parcourir", tooltip="Choisir le fichier dans un dossier", id="feed-browse"),
        Binding("ctrl+s", "run_feed", "Alimenter", tooltip="Appliquer le fichier (confirmation demandée)",
                id="feed-run"),
    ]

    MESSAGE_ID = "feed-status"

    def __init__(self) -> None:
        super().__init__()
        self.busy = False

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        yield Label("Alimentation CDC : registre des titulaires et heures CPF annuelles", id="feed-title")
        with Horizontal(id="feed-form"):
            with RadioSet(id="feed-kind"):
                yield RadioButton("Titulaires", value=True, id="feed-kind-holders")
                yield RadioButton("Heures CPF", id="feed-kind-hours")
            yield Input(placeholder="Année AAAA", id="feed-year", max_length=4, compact=True, disabled=True)
        yield Input(placeholder="Chemin du fichier .csv (Ctrl+O pour parcourir)", id="feed-path", compact=True)
        yield Checkbox("Appliquer les lignes valides, signaler les autres", id="feed-ignore", compact=True)
        yield Static("Choisissez le type de fichier puis le fichier, et Ctrl+S pour l'appliquer.",
                     id="feed-status", markup=False)
        yield ProgressBar(id="feed-progress", show_eta=False)
        with VerticalScroll(id="feed-report-scroll"):
            yield Static("", id="feed-report", markup=False)
        yield KeyBar()

    # -- widgets ---------------------------------------------------------------------------------
    @property
    def kind_set(self) -> RadioSet:
        return self.query_one("#feed-kind", RadioSet)

    @property
    def year_input(self) -> Input:
        return self.query_one("#feed-year", Input)

    @property
    def path_input(self) -> Input:
        return self.query_one("#feed-path", Input)

    @property
    def ignore_box(self) -> Checkbox:
        return self.query_one("#feed-ignore", Checkbox)

    @property
    def status(self) -> Static:
        return self.query_one("#feed-status", Static)

    @property
    def report_view(self) -> Static:
        return self.query_one("#feed-report", Static)

    @property
    def progress(self) -> ProgressBar:
        return self.query_one("#feed-progress", ProgressBar)

    @property
    def files(self) -> UserFiles:
        """Where this person's files are (the SSH drop folder, or the local data folder)."""
        return UserFiles.for_settings(self.settings)

    @property
    def hours_chosen(self) -> bool:
        return self.query_one("#feed-kind-hours", RadioButton).value

    def on_mount(self) -> None:
        self.progress.display = False
        self.kind_set.focus()

    def action_state(self, action: str) -> bool | None:
        if action in ("run_feed", "browse"):
            return None if self.busy else True
        return True

    def show_status(self, message: str, *, error: bool = False) -> None:
        self.status.update(Text(message, style="bold" if error else ""))
        self.status.set_class(error, "-error")

    def show_report(self, lines: list[str]) -> None:
        self.report_view.update(Text("\n".join(lines)))
        self.query_one("#feed-report-scroll", VerticalScroll).scroll_home(animate=False)

    # -- actions ---------------------------------------------------------------------------------
    @on(RadioSet.Changed, "#feed-kind")
    def _kind_changed(self) -> None:
        self.year_input.disabled = not self.hours_chosen
        if self.hours_chosen and not self.year_input.value:
            from cpf_tui import clock

            self.year_input.value = str(clock.now().year - 1)

    def action_back(self) -> None:
        if not self.busy:
            self.app.pop_screen()

    def action_browse(self) -> None:
        browse_into(self, CsvPickerModal, self.files, self.path_input)

    @on(Input.Submitted, "#feed-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run_feed()

    def action_run_feed(self) -> None:
        if not self.busy:
            self.run_feed()

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def run_feed(self) -> None:
        from cpf_tui.services import holder_feed
        from screens.modals import ConfirmModal

        files = self.files
        path = files.resolve(self.path_input.value)
        year = self._year() if self.hours_chosen else None
        ignore = self.ignore_box.value
        what = f"les heures CPF {year}" if year is not None else "les titulaires"
        rule = ("les lignes valides seront appliquées, les autres signalées" if ignore
                else "rien ne sera appliqué si une ligne est en erreur")
        question = f"Alimenter {what} avec « {files.shown(path)} » ? ({rule})"
        if not await self.app.push_screen_wait(ConfirmModal(question, "Alimenter", "Annuler")):
            self.show_status("Alimentation annulée : rien n'a été modifié.")
            return
        self.busy = True
        self.refresh_bindings()
        bar = self.progress
        bar.display = True
        bar.update(total=None, progress=0)
        self.show_report([])
        self.show_status("Lecture du fichier…")

        def advance(step: holder_feed.FeedProgress) -> None:
            bar.update(total=max(step.total, 1), progress=step.done)
            self.show_status(f"{step.stage} : {step.lines} ligne(s) lue(s)…")

        report_dir = files.output_folder(self.settings.data_path / "exports")
        try:
            if year is None:
                result = await holder_feed.import_holders(
                    path, ctx=self.ctx, report_dir=report_dir, ignore_errors=ignore, progress=advance,
                )
            else:
                result = await holder_feed.credit_hours(
                    path, year=year, ctx=self.ctx, report_dir=report_dir, ignore_errors=ignore,
                    progress=advance,
                )
        finally:
            self.busy = False
            self.refresh_bindings()
            bar.display = False
        lines = result.describe(path_shown=files.shown)
        self.show_status(lines[0], error=not result.applied or bool(result.error_count))
        self.show_report(lines[1:] or ["Aucune erreur."])

    def _year(self) -> int:
        from cpf_tui.errors import ValidationError
        from cpf_tui.services.holder_feed import check_year

        value = self.year_input.value.strip()
        if not (value.isdigit() and len(value) == 4):
            raise ValidationError("Année : quatre chiffres attendus (AAAA).")
        return check_year(int(value))

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refused file or value: the reason on the status line (nothing was applied)."""
        self.show_status(error.message, error=True)
        return True
