"""The key bar (screens/widgets/keybar.py): what it shows, how it follows the focus, mouse and overflow."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from screens.widgets.keybar import KeyBar


class Keys(Screen):
    AUTO_FOCUS = ""  # a focused Input would take the printable keys (Textual then hides their bindings)
    BINDINGS = [
        Binding("n", "new", "Nouveau"),
        Binding("e", "edit", "Modifier"),
        Binding("ctrl+e", "edit", "Modifier (autre touche)"),  # same action: shown once
        Binding("h", "hidden", "Caché", show=False),
        Binding("d", "delete", "Supprimer [b]tout[/b]"),  # markup-like text is shown as it is
    ]

    def __init__(self) -> None:
        super().__init__()
        self.done: list[str] = []
        self.can_delete = False

    def compose(self) -> ComposeResult:
        yield Input(id="field")
        yield KeyBar()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete":
            return self.can_delete or None  # None: shown, disabled
        return True

    def action_new(self) -> None:
        self.done.append("new")

    def action_edit(self) -> None:
        self.done.append("edit")

    def action_delete(self) -> None:
        self.done.append("delete")


class Searchable(Static, can_focus=True):
    BINDINGS = [Binding("s", "search", "Chercher")]

    def action_search(self) -> None:
        pass


class KeysApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.bells = 0

    def on_mount(self) -> None:
        self.push_screen(Keys())

    def bell(self) -> None:
        self.bells += 1


def bar_text(app: App) -> str:
    bar = app.screen.query_one(KeyBar)
    return "".join(segment.text for segment in bar.render_line(0)).rstrip()


async def test_shows_each_action_once_in_order_with_the_palette_on_the_right():
    app = KeysApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = bar_text(app)
        assert text.startswith(" n Nouveau  e Modifier  d Supprimer [b]tout[/b]")
        assert "Caché" not in text and "autre touche" not in text
        assert text.endswith("▏^p palette")


async def test_a_click_presses_the_key_and_a_disabled_key_rings_the_bell():
    app = KeysApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        bar = screen.query_one(KeyBar)
        new_x = bar_text(app).index("n Nouveau")
        await pilot.click(KeyBar, offset=(new_x, 0))
        await pilot.pause()
        assert screen.done == ["new"]

        delete_x = bar_text(app).index("d Supprimer")
        await pilot.click(KeyBar, offset=(delete_x + 3, 0))
        await pilot.pause()
        assert screen.done == ["new"] and app.bells == 1

        screen.can_delete = True
        screen.refresh_bindings()
        await pilot.pause()
        await pilot.click(KeyBar, offset=(delete_x, 0))
        await pilot.pause()
        assert screen.done == ["new", "delete"]
        assert bar.item_at(len(bar_text(app)) - 3) is not None  # the palette key is clickable too


async def test_hovering_a_key_shows_its_tooltip():
    app = KeysApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        await pilot.hover(KeyBar, offset=(bar_text(app).index("e Modifier"), 0))
        await pilot.pause()
        assert bar.tooltip == "Modifier"
        await pilot.hover("#field")
        await pilot.pause()
        assert bar.tooltip is None


async def test_keys_that_do_not_fit_lose_their_description_not_their_key():
    app = KeysApp()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        text = bar_text(app)
        assert len(text) <= 40
        assert text.endswith("▏^p palette")
        assert text.startswith(" n Nouveau  e Modifier ")  # the first declared keys keep their words
        assert "Supprimer" not in text  # never a description cut in the middle
        assert " d " in text  # ... but the key itself stays visible (F1 says what it does)
    app = KeysApp()
    async with app.run_test(size=(26, 10)) as pilot:
        await pilot.pause()
        text = bar_text(app)
        assert text.startswith(" n e d") and "Nouveau" not in text  # too narrow for any description


async def test_follows_the_keys_of_the_focused_widget():
    app = KeysApp()
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        await screen.mount(Searchable(), before=screen.query_one(KeyBar))
        screen.query_one(Searchable).focus()
        await pilot.pause()
        assert "s Chercher" in bar_text(app)
        screen.query_one("#field").focus()
        await pilot.pause()
        assert "Chercher" not in bar_text(app)
