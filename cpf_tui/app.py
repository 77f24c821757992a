"""The Textual App: global keys, theme, database start and stop, session state."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from cpf_tui.collector import RestCollector
from cpf_tui.config import Settings
from cpf_tui.errors import CpfError, SessionEnded
from cpf_tui.messages import CguAccepted, LoggedIn, LoggedOut, PasswordChanged, Unlocked
from cpf_tui.screen_memory import ScreenMemory
from cpf_tui.services.context import SessionInfo
from cpf_tui.services.context import RequestContext
from screens.widgets.typeahead import KeyGate

IDLE_CHECK_SECONDS = 5.0
"""How often the idle lock and the 12-hour limit are checked (a key press checks them too)."""
HANGUP_EXIT_SECONDS = 1.5
"""After SIGHUP or SIGTERM the process ends within this delay, even if its shutdown hangs."""
HANGUP_BACKSTOP_SECONDS = 0.1
"""After HANGUP_EXIT_SECONDS, the kernel ends the process if the watchdog thread could not (see `_start_hangup_watchdog`)."""
HANGUP_JOURNAL_SECONDS = 1.0
"""Longest wait for the journal entry of a hang-up (the watchdog comes after it)."""
TOUCH_INTERVAL_SECONDS = 60.0
"""Key presses re-check the session and record its last activity at most this often."""
OUTPUT_SWITCH_INTERVAL = 0.001
"""Seconds a Python thread may hold the interpreter before handing it over (Python's default: 0.005).

Textual writes each frame from its own output thread. While the App's thread is busy (removing the
login screen just after home is drawn, for instance), that thread waited up to 5 ms for each of its
steps (take the frame, encode it, write, flush): home reached the terminal 10 to 15 ms after it was
drawn. Set while the App runs, restored after (docs/security.md, § 10)."""


BENIGN_FAILURES: tuple[type[BaseException], ...] = (NoMatches,)
"""Failures reported by no message, when the worker's screen was closed while it ran (its widgets are gone)."""


def is_benign_failure(worker: Worker[object], error: BaseException | None) -> bool:
    """Whether a worker failure needs no report (see BENIGN_FAILURES)."""
    return isinstance(error, BENIGN_FAILURES) and not worker.node.is_attached


def _palette_commands() -> type:
    """The French command palette provider (imported when the palette first opens)."""
    from cpf_tui.commands import CpfCommands

    return CpfCommands


