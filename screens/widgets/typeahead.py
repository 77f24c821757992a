"""Keys typed ahead reach the widget that has the focus once the keys before them have acted.

Textual queues keys on the widget focused when they arrive: typing "identifier, Enter, password"
without pausing would put the password, in clear, into the identifier field; "n" then "abc" on a list
went to the list instead of the form "n" opens. The one mechanism is the App's `KeyGate` (below): every
key from the terminal waits until the previous one has had all its effects (focus moved, screen opened
and focused) before it is delivered. `TypeAheadInput` keeps the same promise for keys already queued on
the field itself (posted to it directly): it moves the focus at once on Enter and Tab and hands such
keys on to the new focus.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual import events
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode
    from textual.widget import Widget
    from textual.widgets import Label


class TypeAheadInput(Input):
    """Input whose Enter (submit, then next field) and Tab move the focus at once; queued keys follow."""

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # Typed before the focus moved: hand it over, in order, to the new focus.
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("enter", "tab"):
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                await self.action_submit()
            # Enter, like Tab, goes on to the next field: set now, before the next queued key.
            self.screen.focus_next()
            return
        await super()._on_key(event)


FOCUSED_LABEL_CLASS = "-focused-field"
"""Class of the label of the focused field (reverse video in app.tcss)."""


def field_label(widget: Widget) -> Label | None:
    """The label naming `widget`: the nearest Label before it among its siblings (None: it has none)."""
    from textual.widgets import Label

    parent = widget.parent
    if parent is None:
        return None
    siblings = list(parent.children)
    for sibling in reversed(siblings[: siblings.index(widget)]):
        if isinstance(sibling, Label):
            return sibling
        if sibling.focusable:
            return None
    return None


def mark_field_label(focused: Widget) -> None:
    """Mark the label of the newly focused field of its screen, and only it."""
    try:
        screen = focused.screen
    except Exception:  # already removed
        return
    for marked in screen.query(f".{FOCUSED_LABEL_CLASS}"):
        marked.remove_class(FOCUSED_LABEL_CLASS)
    label = field_label(focused)
    if label is not None:
        label.add_class(FOCUSED_LABEL_CLASS)


class KeyGate:
    """The App's keys, delivered one at a time, each once the previous one has had all its effects.

    SSH delivers keys in bursts, and Textual hands each key to the widget focused *when it arrives*:
    "n" then "abc" went to the list that "n" was about to leave, and keys typed while a form opened
    were lost or went to the screen underneath. The gate holds every key (and paste) in arrival order
    and delivers the next one only when the messages the previous one caused have all been handled:
    the field it left (Enter, Tab), the screen it opened or closed (composed, mounted, its field
    focused). Held keys are thus replayed to whichever widget has the focus by then, never lost.

    "Handled" is observed through public Textual APIs: a round posts a callback to each node that may
    still be working (`call_later` runs after the messages already queued there); when every callback
    has run, the screen and focus are unchanged and no queue holds a message, the App is at rest.
    A round that never ends (a handler stuck on a dead database) releases the keys after
    SAFETY_SECONDS (long: a loaded machine makes rounds slow, never wrong); priority keys (Ctrl+Q) act at
    once meanwhile. A stream of messages that never stops releases them after MAX_ROUNDS rounds.

    On a screen that declares a search box (`TYPE_TO_SEARCH`, an Input's selector), a printable key
    that is no action of the focused list (table or tree) starts the search: the box takes the focus
    and the key ("competences" typed on the Organismes list no longer opens the operator form at "o").
    """

    MAX_ROUNDS = 24
    SAFETY_SECONDS = 30.0

    def __init__(self, app: App[object], deliver: Callable[[events.Event], Awaitable[None]]) -> None:
        self.app = app
        self._deliver = deliver
        self._held: deque[events.Event] = deque()
        self._round = 0
        """Number of the round in progress (0: none); callbacks of an abandoned round are ignored."""
        self._waiting = 0
        self._rounds_for_key = 0
        self._round_started = 0.0
        self._before: tuple[object, object] = (None, None)
        self._search_tried: events.Key | None = None
        self.rounds_total = 0
        """Rounds run since the App started (bench/typeahead.py reports it per key)."""

    @property
    def busy(self) -> bool:
        return self._round != 0

    @property
    def pending(self) -> bool:
        """Whether keys are held or the last one delivered has not finished acting (the tests settle on it)."""
        return self.busy or bool(self._held)

    async def receive(self, event: events.Event) -> None:
        """A key or paste from the terminal: delivered now when the App is at rest, else held."""
        if self.busy and isinstance(event, events.Key) and self._is_priority(event):
            await self._deliver(event)  # Ctrl+Q and the like act at once, even behind a stuck handler
            return
        self._held.append(event)
        if self.busy and time.monotonic() - self._round_started > self.SAFETY_SECONDS:
            self._round = 0  # abandon the stuck round: keys go on being delivered
        if not self.busy:
            await self._deliver_next()

    def _is_priority(self, event: events.Key) -> bool:
        try:
            active = self.app.screen.active_bindings.get(event.key)
        except Exception:  # no screen
            return False
        return active is not None and active.binding.priority

    async def _deliver_next(self, *, force: bool = False) -> None:
        if not self._held:
            return
        app = self.app
        if not force and not self._ready():
            # A screen opened by other means than a key (a worker, the App) is still starting: the key
            # waits for it as it would for one opened by the previous key.
            self._rounds_for_key = 0
            focused = app.focused
            self._start_round([app.screen, *(focused.ancestors_with_self if focused is not None else [])])
            return
        event = self._held.popleft()
        if isinstance(event, events.Key) and self._start_search(event):
            self._held.appendleft(event)  # delivered to the search box once it has the focus
        else:
            await self._deliver(event)
        if not app.is_running:
            return
        self._rounds_for_key = 0
        focused = app.focused
        self._start_round([*(focused.ancestors_with_self if focused is not None else [app.screen, app])])

    def _start_search(self, event: events.Key) -> bool:
        """Give a printable key that is no action of the screen to its search box (see class doc)."""
        from textual.widgets import DataTable, Tree

        screen = self.app.screen
        selector = getattr(screen, "TYPE_TO_SEARCH", "")
        if not selector or not event.is_printable or not isinstance(self.app.focused, DataTable | Tree):
            return False
        if self._search_tried is event:  # the box could not take the focus: the key goes where it is
            return False
        binding = screen.active_bindings.get(event.key)
        if binding is not None:
            return False
        boxes = screen.query(selector)
        if not boxes or not isinstance(boxes.first(), Input):
            return False
        self._search_tried = event
        boxes.first().focus()
        return True

    def _start_round(self, nodes: list[DOMNode]) -> None:
        """Follow each node's queue, then its parent's, up to the App (where a key ends its bubbling)."""
        app = self.app
        self._round += 1
        self._rounds_for_key += 1
        self.rounds_total += 1
        number = self._round
        self._round_started = time.monotonic()
        self._before = (app.screen, app.focused)
        self._waiting = 0
        seen: set[int] = set()
        for node in (*nodes, app):
            if id(node) not in seen:
                seen.add(id(node))
                self._waiting += 1
                self._step(node, number, first=True)

    def _step(self, node: DOMNode, number: int, *, first: bool = False) -> None:
        """Run after the messages queued on `node` so far; then the same on its parent."""
        if number != self._round:
            return
        if first:
            if node.call_later(self._step, node, number):
                return
        else:
            parent = node.parent if node is not self.app else None
            if parent is not None and parent.call_later(self._step, parent, number):
                return
        self._waiting -= 1
        if self._waiting == 0:
            # The checks and the next key run in the App's own task.
            self.app.call_later(self._round_done, number)

    async def _round_done(self, number: int) -> None:
        if number != self._round:
            return
        app = self.app
        try:
            screen = app.screen
        except Exception:  # no screen left: the App is closing
            self._round = 0
            return
        busy = [node for node in (screen, *screen.walk_children()) if node.message_queue_size]
        moved = self._before != (screen, app.focused)
        if (busy or moved or app.message_queue_size) and self._rounds_for_key < self.MAX_ROUNDS:
            focused = app.focused
            chain = list(focused.ancestors_with_self) if focused is not None else [screen]
            self._start_round([*busy, screen, *chain])
            return
        self._round = 0
        await self._deliver_next(force=self._rounds_for_key >= self.MAX_ROUNDS)

    def _ready(self) -> bool:
        """Whether the screen shown has started and nothing waits in the queues a key would go through."""
        app = self.app
        try:
            screen = app.screen
        except Exception:  # no screen yet or any more
            return True
        if not screen.is_mounted:
            return False
        focused = app.focused
        chain = focused.ancestors_with_self if focused is not None else [screen]
        return not any(node.message_queue_size for node in chain if node is not app)
