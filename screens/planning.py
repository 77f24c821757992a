"""The kit's macro-planning: each line done / in progress / to come today; operators edit a line."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from cpf_tui.permissions import Capability
from cpf_tui.services.planning import DATE_FORMATS_HELP, MilestoneStatus, PlanningLine
from screens.base import CpfModal, CpfScreen
from screens.widgets.console import glyph
from screens.widgets.form_guard import leave_form, remember_fields
from screens.widgets.keybar import KeyBar
from screens.widgets.table import CpfTable
from screens.widgets.header import CpfHeader

STATUS_STYLES = {
    MilestoneStatus.DONE: "dim",
    MilestoneStatus.IN_PROGRESS: "bold",
    MilestoneStatus.TO_COME: "",
    MilestoneStatus.UNDATED: "italic",
}
STATUS_MARKS = {
    MilestoneStatus.DONE: "✓",
    MilestoneStatus.IN_PROGRESS: "▶",
    MilestoneStatus.TO_COME: "·",
    MilestoneStatus.UNDATED: "?",
}


def status_text(status: MilestoneStatus) -> Text:
    """The status with a mark, so that it reads without colours too."""
    return Text(f"{glyph(STATUS_MARKS[status])} {status.label}", style=STATUS_STYLES[status])


class PlanningScreen(CpfScreen):
    """The partners' planning of the kit, as a table."""

    HELP_TITLE = "Planning partenaires"
    HELP_TEXT = (
        "Les étapes du kit d'inscription et leur état à la date du jour : terminé, en cours, à venir"
        " (ou non daté)."
    )
    AUTO_FOCUS = "#planning-table"
    BINDINGS = [
        Binding("escape", "back", "Retour", tooltip="Revenir à l'écran précédent", id="planning-back"),
        Binding("e", "edit", "Modifier", tooltip="Modifier la ligne choisie (opérateur CDC)", id="planning-edit"),
        Binding("f5", "reload", "Actualiser", tooltip="Recharger le planning", id="planning-reload"),
    ]

    class LinesLoaded(Message):
        """The planning lines were read."""

        def __init__(self, lines: list[PlanningLine]) -> None:
            super().__init__()
            self.lines = lines

    ACTION_CAPABILITY = {"edit": Capability.PLANNING_EDIT}

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[PlanningLine] = []

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        yield Static("Planning partenaires", id="planning-title", markup=False)
        yield CpfTable(id="planning-table")
        yield Static("", id="planning-detail", markup=False)
        yield KeyBar()

    @property
    def table(self) -> CpfTable:
        return self.query_one("#planning-table", CpfTable)

    @property
    def detail(self) -> Static:
        return self.query_one("#planning-detail", Static)

    def on_mount(self) -> None:
        table = self.table
        table.add_column("Action", width=24, key="action")
        table.add_column("Responsable", width=11, key="responsible")
        table.add_column("Début", width=10, key="start")
        table.add_column("Fin", width=12, key="end")
        table.add_column("État", width=10, key="status")
        table.focus()
        self.load()

    def action_state(self, action: str) -> bool | None:
        return None if action == "edit" and not self.lines else True

    @work(exclusive=True, group="planning", exit_on_error=False)
    async def load(self) -> None:
        from cpf_tui.services import planning

        with self.table.loading_while():
            lines = await planning.list_lines(self.ctx)
        self.post_message(self.LinesLoaded(lines))

    def on_planning_screen_lines_loaded(self, message: LinesLoaded) -> None:
        self.show_lines(message.lines)

    def show_lines(self, lines: list[PlanningLine], keep_row: int | None = None) -> None:
        table = self.table
        row = table.cursor_row if keep_row is None else keep_row
        self.lines = lines
        table.replace_rows(
            ((Text(line.action, no_wrap=True, overflow="ellipsis"), Text(line.responsible or "—"),
              Text(line.start_text or "—"), Text(line.end_text or "—"), status_text(line.status)), str(line.id))
            for line in lines
        )
        if lines:
            table.move_cursor(row=min(max(row, 0), len(lines) - 1))
        from cpf_tui.services.planning import today

        self.query_one("#planning-title", Static).update(
            f"Planning partenaires — état au {today().strftime('%d/%m/%Y')}"
        )
        self._show_detail()
        self.refresh_bindings()

    @property
    def current_line(self) -> PlanningLine | None:
        if not self.lines:
            return None
        row = self.table.cursor_row
        return self.lines[row] if 0 <= row < len(self.lines) else None

    @on(DataTable.RowHighlighted, "#planning-table")
    def _show_detail(self) -> None:
        line = self.current_line
        if line is None:
            self.detail.update("Aucune ligne de planning.")
            return
        detail = Text(line.action, style="bold")
        detail.append(f"\nResponsable : {line.responsible or '—'}   Début : {line.start_text or '—'}"
                      f"   Fin : {line.end_text or '—'}   État : {line.status.label}", style="")
        self.detail.update(detail)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def action_edit(self) -> None:
        line = self.current_line
        if line is None or not self.may(Capability.PLANNING_EDIT):
            return
        row = self.table.cursor_row

        def _saved(result: PlanningLine | None) -> None:
            if result is not None:
                self.notify("Ligne du planning enregistrée.", title="Planning")
                self.show_lines([result if item.id == result.id else item for item in self.lines], keep_row=row)
            self.table.focus()

        self.app.push_screen(PlanningEditModal(line), _saved)


