"""ScreenMemory: only changed cells reach the terminal, and nothing is skipped that the terminal lacks."""

from __future__ import annotations

import io

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from cpf_tui.screen_memory import ScreenMemory

CONSOLE = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=10, height=3)
BOLD = Style(bold=True)


def layout(*lines: str, styles: dict[int, Style] | None = None, x: int = 0) -> LayoutUpdate:
    styles = styles or {}
    strips = [[Strip([Segment(text.ljust(10 - x), styles.get(y))])] for y, text in enumerate(lines)]
    return LayoutUpdate(strips, Region(x, 0, 10 - x, len(lines)))


def memory_of(width: int = 10, height: int = 3) -> ScreenMemory:
    memory = ScreenMemory()
    memory.watch_size(width, height)
    return memory


def sent(memory: ScreenMemory, update) -> str:
    filtered = memory.filter(update, CONSOLE)
    return "" if filtered is None else filtered.render_segments(CONSOLE)


def test_the_first_drawing_is_sent_whole_and_an_identical_one_not_at_all():
    memory = memory_of()
    first = sent(memory, layout("Accueil", "", "F1 Aide"))
    assert "Accueil" in first and "F1 Aide" in first
    assert sent(memory, layout("Accueil", "", "F1 Aide")) == ""
    assert memory.cells_skipped == 30


def test_only_the_changed_stretch_is_sent_at_its_place():
    memory = memory_of()
    sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    out = sent(memory, layout("Accueil", "Sectiors", "F1 Aide"))
    assert out.startswith("\x1b[2;7H")  # line 2, column 7: the one cell that changed
    assert "r" in out and "Accueil" not in out and "Section" not in out and "F1" not in out


def test_a_change_of_style_alone_is_a_change():
    memory = memory_of()
    sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    assert "Sections" in sent(memory, layout("Accueil", "Sections", "F1 Aide", styles={1: BOLD}))


def test_partial_updates_are_compared_too_and_kept_in_memory():
    memory = memory_of()
    sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    same = ChopsUpdate([{}, {0: Strip([Segment("Sections  ")])}, {}], [(1, 0, 10)], [[], [10], []])
    assert memory.filter(same, CONSOLE) is None
    typed = ChopsUpdate([{}, {0: Strip([Segment("SectionsX ")])}, {}], [(1, 0, 10)], [[], [10], []])
    out = sent(memory, typed)
    assert out.startswith("\x1b[2;9H") and "X" in out and "Sections" not in out
    assert sent(memory, layout("Accueil", "SectionsX", "F1 Aide")) == ""


def test_a_new_terminal_size_or_a_redraw_request_forgets_everything():
    memory = memory_of()
    sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    memory.watch_size(10, 3)
    assert sent(memory, layout("Accueil", "Sections", "F1 Aide")) == ""
    memory.watch_size(10, 4)
    assert "Accueil" in sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    memory.forget()
    assert "F1 Aide" in sent(memory, layout("Accueil", "Sections", "F1 Aide"))


def test_unknown_size_passes_updates_on_untouched():
    update = layout("Accueil")
    assert ScreenMemory().filter(update, CONSOLE) is update


def test_wide_characters_are_written_whole():
    memory = memory_of()
    sent(memory, layout("ab漢字cd"))
    out = sent(memory, layout("ab漢宇cd"))  # the second wide character changes
    assert out.startswith("\x1b[1;5H") and "宇" in out and "漢" not in out
    out = sent(memory, layout("abx漢宇cd"))  # everything shifts by one column: tails overwritten
    assert "x漢宇c" in out.replace("\x1b[0m", "")


def test_a_control_sequence_in_a_line_is_passed_on_and_the_line_forgotten():
    memory = memory_of()
    sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    odd = LayoutUpdate([[Strip([Segment("\x1b[5m", None, [(1,)])])]], Region(0, 1, 10, 1))
    assert memory.filter(odd, CONSOLE) is odd
    out = sent(memory, layout("Accueil", "Sections", "F1 Aide"))
    assert "Sections" in out and "Accueil" not in out


async def test_ctrl_l_and_a_return_from_suspension_forget_the_terminal(db, settings):
    from cpf_tui.app import make_app

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        memory = app.screen_memory
        assert memory is not None
        for trigger in ("key", "resume"):
            memory.watch_size(80, 24)
            sent(memory, layout("Accueil"))
            assert memory.rows[0][0] == ("A", None)
            if trigger == "key":
                await pilot.press("ctrl+l")
            else:
                app.app_resume_signal.publish(app)
            await pilot.pause()
            assert all(cell is None for row in memory.rows for cell in row), trigger


async def test_the_memory_can_be_turned_off(db, settings):
    from cpf_tui.app import make_app

    settings.ui.changed_lines_only = False
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+l")  # still a redraw, without a memory to forget
        assert app.screen_memory is None
