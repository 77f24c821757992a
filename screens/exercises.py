"""F2 in the sandbox: the guided exercises, each ticking itself when the sandbox shows it done."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from screens.widgets.keybar import KeyBar


class ExercisesModal(ModalScreen[None]):
    """The list of exercises with their state, refreshed every two seconds while open."""

    DEFAULT_CSS = """
    ExercisesModal { align: center middle; }
    ExercisesModal > VerticalScroll {
        width: 100%; height: 1fr; border: thick $primary; background: $surface; padding: 0 1;
    }
    ExercisesModal #exercises-title { text-style: bold; }
    ExercisesModal .exercise { margin-top: 1; }
    ExercisesModal .exercise.-done { color: $success; }
    """

    BINDINGS = [
        Binding("escape", "close", "Fermer", tooltip="Revenir à l'application", id="exercises-close"),
        Binding("f2", "close", "Fermer", show=False, id="exercises-close-f2"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="exercises-list"):
            yield Static("Exercices de formation (se cochent tout seuls)", id="exercises-title", markup=False)
            yield Static("Chargement…", id="exercises-progress", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#exercises-list").focus()
        self.refresh_statuses()
        self.set_interval(2.0, self._refresh_when_idle)

    def _refresh_when_idle(self) -> None:
        """The periodic refresh: skipped while a read is still running (a slow read is never cut off)."""
        if not any(worker.is_running for worker in self.workers if worker.node is self):
            self.refresh_statuses()

    @work(exclusive=True, group="exercises", exit_on_error=False)
    async def refresh_statuses(self) -> None:
        from cpf_tui.services.exercises import statuses

        await self.app.wait_database()
        results = await statuses()
        done = sum(1 for status in results if status.done)
        self.query_one("#exercises-progress", Static).update(f"{done} exercice(s) terminé(s) sur {len(results)}.")
        container = self.query_one("#exercises-list")
        for number, status in enumerate(results, start=1):
            text = (f"{'[x]' if status.done else '[ ]'} {number}. {status.exercise.title}\n"
                    f"    Avec le {status.exercise.who}.\n"
                    + "\n".join(f"    - {step}" for step in status.exercise.steps))
            widget_id = f"exercise-{status.exercise.id}"
            existing = container.query(f"#{widget_id}")
            if existing:
                widget = existing.first(Static)
                widget.update(text)
            else:
                widget = Static(text, id=widget_id, classes="exercise", markup=False)
                await container.mount(widget)
            widget.set_class(status.done, "-done")

    def action_close(self) -> None:
        self.dismiss(None)