class PlanningEditModal(CpfModal[PlanningLine | None]):
    """Edit one planning line: Entrée moves on (saves on the last field), Ctrl+S saves, Échap cancels (asks if
    changed); errors are shown and the input kept."""

    DEFAULT_CSS = """
    PlanningEditModal { align: center middle; }
    PlanningEditModal > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    PlanningEditModal #planning-edit-title { text-style: bold; }
    PlanningEditModal #planning-edit-message { color: $error; height: auto; }
    PlanningEditModal #planning-edit-hint { color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Annuler", tooltip="Fermer sans enregistrer", id="planning-edit-cancel"),
        Binding("ctrl+s", "save", "Enregistrer", tooltip="Enregistrer la ligne", id="planning-edit-save"),
    ]

    MESSAGE_ID = "planning-edit-message"

    def __init__(self, line: PlanningLine) -> None:
        super().__init__()
        self.line = line

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Modifier une ligne du planning", id="planning-edit-title", markup=False)
            yield Label("Action")
            yield Input(self.line.action, id="planning-edit-action", max_length=200)
            yield Label("Responsable")
            yield Input(self.line.responsible, id="planning-edit-responsible", max_length=60)
            yield Label("Début")
            yield Input(self.line.start_text, id="planning-edit-start", max_length=40)
            yield Label("Fin")
            yield Input(self.line.end_text, id="planning-edit-end", max_length=40)
            yield Static(f"Dates : {DATE_FORMATS_HELP}. Entrée : champ suivant (enregistre sur Fin), Ctrl+S : enregistrer, Échap : annuler.",
                         id="planning-edit-hint", markup=False)
            yield Static("", id="planning-edit-message", markup=False)

    def on_mount(self) -> None:
        self.query_one("#planning-edit-action", Input).focus()
        remember_fields(self)

    def value(self, name: str) -> str:
        return self.query_one(f"#planning-edit-{name}", Input).value

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Entrée goes on to the next field, as in every form; on the last one (Fin) it saves."""
        if event.input.id == "planning-edit-end":
            self.save()
        else:
            self.focus_next()

    def action_save(self) -> None:
        self.save()

    @work(exclusive=True, group="planning-edit", exit_on_error=False)
    async def save(self) -> None:
        from cpf_tui.services import planning

        saved = await planning.update_line(
            self.ctx, self.line.id, action=self.value("action"), responsible=self.value("responsible"),
            start_text=self.value("start"), end_text=self.value("end"), expected=self.line.editable_values,
        )
        self.dismiss(saved)

    def action_cancel(self) -> None:
        leave_form(self, lambda: self.dismiss(None))
