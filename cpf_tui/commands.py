"""The command palette (Ctrl+P): the user's actions by their French name, only those it may do.

It replaces Textual's default (English) system commands. Rights come from the capability table
(`permissions.can` through `screens.sections.sections_for`) and the current screen's `check_action`;
hiding here is a convenience, the services still check every call.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content


@dataclass(frozen=True)
class PaletteCommand:
    """One entry of the palette."""

    name: str
    help: str
    callback: Callable[[], Any]


def _open_section(app: Any, factory: Callable[[], Any]) -> None:
    app.push_screen(factory())


def _screen_commands(screen: Any) -> Iterator[PaletteCommand]:
    """The current screen's own actions that its `check_action` allows (not greyed, not hidden)."""
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if active.node is not screen or not active.enabled or binding.system:
            continue
        if not binding.description or binding.action in seen or "(" in binding.action:
            continue  # an action with arguments (home's 1-9) is a shortcut to what the palette lists by name
        if binding.description in {"Focus Next", "Focus Previous", "Copy selected text"}:
            continue  # Textual's own Screen keys, in English
        seen.add(binding.action)
        yield PaletteCommand(
            binding.description,
            binding.tooltip or binding.description,
            partial(screen.run_action, binding.action),
        )


def commands_for(app: Any, screen: Any) -> list[PaletteCommand]:
    """Everything the palette offers on `screen` to the logged-in user (or to nobody yet)."""
    commands: list[PaletteCommand] = list(_screen_commands(screen))
    session = getattr(app, "session", None)
    if session is not None:
        from screens.sections import sections_for

        # Before the first-login steps are done, the services refuse everything: nothing to open.
        for section in [] if session.first_login_pending else sections_for(session):  # "Changer mon mot de passe" is one of them
            commands.append(PaletteCommand(
                section.label, f"Ouvrir : {section.description}", partial(_open_section, app, section.factory)
            ))
        commands.append(PaletteCommand(
            "Se déconnecter", "Fermer la session et revenir à l'écran de connexion",
            partial(app.logout, "Vous êtes déconnecté."),
        ))
    commands.append(PaletteCommand("Aide", "Touches de cet écran et contact de la Caisse des dépôts", app.action_help))
    commands.append(PaletteCommand("Quitter l'application", "Quitter (confirmation demandée)", app.action_quit))
    unique: dict[str, PaletteCommand] = {}
    for command in commands:
        unique.setdefault(command.name, command)
    return list(unique.values())


def fold(text: str) -> str:
    """`text` without accents, in lower case, one character for one (so highlights stay in place)."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    folded = bare.lower()
    return folded if len(folded) == len(text) else text.lower()


def _highlighted(original: str, highlight: Content) -> Content:
    """`original` (never markup) with the highlight spans found on its folded form."""
    if highlight.plain != fold(original):
        return Content(original)
    return Content(original, spans=list(highlight.spans))


class CpfCommands(Provider):
    """The cpf-tui commands, in French, filtered by the user's rights."""

    async def discover(self) -> Hits:
        for command in commands_for(self.app, self.screen):
            yield DiscoveryHit(Text(command.name), command.callback, text=command.name, help=command.help)

    async def search(self, query: str) -> Hits:
        """Matched without accents or case, on the name (fuzzy, highlighted) or, after, on every word of
        the query found in the name or the description ("mot de passe" finds « Régénérer »)."""
        folded_query = fold(query)
        matcher = self.matcher(folded_query)
        words = folded_query.split()
        found = False
        for command in commands_for(self.app, self.screen):
            name = fold(command.name)
            score = matcher.match(name)
            if score > 0:
                found = True
                yield Hit(score, _highlighted(command.name, matcher.highlight(name)), command.callback,
                          help=command.help)
            elif words and all(word in f"{name} {fold(command.help)}" for word in words):
                found = True
                yield Hit(0.05, Text(command.name), command.callback, help=command.help)
        if not found and query.strip():
            # Said in French here, so that Textual's English "No matches found" never shows.
            yield Hit(
                0.01, Text(f"Aucune commande ne correspond à « {query.strip()} »"),
                partial(self.app.notify, "Aucune commande ne correspond à votre recherche.", title="Commandes"),
                help="Essayez un autre mot, ou Échap pour fermer",
            )
