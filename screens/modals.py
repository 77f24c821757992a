"""Small dialogs shared by every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmModal(ModalScreen[bool]):
    """Ask a yes/no question; `o`/Entrée confirms, `n`/Échap cancels."""

    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical {
        width: 60; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmModal #confirm-question { width: 100%; margin-bottom: 1; }
    ConfirmModal Horizontal { height: auto; align: center middle; }
    ConfirmModal Button { margin: 0 2; }
    """

    BINDINGS = [
        Binding("o", "answer(True)", "Oui", tooltip="Confirmer", id="confirm-yes"),
        Binding("n", "answer(False)", "Non", tooltip="Annuler", id="confirm-no"),
        Binding("escape", "answer(False)", "Annuler", tooltip="Annuler", id="confirm-cancel"),
    ]

    def __init__(self, question: str, yes_label: str = "Oui", no_label: str = "Non") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label
        self.no_label = no_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal():
                yield Button(f"{self.yes_label} (o)", id="confirm-yes", variant="warning")
                yield Button(f"{self.no_label} (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class MessageModal(ModalScreen[None]):
    """Show a French message (error or information) until Entrée or Échap."""

    DEFAULT_CSS = """
    MessageModal { align: center middle; }
    MessageModal > Vertical {
        width: 70; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
        background: $surface; padding: 1 2;
    }
    MessageModal.-error > Vertical { border: thick $error; }
    MessageModal #message-title { text-style: bold; margin-bottom: 1; }
    MessageModal Button { margin-top: 1; }
    """

    BINDINGS = [Binding("escape", "close", "Fermer", tooltip="Fermer ce message", id="message-close")]

    def __init__(self, title: str, text: str, *, error: bool = False) -> None:
        super().__init__(classes="-error" if error else "")
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="message-title", markup=False)
            yield Static(self.text, id="message-text", markup=False)
            yield Button("OK (Entrée)", id="message-ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#message-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
