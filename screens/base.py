"""The one seam between screens and the application: typed access, rights by table, errors to one handler.

Every full screen derives from `CpfScreen`, every modal that talks to services from `CpfModal`. They give:

- `ctx`, `session`, `settings` and `cpf_app`, typed;
- `check_action` read from a per-screen table `ACTION_CAPABILITY` (action -> capability); a screen adds
  only state-dependent dimming in `action_state`;
- every text field under one control-character rule (`cpf_tui.text`, as `validation.validate_text` in
  the services): a paste holding an escape sequence or an invisible character is refused with a message
  and the field keeps what it held (`on_input_changed`);
- `push_when_read`: a screen read before it is shown (composed with its data, laid out and drawn once);
  `push_reusing`: the same for a screen opened again and again (a file, a holder), kept and filled again;
- worker failures handled in one place: workers let service errors rise. `SessionEnded` always ends
  the session (App.worker_failed); another French error is shown inline by `show_error` when the screen
  has a message line (`MESSAGE_ID`) or overrides it (field errors), else notified by the App.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from rich.text import Text

from textual import events
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from cpf_tui.errors import CpfError, SessionEnded
from cpf_tui.text import CONTROL_CHARS_REFUSED, has_control_chars
from cpf_tui.textual_internals import css_generation

if TYPE_CHECKING:
    from cpf_tui.app import CpfApp
    from cpf_tui.permissions import Capability
    from cpf_tui.config import Settings
    from cpf_tui.services.context import SessionInfo
    from cpf_tui.services.context import RequestContext


def _in_a_stack(screen: Screen[Any]) -> bool:
    """Whether `screen` is shown or under the one shown (the App uses one screen stack, no modes)."""
    return screen in screen.app.screen_stack


def update_line(line: Static, text: str, mark: str, marked: bool) -> None:
    """Show `text` (never markup) on `line`, with class `mark` when `marked`; the same line again is left
    as it is (no redrawing, no relayout: a form filled in or cleared sets each of its lines)."""
    if str(line.content) == text and line.has_class(mark) == marked:
        return
    line.update(Text(text))
    line.set_class(marked, mark)


class CpfSeam:
    """What full screens and modals share (mixed into `Screen` / `ModalScreen`)."""

    ACTION_CAPABILITY: ClassVar[Mapping[str, Capability]] = {}
    """Actions hidden from a user who lacks the capability (the services check again)."""
    MESSAGE_ID: ClassVar[str] = ""
    """Id of the screen's message line, where a service's refusal is shown (empty: notified)."""
    TYPE_TO_SEARCH: ClassVar[str] = ""
    """Selector of the screen's search box: a printable key that is no action of the focused list goes
    there, with the focus (the App's KeyGate, screens/widgets/typeahead.py). Empty: none."""
    BACKGROUND_WORKERS: ClassVar[frozenset[str]] = frozenset()
    """Groups of the screen's workers that keys typed next do not wait for (long work shown by a progress
    bar); the KeyGate waits for every other worker a key started on the screen."""

    if TYPE_CHECKING:
        app: CpfApp

    @property
    def cpf_app(self) -> CpfApp:
        return cast("CpfApp", self.app)

    @property
    def ctx(self) -> RequestContext:
        """The request context of the logged-in user, for service calls."""
        return self.cpf_app.context

    @property
    def session(self) -> SessionInfo | None:
        return self.cpf_app.session

    @property
    def settings(self) -> Settings:
        return self.cpf_app.settings

    def may(self, capability: Capability) -> bool:
        """Whether the logged-in user's role and profile give `capability` (display only)."""
        from cpf_tui.permissions import can  # the login screen's start-up path imports no ORM model

        info = self.session
        return info is not None and can(info.role, info.profile, capability)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        capability = self.ACTION_CAPABILITY.get(action) if self.ACTION_CAPABILITY else None
        if capability is not None and not self.may(capability):
            return False
        return self.action_state(action)

    def action_state(self, action: str) -> bool | None:
        """State-dependent availability of an allowed action: True, or None to show it greyed."""
        return True

    # -- styles -----------------------------------------------------------------------------------------
    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """A screen just mounted is shown without Textual's second styling of all its widgets.

        Textual styles every widget when it is mounted, then again, all of them, when a pushed screen is
        first shown (`ScreenResume.refresh_styles`): a whole restyle of a form for nothing, at every
        opening. Later resumes keep it (the theme may have changed while the screen was covered), but
        for a kept screen shown again (`push_reusing`) while the App's styles stayed as they were when it
        was closed. Runs before Textual's own handler (handlers run from the most derived class).
        """
        if not self.__dict__.get("_cpf_shown_once"):
            self.__dict__["_cpf_shown_once"] = True
            event.refresh_styles = False
        elif self.__dict__.pop("_cpf_styled_as", None) == css_generation(self.app):
            event.refresh_styles = False  # a kept screen shown again, the App's styles unchanged meanwhile
        self.cpf_app.release_closed_widgets()

    def _on_unmount(self, event: events.Unmount) -> None:
        """Removed: its widgets are closed by now, the App lets go of what Textual still keeps of them
        (at the next screen shown they could still be closing); the screens it kept (`push_reusing`) go."""
        app = self.app
        for kept in self._kept_screens().values():
            if not _in_a_stack(kept):
                app.uninstall_screen(kept)
                kept.remove()
        self._kept_screens().clear()
        app.call_later(self.cpf_app.release_closed_widgets)

    def _on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        """A kept screen (`push_reusing`) that was closed stops its work, as a removed screen would; the
        App's styles are noted, for its next showing (`_on_screen_resume`)."""
        screen = cast(Screen[object], self)
        if self.__dict__.get("_cpf_kept") and not _in_a_stack(screen):
            self.__dict__["_cpf_styled_as"] = css_generation(self.app)
            for worker in list(self.app.workers):
                node = worker.node
                if node is screen or (isinstance(node, Widget) and screen in node.ancestors):
                    worker.cancel()

    # -- screens opened from this one -----------------------------------------------------------------
    def push_when_read(self, prepare: Callable[[], Awaitable[Screen[Any]]], *, group: str) -> None:
        """Show the screen `prepare()` gives, once it has read what it shows (a worker of this screen).

        A screen composed with its data is laid out and drawn once; one shown empty and filled in
        afterwards paid a restyle and a relayout per widget filled, and drew several frames (an opened
        file: 0.55 s of processor time instead of 0.3 s). A refusal while reading shows on this screen,
        through `show_error`; keys typed meanwhile wait for the new screen (the App's KeyGate).
        """

        async def push() -> None:
            self.app.push_screen(await prepare())

        cast(Screen[object], self).run_worker(push, name=group, group=group, exclusive=True, exit_on_error=False)

    def push_reusing(self, prepare: Callable[[Any], Awaitable[Screen[Any]]], *, group: str) -> None:
        """`push_when_read` for a screen opened again and again (a list's files, a search's holders):
        `prepare(kept)` fills the screen of that kind shown last, kept by the session's first screen
        (`_keeper`), with what it read, and it is shown again; `prepare(None)` the first time gives a new
        one, then kept (installed, so that Textual keeps it when it is closed). A kept screen is not
        composed, mounted and styled again at each opening: an opened file took 33 ms of processor time
        instead of 82 (headless walk, 80x24). `prepare` clears it of the last one's input, messages and
        errors; its work stops when it is closed (as a removed screen's does); it goes with its keeper.
        """

        async def push() -> None:
            kept_screens = self._keeper()._kept_screens()
            kept = kept_screens.get(group)
            if kept is not None and not _in_a_stack(kept):
                self.app.push_screen(await prepare(kept))
                return
            shown = await prepare(None)
            if kept is None:  # (a kept screen still shown, which keys waiting for it prevent: not kept)
                self.app.install_screen(shown, f"cpf-kept-{id(shown)}")
                shown.__dict__["_cpf_kept"] = True
                kept_screens[group] = shown
            self.app.push_screen(shown)

        cast(Screen[object], self).run_worker(push, name=group, group=group, exclusive=True, exit_on_error=False)

    def _keeper(self) -> CpfSeam:
        """The screen that keeps the screens opened again and again: the first of the stack (home, once
        logged in), which lives as long as the session: a list left for home and opened again still
        finds its files' form. The whole stack is replaced at logout, kept screens with it."""
        stack = self.app.screen_stack
        first = stack[1] if len(stack) > 1 else stack[-1]
        return first if isinstance(first, CpfSeam) else self

    def _kept_screens(self) -> dict[str, Screen[Any]]:
        """Screens this one opens again and again, by group (`push_reusing`)."""
        return cast("dict[str, Screen[Any]]", self.__dict__.setdefault("_cpf_kept_screens", {}))

    # -- text fields: the one control-character rule ---------------------------------------------------
    def _clean_values(self) -> dict[Input, str]:
        """The last value of each text field that passed the rule (what a refused paste goes back to)."""
        return cast("dict[Input, str]", self.__dict__.setdefault("_cpf_clean_values", {}))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, Input) and not has_control_chars(event.widget.value):
            self._clean_values()[event.widget] = event.widget.value

    def on_input_changed(self, event: Input.Changed) -> None:
        field = event.input
        if not has_control_chars(event.value) and "\t" not in event.value:
            self._clean_values()[field] = event.value
            return
        # Only a paste brings such characters (typed control keys are never inserted): refuse it whole.
        field.value = self._clean_values().get(field, "")
        refusal = f"Texte collé refusé : {CONTROL_CHARS_REFUSED} (séquences d'échappement, caractères invisibles)."
        if self.MESSAGE_ID and cast(Screen[object], self).query(f"#{self.MESSAGE_ID}"):
            self.show_message(refusal, error=True)
        else:
            self.app.notify(refusal, title="Saisie", severity="error", markup=False)

    # -- errors ---------------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, CpfError) and not isinstance(error, SessionEnded):
            if self.show_error(error, event.worker):
                return
        self.cpf_app.worker_failed(event.worker, error)

    def show_error(self, error: CpfError, worker: Worker[object]) -> bool:
        """Show a service's refusal (raised in `worker`) in the screen; False lets the App notify it.

        The default writes it on the message line `MESSAGE_ID`; screens with field errors override this.
        """
        if not self.MESSAGE_ID:
            return False
        self.show_message(error.message, error=True)
        return True

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Write `text` (never markup) on the message line, marked as an error or not."""
        update_line(cast(Screen[object], self).query_one(f"#{self.MESSAGE_ID}", Static), text, "-error", error)


class CpfScreen(CpfSeam, Screen[object]):
    """A full screen of cpf-tui (Textual runs this on_mount as well as the subclass's)."""

    def on_mount(self) -> None:
        if self.settings.sandbox and not self.query("SandboxBanner"):
            from screens.widgets.banner import SandboxBanner

            # In the flow of the screen (not docked): a docked banner would hide the Header.
            self.mount(SandboxBanner(), before=0)


ResultType = TypeVar("ResultType")


class CpfModal(CpfSeam, ModalScreen[ResultType], Generic[ResultType]):
    """A modal dialog of cpf-tui whose workers call services."""
