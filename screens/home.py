"""Home: who is logged in, the sections this user may open (keys 1–9) and the work queues of their profile."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from cpf_tui.messages import LoggedOut
from cpf_tui.services.context import QueueItem, SessionInfo, WorkQueue
from models.enums import Role
from screens.base import CpfScreen
from screens.sections import Section, sections_for
from screens.widgets.keybar import KeyBar
from screens.widgets.header import CpfHeader


QUEUE_REFRESH_SECONDS = 60.0
"""While home is shown, its queues are read again this often (others' changes); also on every return to home."""

REHEARSAL_SESSION = SessionInfo(
    account_id=0, identifier="REPETITION", full_name="Répétition", role=Role.OPERATOR.value,
    role_label=Role.OPERATOR.label, profile="", profile_label="", organisation_label="Caisse des dépôts",
    establishment_label="",
)
"""Fictitious user of `HomeScreen.rehearse` (every section of an operator; never shown)."""

REHEARSAL_QUEUES = (
    WorkQueue("rehearsal", "Répétition", 6, tuple(
        QueueItem("account", n, f"REPETITION{n} — Répétition — expiré le 01/01/2000") for n in range(1, 6))),
)
"""Fictitious queue drawn by `HomeScreen.rehearse` (so that the queue list's first drawing is not after login)."""


def has_queues(info: SessionInfo) -> bool:
    """Whether home shows work queues to this user (`services.work_queues` gives them one at least)."""
    from cpf_tui.permissions import Capability, can

    return any(can(info.role, info.profile, capability)
               for capability in (Capability.DOSSIER_EDIT_DRAFT, Capability.ACCOUNT_REGENERATE_PASSWORD))


class HomeScreen(CpfScreen):
    """Identity card on top, menu of allowed sections below (numbered: keys 1–9), then what waits for the user.

    Built without a session, it is the empty home the App prepares while the login form is being
    typed (`CpfApp.prepare_home`): the same widgets for everyone, filled by `show_session` once the
    password is checked. The work queues are read from the database only then (never for the rehearsal),
    again on every return to home and every `QUEUE_REFRESH_SECONDS` while home is shown.
    """

    BINDINGS = [
        Binding("enter", "open_section", "Ouvrir", tooltip="Ouvrir la section choisie", id="home-open", show=False),
        *[Binding(str(n), f"jump({n})", f"Section {n}", tooltip=f"Ouvrir la section n° {n}", id=f"home-section-{n}",
                  show=False) for n in range(1, 10)],
        Binding("x", "logout", "Se déconnecter", tooltip="Fermer la session (confirmation)", id="home-logout"),
    ]
    MESSAGE_ID = "home-queues-title"

    def __init__(self, info: SessionInfo | None = None) -> None:
        super().__init__()
        self.info = info
        self.sections: list[Section] = []
        self._queues_shown: tuple[WorkQueue, ...] | None = None
        self._queues_shown_at_login = False

    def compose(self) -> ComposeResult:
        yield CpfHeader()
        with Vertical(id="home-identity"):
            yield Static(id="home-name", markup=False)
            yield Static(id="home-role", markup=False)
            yield Static(id="home-organisation", markup=False)
        with Horizontal(id="home-body"):
            with Vertical(id="home-menu"):
                yield Static("Sections", id="home-sections-title")
                yield OptionList(id="home-sections")
                yield Static("Aucune section n'est ouverte à votre compte.", id="home-no-section", markup=False)
            with Vertical(id="home-work"):
                yield Static("", id="home-queues-title", markup=False)
                yield OptionList(id="home-queues")
        yield KeyBar()

    @property
    def queue_list(self) -> OptionList:
        return self.query_one("#home-queues", OptionList)

    def on_mount(self) -> None:
        self.set_interval(QUEUE_REFRESH_SECONDS, self._refresh_queues)
        if self.info is not None:
            self.show_session(self.info)

    def on_screen_resume(self) -> None:
        if self._queues_shown_at_login:
            self._queues_shown_at_login = False  # just read by the login: not twice in a row
            return
        self._refresh_queues()

    def _refresh_queues(self) -> None:
        if self.is_current and self.info is not None and self.info is not REHEARSAL_SESSION:
            self.load_queues()

    def show_session(self, info: SessionInfo) -> None:
        """Fill the identity card, the menu and the work queues for the logged-in user.

        The queues the login read during the password check (`info.home_queues`) are shown at once, in the
        same frame as the rest; otherwise (home after the CGU or a new password) they are read now.
        """
        self._fill(info)
        if info.home_queues is not None:
            self.show_queues(info.home_queues)
            self._queues_shown_at_login = True
        elif info is not REHEARSAL_SESSION:
            self.load_queues()

    def _fill(self, info: SessionInfo) -> None:
        self.info = info
        self.sections = sections_for(info)
        queues = has_queues(info)
        self.set_class(queues, "-with-queues")
        self.query_one("#home-name", Static).update(info.full_name)
        self.query_one("#home-role", Static).update(self._identity_line())
        self.query_one("#home-organisation", Static).update(self._organisation_line())
        menu = self.query_one("#home-sections", OptionList)
        menu.clear_options()
        menu.add_options([
            Option(Text(f"{n if n <= 9 else ' '} {s.label}" + ("" if queues else f" — {s.description}")), id=s.id)
            for n, s in enumerate(self.sections, start=1)
        ])
        menu.display = bool(self.sections)
        self.query_one("#home-no-section").display = not self.sections
        if self.sections:
            menu.highlighted = 0
            menu.focus()

    def rehearse(self, size) -> None:  # noqa: ANN001 - textual.geometry.Size
        """Lay out and draw this hidden screen once, filled for a fictitious user, and throw the drawing away.

        The first layout and drawing of a screen in a process is several times slower than the next ones
        (styles, text shaping and caches met for the first time). Done here, while the login form is
        typed, it is not paid between the password check and home. Nothing reaches the terminal: a screen
        that is not on top of the stack is not displayed, and `show_session` replaces everything.
        """
        self._fill(REHEARSAL_SESSION)
        self.show_queues(REHEARSAL_QUEUES)
        self.draw_hidden(size)
        self.show_queues(())

    def draw_hidden(self, size) -> None:  # noqa: ANN001 - textual.geometry.Size
        """Lay out and draw this screen while it is not shown (the drawing is kept in the widgets' caches).

        Only for a screen that is not on top: Textual writes to the terminal only for the current screen.
        """
        if self.is_current:
            return
        self._refresh_layout(size)
        self._compositor.render_update(full=True)

    def _identity_line(self) -> str:
        assert self.info is not None
        parts = [f"Identifiant : {self.info.identifier}", f"Rôle : {self.info.role_label}"]
        if self.info.role in ("gestionnaire", "principal_admin", "delegated_admin"):
            parts.append(f"Profil : {self.info.profile_label}")
        return "   ".join(parts)

    def _organisation_line(self) -> str:
        assert self.info is not None
        line = f"Organisme : {self.info.organisation_label}"
        if self.info.establishment_label:
            line += f"   Établissement : {self.info.establishment_label}"
        return line

    @on(OptionList.OptionSelected, "#home-sections")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.open_section(event.option.id or "")

    # -- work queues --------------------------------------------------------------------------------
    @work(exclusive=True, group="home-queues", exit_on_error=False)
    async def load_queues(self) -> None:
        from cpf_tui.services import work_queues

        self.show_queues(await work_queues.work_queues(self.ctx))

    def show_queues(self, queues: Sequence[WorkQueue]) -> None:
        """One title line per queue with its count, its first items below (Entrée opens one).

        Unchanged queues (the periodic re-read) leave the list as it is: nothing is redrawn.
        """
        queues = tuple(queues)
        if queues == self._queues_shown:
            return
        self._queues_shown = queues
        listing = self.queue_list
        kept = listing.highlighted_option.id if listing.highlighted_option is not None else None
        listing.clear_options()
        waiting = sum(queue.count for queue in queues)
        for queue in queues:
            listing.add_option(Option(Text(f"{queue.title} : {queue.count}", style="bold"), disabled=True))
            for item in queue.items:
                listing.add_option(Option(Text(f"  {item.text}"), id=f"{item.kind}:{item.target_id}"))
            if queue.count > len(queue.items):
                listing.add_option(Option(Text(f"  … et {queue.count - len(queue.items)} autre(s)", style="italic"),
                                          disabled=True))
        title = f"À traiter : {waiting}" + (" (Tab puis Entrée)" if waiting else "")
        self.show_message(title if queues else "")
        self._highlight(kept)
        self.refresh_bindings()

    def _highlight(self, item_id: str | None = None) -> None:
        """Highlight the queue item `item_id` if it is still listed, else the first item (never a title)."""
        listing = self.queue_list
        ids = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        if item_id is not None and item_id in ids:
            listing.highlighted = ids.index(item_id)
        else:
            listing.highlighted = next((i for i, option_id in enumerate(ids) if option_id), None)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Tab from the menu reaches the queues on an item (never on a queue's title line)."""
        option = self.queue_list.highlighted_option
        if event.widget is self.queue_list and (option is None or option.disabled):
            self._highlight()

    @on(OptionList.OptionSelected, "#home-queues")
    def _queue_item_selected(self, event: OptionList.OptionSelected) -> None:
        self.open_item(event.option.id or "")

    def open_item(self, item_id: str) -> None:
        """Open a queue's item: a file in its form, an account in the user tree with its record shown."""
        kind, _, target = item_id.partition(":")
        if not target.isdigit():
            return
        if kind == "dossier":
            from screens.dossier_form import open_dossier

            open_dossier(self, int(target))
        elif kind == "account":
            from screens.user_tree import UserTreeScreen

            tree = UserTreeScreen()
            self.app.push_screen(tree)
            tree.call_after_refresh(tree.show_fiche, int(target))

    def action_jump(self, number: int) -> None:
        if 1 <= number <= len(self.sections):
            self.open_section(self.sections[number - 1].id)

    def action_open_section(self) -> None:
        menu = self.query_one("#home-sections", OptionList)
        if menu.display and menu.highlighted is not None:
            self.open_section(menu.get_option_at_index(menu.highlighted).id or "")

    def open_section(self, section_id: str) -> None:
        for section in self.sections:
            if section.id == section_id:
                # A screen that can read its data first is shown filled in (`push_when_read`).
                screen_class = section.screen_class()
                prepared = getattr(screen_class, "prepared", None)
                if prepared is None:
                    self.app.push_screen(screen_class())
                else:
                    self.push_when_read(lambda: prepared(self.ctx), group="open-section")
                return

    def action_logout(self) -> None:
        """`x`: leave the session, once confirmed (a key typed by mistake must not end it)."""
        from screens.modals import ConfirmModal

        def answered(leave: bool | None) -> None:
            if leave:
                self.app.post_message(LoggedOut("Vous êtes déconnecté."))

        self.app.push_screen(ConfirmModal("Se déconnecter ?", "Se déconnecter", "Rester"), answered)