class CpfApp(App[int]):
    """Espace de gestion CPF, in the terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "Espace de gestion CPF"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quitter", tooltip="Quitter l'application (confirmation)", priority=True,
                id="app-quit"),
        # Priority: Textual stops the App's keys at a modal (confirmation, file picker, detail); help is
        # wanted there too. `?` gives way to a text field, where it is a character (action_help_key).
        Binding("f1", "help", "Aide", tooltip="Touches de cet écran et contact", priority=True, id="app-help"),
        Binding("question_mark", "help_key", "Aide", tooltip="Touches de cet écran et contact", show=False,
                priority=True, id="app-help-question-mark"),
        Binding("ctrl+p", "command_palette", "Commandes", tooltip="Rechercher une action par son nom",
                show=False, id="app-command-palette"),
        Binding("f2", "exercises", "Exercices", tooltip="Exercices de formation (mode formation)",
                id="app-exercises"),
        Binding("ctrl+l", "redraw", "Redessiner", tooltip="Redessiner tout l'écran (affichage abîmé)",
                show=False, id="app-redraw"),
    ]
    COMMANDS = {_palette_commands}

    def __init__(self, settings: Settings, *, request_context: RequestContext | None = None) -> None:
        from cpf_tui.textual_internals import (
            use_french_wrap,
            use_inputs_without_relayout,
            use_one_layout_per_size,
            use_reverse_in_component_styles,
            use_safe_terminal_writer,
        )
        from screens.widgets import console
        from screens.widgets.french import use_french_descriptions

        use_french_descriptions()
        use_safe_terminal_writer()
        use_french_wrap()
        use_reverse_in_component_styles()
        use_inputs_without_relayout()
        use_one_layout_per_size()
        console.use_console_glyphs(console.wanted())
        super().__init__()
        self.settings = settings
        self.request_context = request_context or RequestContext(terminal=os.environ.get("TERM", ""))
        self.session: SessionInfo | None = None
        self.db_ready = asyncio.Event()
        self._database_started = False
        self.db_error: str = ""
        self._owns_database = False
        self.monotonic = time.monotonic
        """Clock of the idle lock, in seconds; tests replace it to advance time without sleeping."""
        self.locked = False
        self.screen_memory = ScreenMemory() if settings.ui.changed_lines_only else None
        """What the terminal shows, so that unchanged lines are not written again (None: off)."""
        self._prepared_home: Screen | None = None
        """An empty home screen built while the login form is typed (see `prepare_home`)."""
        self._switch_interval = sys.getswitchinterval()
        """Python's thread switch interval before the App set OUTPUT_SWITCH_INTERVAL (restored at exit)."""
        self._last_key_at = 0.0
        self._last_touch_at = 0.0
        self.key_gate = KeyGate(self, super().on_event)
        """Keys and pastes from the terminal, each delivered once the previous one has acted."""
        self.collector = RestCollector(self, lambda: self.monotonic())
        """Python's full garbage collections, made while the session is at rest (cpf_tui/collector.py)."""
        if settings.sandbox:
            self.title = "MODE FORMATION — Espace de gestion CPF"

    def compose(self) -> ComposeResult:
        yield from ()

    def _display(self, screen, renderable) -> None:  # noqa: ANN001 - Textual's hook, same signature
        """Textual's output hook: drop the lines the terminal already shows (see ScreenMemory).

        The memory is consulted only when Textual is about to write (same conditions as its own).
        """
        memory = self.screen_memory
        if (
            memory is not None and renderable is not None and not self._batch_count and self._running
            and not self._closed and not self.is_headless and self._driver is not None
            and not self._driver.is_inline
        ):
            memory.watch_size(*self.size)
            renderable = memory.filter(renderable, self.console)
        super()._display(screen, renderable)
        if renderable is not None:
            # With the frame, not a refresh later: a focus change shows or hides the cursor at once.
            self._place_terminal_cursor()

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        """Textual's restyle at a class change, skipped for a widget that is not mounted yet.

        Textual restyles a node (every rule matched again, its descendants too) at each class change,
        including those a widget makes while it is built: every Input sets "-textual-compact" and
        "-valid" before it is mounted, two restyles per field that a form of eight fields paid at each
        opening. Mounting applies the stylesheet to every new widget anyway (`App._register`), so a
        widget not yet in the App gets its styles, classes included, when it is mounted.
        """
        if isinstance(node, Widget) and not self.is_mounted(node):
            return
        super().update_styles(node, animate)

    def action_redraw(self) -> None:
        """Ctrl+L: draw the whole screen again (after a garbled line, a message from the system)."""
        if self.screen_memory is not None:
            self.screen_memory.forget()
        self.refresh(repaint=True, layout=True)
        self._terminal_cursor_shown = False  # after a suspension the driver hid it again
        self.call_after_refresh(self._place_terminal_cursor)

    def on_mount(self) -> None:
        sys.setswitchinterval(OUTPUT_SWITCH_INTERVAL)
        from screens.login import LoginScreen

        # The default screen stays underneath: login and home are swapped above it.
        self.push_screen(LoginScreen())
        self.call_after_refresh(self._start_database_once)
        # Back from a suspension (SIGTSTP/SIGCONT): the terminal was the shell's meanwhile.
        self.app_resume_signal.subscribe(self, lambda _app: self.action_redraw())
        # The focus of the screen now shown decides where the terminal cursor is (see _place_terminal_cursor).
        self.screen_change_signal.subscribe(self, lambda _screen: self.call_after_refresh(self._place_terminal_cursor))
        self.screen_change_signal.subscribe(self, self._ensure_key_bar)
        self.set_interval(IDLE_CHECK_SECONDS, self.check_idle_lock, name="idle-lock")
        self.collector.start()
        self._install_hangup_handlers()

    def _ensure_key_bar(self, screen: Screen[object]) -> None:
        """Every screen shows its keys on the bottom line: a screen or modal without its own key bar
        (confirmations, help, file picker, command palette) is given one when it is shown."""
        from screens.widgets.keybar import KeyBar

        if screen.is_attached and not screen.query(KeyBar):
            screen.mount(KeyBar())

    def _start_database_once(self) -> None:
        if not self._database_started:
            self._database_started = True
            self.start_database()

    async def wait_database(self) -> None:
        """Wait until the database is open, starting it now if the first frame has not come yet.

        The opening is deferred until after the first frame (`on_mount`), but that refresh belongs
        to the screen shown then: a screen pushed over it at once (a key typed ahead) would leave the
        database unopened until that screen goes. Whoever needs the database first starts it.
        """
        self._start_database_once()
        await self.db_ready.wait()

    @work(exclusive=True, group="database", exit_on_error=False)
    async def start_database(self) -> None:
        """Open the database after the first frame is drawn (start-up stays fast)."""
        from cpf_tui import db
        from cpf_tui.errors import CpfError

        try:
            self._owns_database = await db.open_database(self.settings.database_url)
            await db.ensure_schema_current()
            from cpf_tui.services import audit_key

            audit_key.configure(self.settings)
        except CpfError as exc:
            self.db_error = exc.message
            self.show_fatal(exc.message)
            return
        except Exception as exc:  # connection refused, unreadable file...
            self.db_error = f"Impossible d'ouvrir la base de données : {exc}"
            self.show_fatal(self.db_error)
            return
        self.db_ready.set()

    def show_fatal(self, text: str) -> None:
        from screens.modals import MessageModal

        self.push_screen(MessageModal("Base de données", text, error=True))

    # -- hang-up -------------------------------------------------------------------------
    HANGUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)

    def _install_hangup_handlers(self) -> None:
        """SIGHUP (the SSH client went away) and SIGTERM end the session through the event loop.

        Without them the process dies mid-write: no unmount, no session record closed, the
        terminal left in the alternate screen.

        A Python signal handler, not `loop.add_signal_handler`: that one runs at the loop's next turn,
        which a long step of the loop (the database opened at start-up imports the ORM: seconds on a
        loaded machine) delays; the watchdog must start when the signal arrives.
        """
        loop = asyncio.get_running_loop()
        self._hangup_signals: dict[int, Any] = {}

        def received(signum: int, _frame: object) -> None:
            self._start_hangup_watchdog()
            loop.call_soon_threadsafe(self._hangup_received, signum)

        for signum in self.HANGUP_SIGNALS:
            try:
                self._hangup_signals[signum] = signal.signal(signum, received)
            except ValueError:
                return  # not the main thread: the default behaviour stays

    def _remove_hangup_handlers(self) -> None:
        for signum, previous in getattr(self, "_hangup_signals", {}).items():
            signal.signal(signum, previous)
        self._hangup_signals = {}

    def _start_hangup_watchdog(self) -> None:
        """Whatever happens next (a database that does not answer, a terminal write that never ends, a
        busy loop), the process is gone within HANGUP_EXIT_SECONDS: nothing else would ever reap it.

        A thread ends it with exit code 0. That thread needs the interpreter, which a long step in C
        (parsing a module while the database opens at start-up, on a loaded machine) can hold for
        a second: the kernel's own timer (SIGALRM, default action: the process ends) is the backstop.
        """
        if getattr(self, "_hangup_watchdog", None) is not None:
            return
        watchdog = self._hangup_watchdog = threading.Timer(HANGUP_EXIT_SECONDS, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_REAL, HANGUP_EXIT_SECONDS + HANGUP_BACKSTOP_SECONDS)

    def _hangup_received(self, signum: int) -> None:
        if getattr(self, "_hanging_up", False):
            return
        self._hanging_up = True
        self._start_hangup_watchdog()
        self.run_worker(self._end_after_hangup(signal.Signals(signum).name), group="hangup", exit_on_error=False)

    async def _end_after_hangup(self, signal_name: str) -> None:
        """Journal the hang-up of a logged-in user, then leave like a normal quit (exit code 0); the
        session row is ended when the App unmounts (reason « hangup »), in the time the watchdog leaves.

        The hang-up alone first, in the shortest transaction: when a front end's terminals all close at
        once, sixty processes wake together on the same cores and every round trip queues. Measured
        with bench/load.py (62 sessions closed at once): this order wrote 62 hang-ups of 62 (and 35
        session ends at unmount); the end of the session and the hang-up in one transaction, whether as
        one append to the chain or two, wrote 40–46 of each."""
        try:
            if self.session is not None and self.db_ready.is_set():
                from cpf_tui.services import audit

                await asyncio.wait_for(
                    audit.record("session.hangup", ctx=self.context, actor_identifier=self.session.identifier,
                                 after={"signal": signal_name}),
                    timeout=HANGUP_JOURNAL_SECONDS,
                )
        finally:
            # Even when the journal cannot be written, the session must end before SIGKILL comes.
            self.exit(0)

    def release_closed_widgets(self) -> None:
        """Let go of widgets already removed, which Textual keeps alive (at each screen shown or removed).

        - A widget watching an App attribute (`self.watch(self.app, …)`) is listed on the App, and
          Textual drops closed widgets from that list only when the attribute changes. Textual's
          `Header` watched `App.title` and `App.sub_title`, which never change here: each screen shown
          and closed kept its header and their drawing caches alive for the rest of the session (the
          screens now draw `CpfHeader`, which watches nothing); a `TextArea` watches `App.theme`.
        - Textual's `StylesCache.get_inner_outer` is an `lru_cache` on a method: each entry holds a
          widget's drawing cache (its rendered lines), up to 1,024 of them, long after the widget is
          gone. Emptied here; an entry costs one `Style` to compute again.
        Measured (tests/test_closed_screens_memory.py): a search, holder's page and back kept ≈ 0.18 MB and
        1,100 objects each time, so a working day of screens grew a session by hundreds of MB."""
        from textual._styles_cache import StylesCache

        watchers: dict[str, list[tuple[Any, Any]]] = getattr(self, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [(node, callback) for node, callback in entries if not (node._closing or node._closed)]
        cached = getattr(StylesCache.get_inner_outer, "cache_clear", None)
        if cached is not None:
            cached()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A steady cursor in text fields: each blink redraws the field (bytes on SSH, flicker on thin terminals).

        The focused field's label (the Label just before it) is marked `-focused-field` (reverse video in
        app.tcss): where typing goes shows without colour.
        """
        from textual.widgets import Input, TextArea

        from screens.widgets.typeahead import mark_field_label

        if isinstance(event.widget, Input | TextArea):
            event.widget.cursor_blink = False
        mark_field_label(event.widget)
        self.call_after_refresh(self._place_terminal_cursor)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.call_after_refresh(self._place_terminal_cursor)

    _terminal_cursor_shown = False

    def _place_terminal_cursor(self) -> None:
        """The terminal's own cursor shown in the focused text field, hidden elsewhere.

        Textual hides it and draws its own; a visible real cursor where typing goes helps screen
        readers and braille displays, and thin terminals whose reverse video is faint. Textual moves it
        to `cursor_position` after each frame; placed here too once the field is laid out.
        """
        from textual.widgets import Input, TextArea

        focused = self.focused
        show = isinstance(focused, Input | TextArea)
        if self._driver is None or self.is_headless or not self._running:
            return
        sequence = ""
        if show != self._terminal_cursor_shown:
            self._terminal_cursor_shown = show
            sequence = "\x1b[?25h" if show else "\x1b[?25l"
        if show:  # the move last: output ends, as each Textual frame does, with the cursor put in place
            offset = focused.cursor_screen_offset
            if sequence or offset != self.cursor_position:
                self.cursor_position = offset
                sequence += f"\x1b[{offset.y + 1};{offset.x + 1}H"
        if sequence:
            try:
                self._driver.write(sequence)
            except AssertionError:  # the driver has left application mode (the App is closing)
                return

    async def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        self.collector.stop()
        if self.session is not None:
            from cpf_tui.services import sessions

            reason = sessions.END_HANGUP if getattr(self, "_hanging_up", False) else sessions.END_QUIT
            await self._end_session_record(self.context, reason)
        self._remove_hangup_handlers()
        if self._owns_database:
            from cpf_tui import db

            await db.close_database()

    # -- session ---------------------------------------------------------------------------
    @property
    def context(self) -> RequestContext:
        """The request context of the logged-in user (or the anonymous one before login)."""
        if self.session is None:
            return self.request_context
        return self.request_context.as_account(self.session.account_id, self.session.session_token)

    # -- facts posted by the screens (cpf_tui/messages.py) -------------------------------------------------
    def on_logged_in(self, message: LoggedIn) -> None:
        self.logged_in(message.info)

    def on_cgu_accepted(self, _message: CguAccepted) -> None:
        self.cgu_accepted()

    def on_password_changed(self, message: PasswordChanged) -> None:
        self.password_changed(mandatory=message.mandatory)

    def on_unlocked(self, _message: Unlocked) -> None:
        self.unlocked()

    async def on_logged_out(self, message: LoggedOut) -> None:
        await self.logout(message.notice, reason=message.reason)

    def logged_in(self, info: SessionInfo) -> None:
        """Called by the login screen after a successful authentication.

        The switch runs on the App's own loop: the login screen's worker that calls this is
        cancelled when its screen goes away.
        """
        self.session = info
        self.locked = False
        self._last_key_at = self._last_touch_at = self.monotonic()
        # What was said to the previous user ("Vous êtes déconnecté.") is not the new session's news.
        self.clear_notifications()
        self.call_later(self.show_home)

    async def show_home(self) -> None:
        """Replace the whole stack with the next first-login step (CGU, new password) or home."""
        if self.session is None:
            return
        if self.session.cgu_version_required:
            from screens.cgu import CguScreen

            await self._replace_stack(CguScreen(self.session))
        elif self.session.must_change_password:
            from screens.password import PasswordScreen

            await self._replace_stack(PasswordScreen(self.session, mandatory=True))
        else:
            home = self._take_prepared_home()
            # The queues read during the login are shown once; any later home reads them anew.
            self.session = replace(self.session, home_queues=None)
            switched = self._replace_stack(home)
            if home.is_running and home is self.screen and home.outer_size == self.size:
                # Laid out already (HomeScreen.rehearse): lay out what show_session filled and draw it
                # whole now, not at the next frame tick. One layout, which draws the whole screen: a
                # repaint asked as well (`refresh()`) drew it all a second time in the same call.
                # (After a resize since, Textual lays it out again when it resumes.)
                home.refresh(repaint=False, layout=True)
                home._on_timer_update()
            await switched

    def prepare_home(self) -> None:
        """Build an empty home screen now, without showing it, so that login ends by filling it in.

        Called when the login form is first typed in. The screen is the same for every account (it is
        filled by `HomeScreen.show_session` once the password is checked), so preparing it reveals
        nothing about the identifier. Composing, mounting and styling it then costs nothing when the
        user presses Enter (docs/security.md, § 10: login time).

        Textual shows a screen as soon as it is on the stack; `_get_screen` is the step of
        `push_screen` that starts the screen (compose, mount) before it is stacked.
        """
        if self._prepared_home is not None or self.session is not None or not self.is_running:
            return
        from screens.home import HomeScreen

        screen = self._prepared_home = HomeScreen()
        _screen, mounted = self._get_screen(screen)

        async def rehearse() -> None:
            await mounted
            if self._prepared_home is screen and screen is not self.screen:
                screen.rehearse(self.size)
            self._prepare_login()

        self.call_later(rehearse)

    @work(group="prepare-login", exit_on_error=False)
    async def _prepare_login(self) -> None:
        """Load the login's modules and warm the database reads it makes (see `auth.prepare_login`)."""
        from cpf_tui.services import auth

        # In the thread that will verify the password: it is started now, and the imports leave the
        # event loop free to show the typed key.
        await asyncio.to_thread(auth.prepare_login)
        await self.wait_database()
        try:
            await auth.warm_database()
        except Exception as exc:  # the login reads for real; a warm-up failure changes nothing
            self.log.warning(f"login warm-up: {exc!r}")

    def _take_prepared_home(self) -> Screen:
        """The prepared home screen filled for the session, or a new one."""
        from screens.home import HomeScreen

        assert self.session is not None
        screen, self._prepared_home = self._prepared_home, None
        if isinstance(screen, HomeScreen) and screen.is_running and screen.is_mounted:
            screen.show_session(self.session)
            return screen
        if screen is not None:
            screen.remove()
        return HomeScreen(self.session)

    def cgu_accepted(self) -> None:
        """The CGU screen recorded the acceptance: go on with the login steps."""
        if self.session is not None:
            self.session = replace(self.session, cgu_version_required=0)
            self.call_later(self.show_home)

    def password_changed(self, *, mandatory: bool) -> None:
        """The password screen changed the password: home after first login, else back."""
        if self.session is None:
            return
        self.session = replace(self.session, must_change_password=False)
        self.notify("Votre mot de passe a été modifié.", title="Mot de passe")
        self.call_later(self.show_home if mandatory else self.pop_screen)

    def _replace_stack(self, screen):  # noqa: ANN001, ANN202 - a Screen; Textual's AwaitComplete
        """Leave only `screen` above the default screen (await the result: the replaced ones are removed)."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        return self.switch_screen(screen)

    async def logout(self, message: str = "", *, reason: str = "logout") -> None:
        """End the session (recorded) and go back to an empty login screen showing `message`."""
        ctx = self.context if self.session is not None else None
        self.session = None
        await self._leave_session(ctx, message, reason)

    async def _leave_session(self, ctx: RequestContext | None, message: str, reason: str) -> None:
        from screens.login import LoginScreen

        self.locked = False
        self.use_command_palette = self.ENABLE_COMMAND_PALETTE
        if ctx is not None:
            await self._end_session_record(ctx, reason)
        # The message is the login screen's own line (no toast: at 80x24 one lay over the F3 and F2
        # windows opened from the login screen for its ten seconds).
        await self._replace_stack(LoginScreen(notice=message))

    async def _end_session_record(self, ctx: RequestContext, reason: str) -> None:
        """Close the AppSession row; never blocks leaving (the database may be gone)."""
        if not self.db_ready.is_set():
            return
        from cpf_tui.services import sessions

        try:
            await asyncio.wait_for(sessions.end_own_session(ctx, reason), timeout=3)
        except Exception as exc:  # the session row expires by itself after session_max_hours
            self.log.error(f"session end not recorded: {exc!r}")

    def session_ended(self, message: str) -> None:
        """A service refused the session (deactivated, locked, regenerated, ended): log out, explain."""
        if self.session is None:
            return
        ctx = self.context
        self.session = None
        self.call_later(self._leave_session, ctx, message, "invalidated")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures of the App's own workers (screens hand theirs to `worker_failed` through CpfScreen)."""
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker, event.worker.error)

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        """The one handler of worker failures, loud by default.

        SessionEnded ends the session at once (login screen, reason shown); another French error
        becomes an error notification; a failure named in BENIGN_FAILURES is only logged; anything else
        is logged with its traceback and reported as an unexpected error.
        """
        if isinstance(error, SessionEnded):
            self.session_ended(error.message)
        elif isinstance(error, CpfError):
            self.notify(error.message, title="Erreur", severity="error", timeout=8, markup=False)
        elif is_benign_failure(worker, error):
            self.log.warning(f"worker {worker.name}: {error!r} (benign)")
        else:
            self.log.error(f"worker {worker.name} failed: {error!r}")
            self.notify("Erreur inattendue : l'opération n'a pas abouti.", title="Erreur", severity="error")

    # -- idle lock ---------------------------------------------------------------------------
    @property
    def idle_timeout_seconds(self) -> float:
        """Seconds without a key press before the lock, by role (settings)."""
        from cpf_tui.services.sessions import idle_timeout_minutes

        if self.session is None:
            return float("inf")
        return idle_timeout_minutes(self.session.role, self.settings.security) * 60.0

    def session_expired(self) -> bool:
        """Whether the session reached its hard end (session_max_hours after login)."""
        from cpf_tui import clock

        expires_at = self.session.expires_at if self.session is not None else None
        return expires_at is not None and clock.now() >= expires_at

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.Paste) and not event.is_forwarded:
            self.collector.input_received()
            if isinstance(event, events.Key) and not self.key_pressed():
                return
            # Every key waits for the previous one's effects (screens/widgets/typeahead.py).
            await self.key_gate.receive(event)
            return
        await super().on_event(event)

    def key_pressed(self) -> bool:
        """Account for a key press; False when the key must not act (the session locked or ended)."""
        if self.session is None or self.locked:
            return True
        if self.check_idle_lock():
            return False
        now = self.monotonic()
        self._last_key_at = now
        if now - self._last_touch_at >= TOUCH_INTERVAL_SECONDS:
            self._last_touch_at = now
            self.touch_session()
        return True

    def check_idle_lock(self) -> bool:
        """Lock after the idle delay, log out after the maximum duration; True when it did either."""
        if self.session is None:
            return False
        if self.session_expired():
            from cpf_tui.services.sessions import END_EXPIRED, ended_message

            ctx = self.context
            self.session = None
            self.call_later(self._leave_session, ctx, ended_message(END_EXPIRED), END_EXPIRED)
            return True
        if not self.locked and self.monotonic() - self._last_key_at >= self.idle_timeout_seconds:
            self.lock_session()
            return True
        return False

    def lock_session(self) -> None:
        """Cover the session with the lock screen (the screens underneath keep their state)."""
        from screens.lock import LockScreen

        if self.session is None or self.locked:
            return
        self.locked = True
        self.use_command_palette = False
        self.push_screen(LockScreen(self.session))

    def unlocked(self) -> None:
        """The lock screen checked the password: back to where the user was."""
        from screens.lock import LockScreen

        self.locked = False
        self.use_command_palette = self.ENABLE_COMMAND_PALETTE
        self._last_key_at = self._last_touch_at = self.monotonic()
        if isinstance(self.screen, LockScreen):
            self.pop_screen()

    @work(exclusive=True, group="session-touch", exit_on_error=False)
    async def touch_session(self) -> None:
        """Re-check the session (SessionEnded goes to the worker handler) and record the activity."""
        from cpf_tui.services import sessions

        if self.db_ready.is_set():
            await sessions.touch(self.context)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "exercises":
            return self.settings.sandbox
        return True

    def action_exercises(self) -> None:
        """Open the guided exercises of the training sandbox."""
        from screens.exercises import ExercisesModal

        if self.settings.sandbox and not isinstance(self.screen, ExercisesModal):
            self.push_screen(ExercisesModal())

    def action_help(self) -> None:
        """Open the help of the current screen (or close it when it is already open)."""
        from screens.help import HelpModal

        if isinstance(self.screen, HelpModal):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpModal.for_screen(self.screen))

    def action_help_key(self) -> None:
        """`?` opens the help, except while typing in a field (where it is a character)."""
        from textual.actions import SkipAction
        from textual.widgets import Input, TextArea

        if isinstance(self.focused, Input | TextArea):
            raise SkipAction()  # a priority key: skipped, it goes on to the field
        self.action_help()

    def action_command_palette(self) -> None:
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(placeholder="Rechercher une commande…", id="--command-palette"))

    async def action_quit(self) -> None:
        from screens.modals import ConfirmModal

        def _answer(confirmed: bool | None) -> None:
            if confirmed:
                self.exit(0)

        if isinstance(self.screen, ConfirmModal):
            return
        self.push_screen(ConfirmModal("Quitter l'application ?", "Quitter", "Rester"), _answer)


def make_app(settings: Settings, *, request_context: RequestContext | None = None) -> CpfApp:
    """The only place that builds the App (CLI and tests)."""
    return CpfApp(settings, request_context=request_context)


APP_DIR = Path(__file__).parent
