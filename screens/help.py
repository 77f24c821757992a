"""Help (F1 or ?): every key of the current screen with what it does, in French, and the CDC contact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.keys import key_to_character
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

CDC_CONTACT = (
    "Caisse des dépôts",
    "Compte personnel de formation",
    "24 rue Louis Gain",
    "49939 ANGERS Cedex 9",
    "Courriel : CPF-gestion@caissedesdepots.fr",
)

SCREEN, GENERAL, MOVING = "Touches de cet écran", "Touches disponibles partout", "Se déplacer et saisir"

# French wording of the keys Textual's own widgets bring (by action name, namespace removed).
BUILTIN_ACTIONS: dict[str, str] = {
    "focus_next": "Élément suivant",
    "focus_previous": "Élément précédent",
    "cursor_up": "Ligne précédente",
    "cursor_down": "Ligne suivante",
    "cursor_left": "Vers la gauche",
    "cursor_right": "Vers la droite",
    "cursor_left_word": "Mot précédent",
    "cursor_right_word": "Mot suivant",
    "scroll_up": "Faire défiler vers le haut",
    "scroll_down": "Faire défiler vers le bas",
    "scroll_left": "Faire défiler vers la gauche",
    "scroll_right": "Faire défiler vers la droite",
    "page_up": "Page précédente",
    "page_down": "Page suivante",
    "page_left": "Page de gauche",
    "page_right": "Page de droite",
    "first": "Aller au début",
    "scroll_home": "Aller au début",
    "scroll_top": "Aller au début",
    "home": "Aller au début",
    "last": "Aller à la fin",
    "scroll_end": "Aller à la fin",
    "scroll_bottom": "Aller à la fin",
    "end": "Aller à la fin",
    "select": "Choisir",
    "select_cursor": "Choisir",
    "press": "Choisir",
    "submit": "Valider la saisie",
    "show_overlay": "Ouvrir la liste",
    "delete_left": "Effacer à gauche",
    "delete_right": "Effacer à droite",
    "delete_left_word": "Effacer le mot à gauche",
    "delete_right_word": "Effacer le mot à droite",
    "delete_left_all": "Effacer tout à gauche",
    "delete_right_all": "Effacer tout à droite",
    "select_all": "Tout sélectionner",
    "copy": "Copier la sélection",
    "copy_text": "Copier la sélection",
    "cut": "Couper la sélection",
    "paste": "Coller",
    "toggle": "Cocher / décocher",
    "dismiss": "Fermer la liste",
}

KEY_NAMES = {
    "enter": "Entrée",
    "escape": "Échap",
    "tab": "Tab",
    "space": "Espace",
    "backspace": "Retour arrière",
    "delete": "Suppr",
    "insert": "Inser",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "Page préc.",
    "pagedown": "Page suiv.",
    "home": "Début",
    "end": "Fin",
    "slash": "/",
    "question_mark": "?",
}
MODIFIERS = {"ctrl": "Ctrl", "shift": "Maj", "alt": "Alt", "super": "Super", "meta": "Méta"}


def key_label(key: str) -> str:
    """How a key is written for a French user: `ctrl+q` → `Ctrl+Q`, `question_mark` → `?`."""
    *modifiers, name = key.split("+")
    if name in KEY_NAMES:
        shown = KEY_NAMES[name]
    elif len(name) > 1 and name[0] == "f" and name[1:].isdigit():
        shown = name.upper()
    else:
        shown = key_to_character(name) or name
        if modifiers and len(shown) == 1:
            shown = shown.upper()
    return "+".join([MODIFIERS.get(m, m.capitalize()) for m in modifiers] + [shown])


@dataclass(frozen=True)
class KeyHelp:
    """One line of help: the keys, what they do, and where they apply."""

    keys: str
    description: str
    section: str
    enabled: bool = True


def _builtin(node: object, action: str) -> bool:
    """Whether the nearest class declaring this key is Textual's, also on our subclasses of its widgets
    (TypeAheadInput); a key we redeclare (Ctrl+Q on the App) is ours."""
    for cls in type(node).__mro__:
        for declared in cls.__dict__.get("BINDINGS", ()):
            declared_action = declared.action if isinstance(declared, Binding) else declared[1]
            if declared_action.rsplit(".", 1)[-1].split("(", 1)[0] == action:
                return cls.__module__.startswith("textual.")
    return type(node).__module__.startswith("textual.")


def keys_of(screen: Screen) -> list[KeyHelp]:
    """The keys active on `screen` right now (its own, its focused widget's and the App's), in French.

    Read from the public `Screen.active_bindings`: actions hidden by `check_action` are left out,
    greyed ones are marked as unavailable.
    """
    grouped: dict[tuple[str, str], list[str]] = {}
    enabled_of: dict[tuple[str, str], bool] = {}
    app = screen.app
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if binding.system:
            continue
        action = binding.action.rsplit(".", 1)[-1].split("(", 1)[0]
        if _builtin(active.node, action) or binding.description in _ENGLISH_DEFAULTS:
            # A key Textual itself provides: shown in French, or not at all.
            if action == "command_palette":
                description, section = "Palette de commandes", GENERAL
            elif action in BUILTIN_ACTIONS:
                description, section = BUILTIN_ACTIONS[action], MOVING
            else:
                continue
        else:
            description = binding.description or binding.tooltip or action
            if binding.tooltip and binding.tooltip != description:
                description = f"{description} — {binding.tooltip}"
            section = GENERAL if active.node is app else SCREEN
        shown = binding.key_display or key_label(key)
        slot = (section, description)
        grouped.setdefault(slot, [])
        if shown not in grouped[slot]:
            grouped[slot].append(shown)
        enabled_of[slot] = enabled_of.get(slot, False) or active.enabled
    order = {SCREEN: 0, GENERAL: 1, MOVING: 2}
    lines = [KeyHelp(" / ".join(keys), description, section, enabled_of[(section, description)])
             for (section, description), keys in grouped.items()]
    return sorted(lines, key=lambda line: order[line.section])


# Descriptions Textual gives its own bindings on the Screen and App base classes (English).
_ENGLISH_DEFAULTS = frozenset({"Focus Next", "Focus Previous", "Copy selected text", "Quit", "palette"})


def _sections(lines: list[KeyHelp]) -> list[tuple[str, list[KeyHelp]]]:
    return [(section, [line for line in lines if line.section == section]) for section in (SCREEN, GENERAL, MOVING)
            if any(line.section == section for line in lines)]


def help_text(title: str, lines: list[KeyHelp], intro: str = "") -> Text:
    """The whole help as plain Rich Text (user-facing strings are never parsed as markup)."""
    text = Text()
    text.append(f"Aide — {title}\n", style="bold")
    if intro:
        text.append(f"{intro}\n")
    for section, section_lines in _sections(lines):
        text.append(f"\n{section}\n", style="bold underline")
        for line in section_lines:
            text.append(f"  {line.keys}  ", style="bold" if line.enabled else "dim")
            text.append(line.description, style="" if line.enabled else "dim")
            if not line.enabled:
                text.append(" (indisponible)", style="dim")
            text.append("\n")
    text.append("\nContact\n", style="bold underline")
    for contact_line in CDC_CONTACT:
        text.append(f"  {contact_line}\n")
    return text


def help_renderable(title: str, lines: list[KeyHelp], intro: str = "") -> Group:
    """The same help laid out in two columns (keys, what they do) for the modal."""
    parts: list[Any] = [Text(f"Aide — {title}", style="bold")]
    if intro:
        parts.append(Text(intro))
    for section, section_lines in _sections(lines):
        parts.append(Text(f"\n{section}", style="bold underline"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=8, max_width=24)
        grid.add_column(ratio=1)
        for line in section_lines:
            description = Text(line.description, style="" if line.enabled else "dim")
            if not line.enabled:
                description.append(" (indisponible)", style="dim")
            grid.add_row(Text(line.keys, style="bold" if line.enabled else "dim"), description)
        parts.append(grid)
    parts.append(Text("\nContact", style="bold underline"))
    parts.append(Text("\n".join(CDC_CONTACT)))
    return Group(*parts)


class HelpModal(ModalScreen[None]):
    """The help of one screen, as a modal; Échap, Entrée, F1 or ? closes it."""

    DEFAULT_CSS = """
    HelpModal { align: center middle; }
    HelpModal > Vertical {
        width: 76; max-width: 100%; height: 22; max-height: 100%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    HelpModal #help-scroll { height: 1fr; }
    HelpModal #help-footer { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "close", "Fermer", tooltip="Fermer l'aide", id="help-close"),
        Binding("enter", "close", "Fermer", tooltip="Fermer l'aide", id="help-close-enter", show=False),
        Binding("f1", "close", "Fermer", tooltip="Fermer l'aide", id="help-close-f1", show=False),
        Binding("question_mark", "close", "Fermer", tooltip="Fermer l'aide", id="help-close-question-mark",
                show=False),
    ]

    def __init__(self, title: str, lines: list[KeyHelp], intro: str = "") -> None:
        super().__init__()
        self.help_title = title
        self.lines = lines
        self.intro = intro

    @classmethod
    def for_screen(cls, screen: Screen) -> HelpModal:
        """The help of `screen` (read before the modal covers it)."""
        title = getattr(screen, "HELP_TITLE", "") or screen.title or screen.app.title
        return cls(str(title), keys_of(screen), str(getattr(screen, "HELP_TEXT", "") or ""))

    @property
    def content(self) -> Text:
        return help_text(self.help_title, self.lines, self.intro)

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="help-scroll"):
                yield Static(help_renderable(self.help_title, self.lines, self.intro), id="help-text", markup=False)
            yield Static("↑ ↓ Page préc./suiv. : faire défiler   Échap : fermer", id="help-footer", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
