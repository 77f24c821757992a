"""The key bar at the bottom of every screen: one widget, one line, redrawn when the keys change.

Textual's `Footer` builds one widget per key and rebuilds them all (a second layout, a second drawing)
every time the screen's keys change, for instance each time a screen is shown. On the home screen
that was a third of the time between the end of the password check and the home screen drawn. The key
bar shows the same keys (those declared with `show=True`, one per action, the command palette key on
the right) from a single `render`: no child widget, nothing to lay out again.

Mouse: a click on a key presses it (a disabled key rings the bell); hovering a key shows its tooltip.
When the keys do not fit, the last ones are left out whole and `…` says so (F1 lists every key).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widget import Widget

from screens.widgets.console import glyph


@dataclass(frozen=True)
class KeyItem:
    """One shown key: where it is drawn on the bar and what it does."""

    key: str
    display: str
    description: str
    tooltip: str
    enabled: bool
    start: int = 0
    end: int = 0
    described: bool = True
    """Drawn with its description (False: the key alone, see `KeyBar.described`)."""


class KeyBar(Widget):
    """The shown keys of the screen, in one line docked at the bottom (replaces Textual's Footer)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--disabled", "keybar--hover",
                         "keybar--separator"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--disabled {
            text-style: dim;
        }
        & > .keybar--hover {
            background: $block-hover-background;
        }
        & > .keybar--separator {
            color: $foreground 20%;
        }
    }
    """

    MORE = "…"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes=classes)
        self._items: list[KeyItem] = []
        self._hover: int | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:  # noqa: ANN001 - the signal's argument
        self.refresh()

    # -- what is shown -----------------------------------------------------------------------------------
    def shown_keys(self) -> tuple[list[KeyItem], KeyItem | None]:
        """(keys on the left in declaration order, the command palette key or None)."""
        app = self.app
        active = self.screen.active_bindings
        seen: set[str] = set()
        keys: list[KeyItem] = []
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append(KeyItem(binding.key, glyph(app.get_key_display(binding)), binding.description,
                                tooltip or binding.tooltip or binding.description, enabled))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and getattr(app, "use_command_palette", True):
            entry = active.get(app.COMMAND_PALETTE_BINDING)
            if entry is not None:
                _node, binding, enabled, tooltip = entry
                palette = KeyItem(binding.key, app.get_key_display(binding), binding.description,
                                  binding.tooltip or binding.description, enabled)
                keys = [item for item in keys if item.key != binding.key]
        return keys, palette

    def render(self) -> Text:
        width = self.size.width
        keys, palette = self.shown_keys()
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        text_style = self.get_component_rich_style("keybar--description", partial=True)
        dim = self.get_component_rich_style("keybar--disabled", partial=True)
        hover = self.get_component_rich_style("keybar--hover", partial=True)

        def cells(item: KeyItem, *, lead: str = " ") -> list[tuple[str, object]]:
            key_part = f"{lead}{item.display} "
            text_part = f"{item.description} " if item.description else ""
            parts = [(key_part, key_style), (text_part, text_style)]
            extra = dim if not item.enabled else None
            return [(part, style + extra if extra else style) for part, style in parts if part]

        palette_parts = cells(palette, lead="") if palette is not None else []
        palette_width = (1 + sum(cell_len(part) for part, _ in palette_parts)) if palette_parts else 0
        room = width - palette_width
        text = Text(no_wrap=True, overflow="crop", end="")
        placed: list[KeyItem] = []

        def draw(parts: list[tuple[str, object]]) -> None:
            """Append the parts of the key about to be placed (highlighted under the mouse)."""
            hovered = len(placed) == self._hover
            for part, style in parts:
                text.append(part, style=style + hover if hovered else style)

        described = self.described(keys, room)
        position = 0
        shown = [item for item in keys if item.key in described] + [item for item in keys if item.key not in described]
        for index, item in enumerate(shown):
            parts = cells(item) if item.key in described else [(f" {item.display}", key_style + dim if not item.enabled else key_style)]
            size = sum(cell_len(part) for part, _ in parts)
            last = index == len(shown) - 1
            if position + size + (0 if last else len(self.MORE)) > room:
                text.append(self.MORE, style=text_style)
                position += len(self.MORE)
                break
            draw(parts)
            placed.append(replace(item, start=position, end=position + size, described=item.key in described))
            position += size
        if palette is not None:
            gap = max(0, width - palette_width - position)
            text.append(" " * gap)
            start = position + gap
            text.append(glyph("▏"), style=self.get_component_rich_style("keybar--separator", partial=True))
            draw(palette_parts)
            placed.append(replace(palette, start=start + 1, end=start + palette_width))
        self._items = placed
        return text

    def described(self, keys: list[KeyItem], room: int) -> set[str]:
        """The keys drawn with their description; the others are drawn bare (key only), after them.

        Keys are taken by importance until the descriptions no longer fit: first the screen's and the
        focused widget's keys that can act now, in the order the screen declares them (its first
        BINDINGS matter most), then those greyed out now, then the App's (Quitter, Aide...). A key
        left without its description is still shown, so every key stays visible; F1 or ? says what
        each one does.
        """
        app_keys = {binding.key for binding in self.app.BINDINGS if hasattr(binding, "key")}
        order = sorted(range(len(keys)), key=lambda i: (keys[i].key in app_keys, not keys[i].enabled, i))

        def full(item: KeyItem) -> int:
            return cell_len(f" {item.display} ") + (cell_len(f"{item.description} ") if item.description else 0)

        def bare(item: KeyItem) -> int:
            return cell_len(f" {item.display}")

        width = sum(bare(item) for item in keys)
        chosen: set[str] = set()
        for index in order:
            item = keys[index]
            grown = width - bare(item) + full(item)
            if grown > room:
                break
            width = grown
            chosen.add(item.key)
        return chosen

    # -- mouse ---------------------------------------------------------------------------------------------
    def item_at(self, x: int) -> int | None:
        """Index (in the last drawing) of the key drawn at column `x`, or None."""
        for index, item in enumerate(self._items):
            if item.start <= x < item.end:
                return index
        return None

    def on_click(self, event: events.Click) -> None:
        index = self.item_at(event.x)
        if index is None:
            return
        event.stop()
        item = self._items[index]
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = self.item_at(event.x)
        if index != self._hover:
            self._hover = index
            self.tooltip = self._items[index].tooltip if index is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()
