"""Échap on a form whose fields were changed asks before throwing the input away (one rule, every form).

A form remembers its fields' values once it is shown (`remember_fields`); `leave_form` then closes it at
once when nothing changed, and otherwise asks "Abandonner vos modifications ?" (`n`/Échap: back to
the form, input kept; `o`: closed).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen
from textual.widgets import Input, Select, TextArea

DISCARD_QUESTION = "Abandonner vos modifications ? Ce que vous avez saisi n'est pas enregistré."
_REMEMBERED = "_cpf_fields_at_open"


def field_values(screen: Screen[object]) -> dict[str, object]:
    """The value of every input, choice list and text area of `screen`, by id."""
    values: dict[str, object] = {}
    for index, widget in enumerate(screen.query("Input, Select, TextArea")):
        key = widget.id or f"#{index}"
        if isinstance(widget, Input | Select):
            values[key] = widget.value
        elif isinstance(widget, TextArea):
            values[key] = widget.text
    return values


def remember_fields(screen: Screen[object]) -> None:
    """Take the values shown now as the form's unchanged state (call once the form is filled in)."""
    setattr(screen, _REMEMBERED, field_values(screen))


def form_changed(screen: Screen[object]) -> bool:
    """Whether a field differs from what `remember_fields` saw (True if it never ran: ask to be safe)."""
    remembered = getattr(screen, _REMEMBERED, None)
    return remembered is None or remembered != field_values(screen)


def leave_form(screen: Screen[object], close: Callable[[], object]) -> None:
    """Close with `close()` now if nothing changed, else after the user confirms."""
    from screens.modals import ConfirmModal

    if not form_changed(screen):
        close()
        return

    def answered(discard: bool | None) -> None:
        if discard:
            close()

    screen.app.push_screen(ConfirmModal(DISCARD_QUESTION, "Abandonner", "Continuer la saisie"), answered)
