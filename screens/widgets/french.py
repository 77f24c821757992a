"""French wording for the keys Textual's own widgets would show in English.

Textual declares them on its classes ("Dismiss menu" on the drop-down list of a `Select`, "Exit the command
palette"); they are reworded once, at start, before any widget exists. A key Textual no longer declares is
left alone rather than added.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets._select import SelectOverlay

FRENCH_DESCRIPTIONS: dict[type, dict[str, str]] = {
    SelectOverlay: {"dismiss": "Fermer la liste"},
    CommandPalette: {"escape": "Fermer la palette"},
}


def use_french_descriptions() -> None:
    """Give Textual's shown keys their French description (idempotent)."""
    for cls, wording in FRENCH_DESCRIPTIONS.items():
        bindings: list[Binding] = []
        for declared in cls.__dict__.get("BINDINGS", []):
            binding = declared if isinstance(declared, Binding) else Binding(*declared)
            if binding.action in wording:
                binding = Binding(binding.key, binding.action, wording[binding.action], show=binding.show,
                                  key_display=binding.key_display, priority=binding.priority,
                                  tooltip=binding.tooltip, id=binding.id, system=binding.system)
            bindings.append(binding)
        cls.BINDINGS = bindings
        cls._merged_bindings = cls._merge_bindings()  # noqa: SLF001 - computed once per class by Textual
