"""Forms of the habilitation area (one generic form screen) and the dialog showing a new identifier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker

from cpf_tui.errors import CpfError, ValidationError
from screens.base import CpfScreen
from screens.widgets.form_guard import leave_form, remember_fields
from screens.widgets.keybar import KeyBar


@dataclass
class FormField:
    """One field of a form: an input, or a choice list when `options` is given (label, value)."""

    key: str
    label: str
    value: str = ""
    options: list[tuple[str, str]] | None = None
    placeholder: str = ""
    max_length: int = 254
    aliases: tuple[str, ...] = field(default_factory=tuple)
    """Other error keys of the service that belong under this field."""
    completes: bool = False
    """The value is a beginning to complete (a SIREN before the NIC): focus puts the cursor after it
    instead of selecting it (typing would replace it)."""


Submit = Callable[[dict[str, str]], Awaitable[Any]]


class FormScreen(CpfScreen):
    """A keyboard form: Tab/Entrée move on, Ctrl+S saves, Échap cancels; errors shown under each field.

    `submit` receives the values and calls a service; the screen closes with its result, or stays with
    the French messages (and the user's input kept) when the service refuses.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Enregistrer", tooltip="Enregistrer le formulaire", id="form-submit"),
        Binding("escape", "cancel", "Annuler", tooltip="Fermer sans enregistrer (confirmation si modifié)",
                id="form-cancel"),
    ]

    def __init__(self, title: str, fields: list[FormField], submit: Submit, *, intro: str = "") -> None:
        super().__init__()
        self.form_title = title
        self.fields = fields
        self.submit = submit
        self.intro = intro

    def compose(self) -> ComposeResult:
        yield Static(self.form_title, id="form-title", markup=False)
        if self.intro:
            yield Static(self.intro, id="form-intro", markup=False)
        with VerticalScroll(id="form-body", can_focus=False):
            for spec in self.fields:
                with Horizontal(classes="form-row"):
                    yield Label(spec.label, classes="form-label", markup=False)
                    if spec.options is not None:
                        yield Select(
                            [(Text(label), value) for label, value in spec.options],
                            value=spec.value if spec.value else Select.NULL,
                            allow_blank=not spec.value, prompt="(choisir)", id=f"field-{spec.key}", compact=True,
                        )
                    else:
                        yield Input(value=spec.value, placeholder=spec.placeholder, max_length=spec.max_length,
                                    id=f"field-{spec.key}", compact=True, select_on_focus=not spec.completes)
                yield Static("", id=f"error-{spec.key}", classes="form-error", markup=False)
            yield Static("", id="form-message", classes="form-error", markup=False)
            yield Button("Enregistrer (Ctrl+S)", id="form-save", variant="primary")
        yield KeyBar()

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#field-{self.fields[0].key}").focus()
        remember_fields(self)

    def values(self) -> dict[str, str]:
        """The current value of every field, as text."""
        out: dict[str, str] = {}
        for spec in self.fields:
            widget = self.query_one(f"#field-{spec.key}")
            if isinstance(widget, Select):
                out[spec.key] = "" if widget.value is Select.NULL else str(widget.value)
            else:
                out[spec.key] = widget.value
        return out

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        keys = [f"field-{spec.key}" for spec in self.fields]
        if event.input.id == keys[-1]:
            self.action_submit()
        else:
            self.focus_next()

    @on(Button.Pressed, "#form-save")
    def _save_pressed(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        self.run_submit(self.values())

    def action_cancel(self) -> None:
        leave_form(self, lambda: self.dismiss(None))

    def show_errors(self, errors: dict[str, str], general: str = "") -> None:
        """Put each French message under its field; others in the general message line."""
        unplaced = dict(errors)
        first_bad = None
        for spec in self.fields:
            message = ""
            for key in (spec.key, *spec.aliases):
                if key in unplaced:
                    message = unplaced.pop(key)
                    break
            error = self.query_one(f"#error-{spec.key}", Static)
            error.update(message)
            error.set_class(bool(message), "-shown")
            if message and first_bad is None:
                first_bad = spec.key
        rest = [*unplaced.values(), general] if general else list(unplaced.values())
        box = self.query_one("#form-message", Static)
        box.update("\n".join(m for m in rest if m))
        box.set_class(bool(box.content), "-shown")
        if first_bad is not None:
            self.query_one(f"#field-{first_bad}").focus()

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """A refusal of the service: each field's message under it, the others above the button."""
        if isinstance(error, ValidationError) and error.errors:
            self.show_errors(error.errors)
        else:
            self.show_errors({}, error.message)
        return True

    @work(exclusive=True, group="form", exit_on_error=False)
    async def run_submit(self, values: dict[str, str]) -> None:
        self.dismiss(await self.submit(values))


class IdentifierModal(ModalScreen[None]):
    """Shows the identifier of a new account beside the person it belongs to: selectable, copied with `c`.

    For an account an administrator created, the e-mail holds only the temporary password: the creator
    hands the identifier over. A principal administrator registered by the CDC also receives it by
    e-mail (`identifier_mailed`). Nobody here ever sees the password.
    """

    DEFAULT_CSS = """
    IdentifierModal { align: center middle; }
    IdentifierModal > Vertical {
        width: 64; max-width: 100%; height: auto; border: thick $success; background: $surface; padding: 1 2;
    }
    IdentifierModal #identifier-value { text-style: bold; width: 100%; content-align: center middle; margin: 1 0; }
    IdentifierModal #identifier-field { margin-bottom: 1; }
    """

    BINDINGS = [
        Binding("c", "copy", "Copier", tooltip="Copier l'identifiant dans le presse-papiers", id="identifier-copy"),
        Binding("escape", "close", "Fermer", tooltip="Fermer", id="identifier-close"),
    ]

    def __init__(
        self, title: str, identifier: str, who: str, *, email: str = "", identifier_mailed: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.identifier = identifier
        self.who = who
        self.email = email
        self.identifier_mailed = identifier_mailed

    def compose(self) -> ComposeResult:
        person = f"{self.who} ({self.email})" if self.email else self.who
        if self.identifier_mailed:
            advice = (
                f"{self.who} reçoit aussi ses identifiants par courriel : cet identifiant et un mot de passe "
                "temporaire, que vous ne voyez jamais."
            )
        else:
            advice = (
                f"Transmettez vous-même cet identifiant à {self.who} : il ne figure pas dans le courriel, "
                "qui ne contient que le mot de passe temporaire (vous ne le voyez jamais)."
            )
        with Vertical():
            yield Static(self.title_text, id="identifier-title", markup=False)
            yield Static(f"Identifiant de {person} :", id="identifier-person", markup=False)
            yield Static(self.identifier, id="identifier-value", markup=False)
            yield Input(self.identifier, id="identifier-field", compact=True, select_on_focus=True)
            yield Static(advice, id="identifier-advice", markup=False)
            yield Button("Fermer (Entrée)", id="identifier-ok", variant="primary")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#identifier-ok", Button).focus()

    @on(Input.Changed, "#identifier-field")
    def _keep_identifier(self, event: Input.Changed) -> None:
        if event.value != self.identifier:
            event.input.value = self.identifier

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.identifier)
        self.notify("Identifiant copié dans le presse-papiers.", title="Copie")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
