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

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import events
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker
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


def call_later_known(node: DOMNode, function: Callable[..., Any], *args: object) -> bool:
    """`node.call_later(function, *args)`, without Textual reading `function`'s signature at each call.

    `call_later` wraps a new `functools.partial` every time, and Textual's callback invoker caches the
    count of parameters on the object it is given (the partial) but reads the wrapped method's
    signature (`inspect.signature`) for every new partial: 15 times a typed key for the gate's rounds,
    1.5–2 ms of a typed key's 6–7 ms. The partial here carries its count (no parameter left to pass).
    """
    callback = partial(function, *args)
    callback._param_count = 0  # type: ignore[attr-defined]  # read by textual._callback.count_parameters
    return node.post_message(events.Callback(callback=callback))


def screen_work(app: App[object]) -> list[Worker[object]]:
    """The work of the screen shown still running: its own workers, not its `BACKGROUND_WORKERS` groups
    (an import shown by a progress bar), nor a widget's (a DirectoryTree's loader runs for ever) or the
    App's (the home prepared while the login is typed, the session's activity)."""
    from textual.worker import WorkerState

    try:
        shown = app.screen
    except Exception:  # no screen any more
        return []
    background = getattr(shown, "BACKGROUND_WORKERS", ())
    return [worker for worker in app.workers if worker.node is shown and worker.group not in background
            and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)]


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

    A key's effects include the workers it started on the screen shown (a login's password check, a
    search's query, a form's save): the next key waits for them, so that "password, Enter, 2" opens
    home's section 2 and "NIR, Enter, Enter" opens the holder found. Not waited for: text typed on into
    the field the previous character went to (a search run at each key never slows typing); a worker
    once another screen is shown (one asking for a confirmation with `push_screen_wait`); widgets' and
    the App's own workers (a DirectoryTree's loader never ends, the home prepared during the login);
    the groups a screen declares in `BACKGROUND_WORKERS` (an import shown by a progress bar).

    On a screen that declares a search box (`TYPE_TO_SEARCH`, an Input's selector), a printable key
    that is no action of the focused list (table or tree) starts the search: the box takes the focus
    and the key ("competences" typed on the Organismes list no longer opens the operator form at "o").
    """

    MAX_ROUNDS = 24
    SAFETY_SECONDS = 30.0
    WORKER_POLL_SECONDS = 0.005
    """How often a held key looks again at the workers it waits for."""

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
        self._workers_before: set[int] = set()
        """Workers (by id) that existed when the last key was delivered: the others are its own."""
        self._last_typed_into: Widget | None = None
        """The field the last key typed a character into (None: it was no text typed into a field)."""
        self._waiter: asyncio.Task[None] | None = None
        """The task that lets held keys go once the last key's workers are done (a reference keeps it)."""
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
            # and no longer wait for the work still running (a worker stuck on a dead database).
            self._workers_before = {id(worker) for worker in self.app.workers}
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
        if not force and self._key_waits(self._held[0]):
            self._wait_for_workers()
            return
        event = self._held.popleft()
        if isinstance(event, events.Key) and self._start_search(event):
            self._held.appendleft(event)  # delivered to the search box once it has the focus
        else:
            self._workers_before = {id(worker) for worker in app.workers}
            self._last_typed_into = self._typed_into(event)
            await self._deliver(event)
        if not app.is_running:
            return
        self._rounds_for_key = 0
        focused = app.focused
        self._start_round([*(focused.ancestors_with_self if focused is not None else [app.screen, app])])

    def _workers_of_last_key(self) -> list[Worker[object]]:
        """Workers the last key started that still run on the screen shown (see the class doc)."""
        return [worker for worker in screen_work(self.app) if id(worker) not in self._workers_before]

    def _typed_into(self, event: events.Event) -> Widget | None:
        """The text field `event` types a character into (None: it is no text typed into a field)."""
        from textual.widgets import Input

        focused = self.app.focused
        if isinstance(event, events.Key) and event.is_printable and isinstance(focused, Input):
            return focused
        return None

    def _key_waits(self, event: events.Event) -> bool:
        """Whether `event` must wait for the workers of the key before it.

        Text typed on into the field the previous character went to does not wait (a search run at each
        key); any other key does, text included ("password, Enter, 2": the 2 is for home).
        """
        field = self._typed_into(event)
        if field is not None and field is self._last_typed_into:
            return False
        return bool(self._workers_of_last_key())

    def _wait_for_workers(self) -> None:
        """Hold the keys until the last key's workers are done, then let their effects settle."""
        self._round += 1
        self._round_started = time.monotonic()
        self._waiter = asyncio.get_running_loop().create_task(self._after_workers(self._round))

    async def _after_workers(self, number: int) -> None:
        while number == self._round and self._workers_of_last_key():
            await asyncio.sleep(self.WORKER_POLL_SECONDS)
        if number != self._round:
            return  # abandoned (SAFETY_SECONDS)
        self._rounds_for_key = 0
        focused = self.app.focused
        self._start_round([self.app.screen, *(focused.ancestors_with_self if focused is not None else [])])

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
        """Follow each node's queue, then its parent's, up to the App (where a key ends its bubbling).

        A walk from a node passes through all its ancestors, each after the messages queued there by
        then (later than the round's start, so at least those queued at the start): a node that is an
        ancestor of another one of the round is not walked from again. A focused field six levels
        down made 21 callbacks a round, 7 now."""
        app = self.app
        self._round += 1
        self._rounds_for_key += 1
        self.rounds_total += 1
        number = self._round
        self._round_started = time.monotonic()
        self._before = (app.screen, app.focused)
        self._waiting = 0
        starts = {id(node): node for node in (*nodes, app)}
        passed = {id(above) for node in starts.values() for above in node.ancestors}
        for key, node in starts.items():
            if key not in passed:
                self._waiting += 1
                self._step(node, number, first=True)

    def _step(self, node: DOMNode, number: int, *, first: bool = False) -> None:
        """Run after the messages queued on `node` so far; then the same on its parent."""
        if number != self._round:
            return
        if first:
            if call_later_known(node, self._step, node, number):
                return
        else:
            parent = node.parent if node is not self.app else None
            if parent is not None and call_later_known(parent, self._step, parent, number):
                return
        self._waiting -= 1
        if self._waiting == 0:
            # The checks and the next key run in the App's own task.
            call_later_known(self.app, self._round_done, number)

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
