"""Every screen of every role at 80x24 on the Linux console without colour (TERM=linux, NO_COLOR=1).

Each role of the training sandbox logs in and opens, by keyboard, every section of its home and the
screens reachable from there (forms, fiches, detail panels, confirmations, file picker, help, command
palette); a second walk sees what comes before and around a session: the login, the training accounts
and exercises windows, a first login's CGU and mandatory new password, the lock screen. On each screen,
from what Textual draws (the screen's cells):

- no text of the screen is cut: every word of every text widget is shown whole, inside the widget and
  inside the screen (not under the key bar, not past the right edge, not lost below a fixed height), a
  « libellé : valeur » pair or a phone number never wraps in the middle; every column header of a table
  is whole on screen and every cell shown is whole or visibly shortened (ends with « … »); every tree
  line shows its whole label or a visibly shortened one;
- the key bar is there, on the bottom line, and the help lists every key it shows;
- every cell is a glyph of the Linux console (tests/fixtures/linux_console_glyphs.txt says which);
- the focused widget stands out without colour (reverse video, or the double frame of fields).

See docs/thin-terminals.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, Static, Tree
from textual.worker import WorkerState

from cpf_tui.app import make_app
from cpf_tui.clock import FrozenClock
from cpf_tui.config import Settings
from cpf_tui.textual_internals import screen_strips
from screens.widgets.keybar import KeyBar
from tests.pilot import log_in, new_app, open_section, settle, wait_until

pytestmark = pytest.mark.slow

SIZE = (80, 24)
GLYPHS_FILE = Path(__file__).parent / "fixtures" / "linux_console_glyphs.txt"
FOCUS_FRAME = set("║═╔╗╚╝")
STEP_SECONDS = 10
"""Longest wait for the screen a step's keys open (a save hashes a password, the suite loads the machine);
a key the role is not offered is noted at once, without waiting."""

ROLES = {
    "operateur-cdc": "CDC2TRNG",
    "administrateur-principal": "PRNC2UNQ",
    "administrateur-delegue": "ADMD2SEC",
    "gestionnaire-consultation": "GSTN2CSN",
    "gestionnaire-creation": "GSTN3CRE",
    "gestionnaire-validation": "GSTN4VAD",
    "gestionnaire-cloture": "GSTN5CTR",
}


def _status_filter(downs: int) -> tuple[str, ...]:
    """On the dossier list: the status filter moved `downs` entries down, then the list focused."""
    return ("slash", "shift+tab", "shift+tab", "enter", *["down"] * downs, "enter", "tab", "tab", "enter")


NEW_ACCOUNT = (*"Marchand", "enter", *"Ada", "enter", *"ada.marchand@example.fr", "enter", "enter", "enter")
"""The new account form's Nom (focused), Prénom, E-mail, an empty phone and service: Entrée saves."""


# Screens reachable by keyboard from each section, as (keys, expected screen class) followed by the
# keys that go back. None as the screen: the keys stay on the same screen (a panel changes). A key the
# screen does not offer to the role is noted as missed and the walk goes on with the next step; keys
# pressed that do not bring the expected screen end the section's walk.
SUB_SCREENS: dict[str, list[tuple[tuple[str, ...], str | None, tuple[str, ...]]]] = {
    "OrganisationsScreen": [
        (("n",), "FormScreen", ("escape",)),
        (("o",), "FormScreen", ("escape",)),
        (("a",), "FormScreen", ("escape",)),  # a secondary establishment of the first organisation
        (("p",), "ConfirmModal", ("n",)),  # replace its principal administrator
        (("enter",), "UserTreeScreen", ("escape",)),
    ],
    "UserTreeScreen": [
        (("slash",), "UserSearchScreen", ()),
        ((*"Lambert", "enter"), None, ()),  # a gestionnaire in every administrator's scope
        (("enter",), "UserTreeScreen", ()),  # the tree opened on that account: its fiche
        (("e",), "FormScreen", ("escape",)),  # its edit form
        (("end",), None, ()),  # the last line of the tree
        (("a",), "FormScreen", ("escape",)),  # a secondary establishment
        (("home", "down", "n"), "FormScreen", ()),
        (("tab", "tab", "x", "escape"), "ConfirmModal", ("n", "backspace")),  # « Abandonner vos modifications ? »
        (NEW_ACCOUNT, "IdentifierModal", ("escape",)),  # the new account's identifier (the sandbox is the test's)
    ],
    "OutboxScreen": [],
    "BulkImportScreen": [(("ctrl+o",), "FilePickerModal", ("escape",))],
    "HolderFeedScreen": [(("ctrl+o",), "CsvPickerModal", ("escape",))],
    "JournalScreen": [(("enter",), "JournalEventModal", ("escape",))],
    "HolderSearchScreen": [
        ((*"293077693003597", "enter"), None, ()),  # the search box has the focus
        (("enter",), "HolderPageScreen", ()),
        (("e",), "ContactModal", ("escape",)),
        (("s",), "DifModal", ("escape",)),
        (("escape",), "HolderSearchScreen", ()),
    ],
    "DossierListScreen": [
        (("n",), "DossierFormScreen", ("escape",)),
        (_status_filter(1), None, ()),  # files « en cours d'élaboration »
        (("enter",), "DossierFormScreen", ()),
        (("f5",), "ConfirmModal", ("n",)),  # validate
        (("f8",), "ConfirmModal", ("n",)),  # delete
        (("escape",), "DossierListScreen", ()),
        (_status_filter(1), None, ()),  # validated files (the filter moves one more down)
        (("enter",), "DossierFormScreen", ()),
        (("f6",), "CloseModal", ("escape",)),  # the closure dialog
        (("escape",), "DossierListScreen", ()),
    ],
    "SessionsScreen": [],
    "PlanningScreen": [(("down", "down"), None, ()), (("e",), "PlanningEditModal", ("escape",))],
    "PasswordScreen": [],
}


PLANNING_EDIT = "Planning › e → PlanningEditModal"  # only CDC operators edit the planning
FILE_ACTIONS = [f"Dossiers de formation › {key} → {screen}"
                for key, screen in (("f5", "ConfirmModal"), ("f8", "ConfirmModal"), ("f6", "CloseModal"))]
NEW_FILE = "Dossiers de formation › n → DossierFormScreen"
VALIDATE, DELETE, CLOSE = FILE_ACTIONS
MISSED: dict[str, list[str]] = {
    # The CDC reads holders' pages and training files, changes nothing there.
    "CDC2TRNG": ["Titulaires › e → ContactModal", "Titulaires › s → DifModal", NEW_FILE, *FILE_ACTIONS],
    "PRNC2UNQ": [PLANNING_EDIT],
    "ADMD2SEC": ["Utilisateurs › a → FormScreen", PLANNING_EDIT],  # establishments are the principal's
    "GSTN2CSN": [NEW_FILE, *FILE_ACTIONS, PLANNING_EDIT],  # Consultation changes no file
    "GSTN3CRE": [VALIDATE, CLOSE, PLANNING_EDIT],  # Création creates and deletes drafts
    "GSTN4VAD": [CLOSE, PLANNING_EDIT],
    "GSTN5CTR": [PLANNING_EDIT],
}
"""Screens a role cannot open (no right, nothing to show), by identifier: any other miss fails."""

CLOSING, CLOSING_DAY = "GSTN5CTR", datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
"""The Clôture gestionnaire walks on a day every validated file's training has ended (the closure dialog
with the hours done); the others on the sandbox's day, before those trainings (0 h and a reason)."""


def console_glyphs() -> frozenset[str]:
    """The characters of tests/fixtures/linux_console_glyphs.txt (lines starting with # are comments)."""
    lines = GLYPHS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset("".join(line for line in lines if not line.startswith("#"))) | {" "}


@pytest.fixture
def walk_settings(sandbox_settings: Settings) -> Settings:
    """The frozen sandbox (tests/sandbox_support.py), with a CSV file for the feed's picker."""
    Path("titulaires.csv").write_text("nir;nom\n", encoding="utf-8")  # sandbox_settings went to tmp_path
    return sandbox_settings


# -- what the screen shows ---------------------------------------------------------------------------------
def _rows(screen) -> list[list[Segment]]:  # noqa: ANN001 - a Textual screen
    return [list(strip) for strip in screen_strips(screen)]


WIDE = "\0"
"""Stands for the second cell of a double-width character, so that an index in a line is a column."""


def _line_text(segments: list[Segment]) -> str:
    return "".join(char + WIDE * (cell_len(char) - 1) for segment in segments for char in segment.text)


def _crop(line: str, x: int, width: int) -> str:
    """Columns x..x+width of a line."""
    return line[x:x + width].replace(WIDE, "")


def _plain(widget: Widget) -> str:
    """The widget's whole text; a Rich renderable (the help's grid) as Rich draws it at the widget's width."""
    import io

    from rich.console import Console

    rendered = widget.render()
    plain = getattr(rendered, "plain", None)
    if isinstance(plain, str):
        return plain
    content = getattr(widget, "content", None)
    if content is not None and not isinstance(content, str) and hasattr(content, "__rich_console__"):
        console = Console(file=io.StringIO(), width=max(widget.content_region.width, 1), color_system=None)
        lines = console.render_lines(content, console.options, pad=False)
        return "\n".join("".join(segment.text for segment in line) for line in lines)
    return str(rendered)


def _visible_region(widget: Widget):  # noqa: ANN202 - a Region
    """Where `widget` is seen on its screen: its region clipped by its containers."""
    from textual.errors import NoWidget
    from textual.geometry import Region

    try:
        geometry = widget.screen.find_widget(widget)
    except NoWidget:  # not laid out (inside a hidden part)
        return Region()
    return geometry.region.intersection(geometry.clip)


def _scrolls(widget: Widget) -> bool:
    """Whether the widget is inside a container the user can scroll (unseen parts are reachable)."""
    node = widget.parent
    while isinstance(node, Widget):
        if node.max_scroll_y > 0 or node.max_scroll_x > 0:
            return True
        node = node.parent
    return False


def _words(text: str) -> list[str]:
    return text.split()


def _joined(lines: list[str]) -> str:
    """The lines as one text: a line that starts with « / » goes on a folder path (wrapped before a « / »)."""
    text = ""
    for line in lines:
        separator = "" if not text or line.startswith("/") else " "
        text += separator + line.rstrip()
    return text


UNIT = re.compile(r"[^\s:]+ : [^\s]+|\b0\d(?: \d\d){4}\b")
"""What must not wrap in the middle: a « libellé : valeur » pair, a phone number."""


def _text_defects(widget: Static, lines: list[str], bar_top: int) -> list[str]:
    full = _plain(widget)
    if not full.strip():
        return []
    region = widget.content_region
    seen = _visible_region(widget).intersection(region)
    name = widget.id or type(widget).__name__
    if _scrolls(widget):
        return []
    if seen.bottom > bar_top:
        return [f"{name} : « {full.strip()[:40]} » passe sous la barre des touches"]
    shown = [_crop(lines[y], seen.x, seen.width) for y in range(seen.y, seen.bottom)]
    wanted, got = _words(full), _words(_joined(shown))
    if wanted != got:
        index = next((i for i, (a, b) in enumerate(zip(wanted, got)) if a != b), min(len(wanted), len(got)))
        missing = wanted[index] if index < len(wanted) else "?"
        return [f"{name} : « {missing} » coupé ou caché (affiché : « {' / '.join(s.strip() for s in shown)} »)"]
    defects = []
    for line in shown[1:]:
        if line.lstrip().startswith(":"):
            defects.append(f"{name} : une ligne commence par « : » (« {line.strip()} »)")
    for unit in (found for part in full.splitlines() for found in UNIT.findall(" ".join(part.split()))):
        if not any(unit in " ".join(line.split()) for line in shown):
            defects.append(f"{name} : « {unit} » coupé en fin de ligne")
    return defects


def _cell_shown(full: str, shown: str) -> bool:
    """A cell is shown whole, or visibly shortened (a start of it followed by « … »)."""
    full, shown = full.strip(), shown.strip()
    if shown == full:
        return True
    return shown.endswith("…") and len(shown) >= 2 and full.startswith(shown[:-1].rstrip())


def _table_defects(table: DataTable, lines: list[str]) -> list[str]:
    seen = _visible_region(table)
    name = table.id or "table"
    if seen.width <= 0 or seen.height <= 0:
        return []
    defects = []
    x = seen.x - int(table.scroll_x)
    padding = table.cell_padding
    header = lines[seen.y] if table.show_header else ""
    spans = []
    for column in table.ordered_columns:
        width = column.get_render_width(table)
        spans.append((x + padding, width - 2 * padding))
        label = column.label.plain
        start, end = x + padding, x + padding + len(label)
        if table.show_header and (start < seen.x or end > seen.right or _crop(header, start, end - start) != label):
            defects.append(f"{name} : colonne « {label} » coupée ou hors de l'écran "
                           f"(affiché : « {_crop(header, seen.x, seen.width).strip()} »)")
        x += width
    top = seen.y + (table.header_height if table.show_header else 0)
    first = int(table.scroll_y)
    for offset, y in enumerate(range(top, seen.bottom)):
        row_index = first + offset
        if row_index >= table.row_count or any(row.height != 1 for row in table.rows.values()):
            break
        for column_index, (start, width) in enumerate(spans):
            end = min(start + width, seen.right)
            if start >= seen.right:
                continue
            cell = table.get_cell_at((row_index, column_index))
            full = cell.plain if isinstance(cell, Text) else str(cell)
            shown = _crop(lines[y], max(start, seen.x), end - max(start, seen.x))
            if not _cell_shown(full, shown):
                defects.append(f"{name} : cellule « {full} » affichée « {shown.strip()} »")
                break
    return defects


def _tree_defects(tree: Tree, lines: list[str]) -> list[str]:
    seen = _visible_region(tree)
    defects = []
    for offset, y in enumerate(range(seen.y, seen.bottom)):
        node = tree.get_node_at_line(int(tree.scroll_y) + offset)
        if node is None:
            break
        label = node.label.plain if isinstance(node.label, Text) else str(node.label)
        line = _crop(lines[y], seen.x, seen.width).rstrip()
        if label in line:
            continue
        kept = line.rstrip("…")
        if line.endswith("…") and any(label.startswith(kept[i:].lstrip()) for i in range(len(kept)) if kept[i:].strip()):
            continue
        defects.append(f"{tree.id or 'arbre'} : « {label} » affiché « {line.strip()} »")
    return defects


def _button_defects(button: Button, lines: list[str]) -> list[str]:
    seen = _visible_region(button)
    label = _plain(button).strip()
    shown = " ".join(_crop(lines[y], seen.x, seen.width) for y in range(seen.y, seen.bottom))
    return [] if label in shown else [f"bouton « {label} » coupé (« {shown.strip()} »)"]


def _keybar_defects(screen, lines: list[str]) -> tuple[list[str], int]:  # noqa: ANN001
    bars = [bar for bar in screen.query(KeyBar) if bar.display]
    height = len(lines)
    if not bars:
        return [f"{type(screen).__name__} : pas de barre des touches"], height
    bar = bars[0]
    region = _visible_region(bar)
    if region.y != height - 1 or region.width != len(lines[0]):
        return [f"{type(screen).__name__} : la barre des touches n'est pas la dernière ligne ({region})"], region.y
    text = lines[region.y].replace(WIDE, "")
    defects = []
    for item in bar._items:
        entry = f"{item.display} {item.description}".strip() if item.described else f" {item.display}"
        if entry not in text:
            defects.append(f"barre des touches : « {entry} » coupé (« {text.strip()} »)")
    return defects, region.y


def _focus_defects(screen, rows: list[list[Segment]]) -> list[str]:  # noqa: ANN001
    """Without colour, the focused widget is drawn in reverse video somewhere, or with a double frame."""
    from textual.widgets import OptionList, RadioSet

    focused = screen.focused
    if not isinstance(focused, Input | Select | DataTable | Tree | OptionList | RadioSet | Button) and not (
            focused is not None and isinstance(focused.parent, Select)):
        return []  # a scrolling text (help, CGU) is read with the arrows: no field to find
    if isinstance(focused, DataTable) and focused.row_count == 0:
        return []  # an empty table: no row to choose, nothing to point at
    if isinstance(focused, Input | Select) or focused.parent is not None and isinstance(focused.parent, Select):
        target = focused if not isinstance(focused.parent, Select) else focused.parent
    else:
        target = focused
    seen = _visible_region(target)
    if seen.width <= 0 or seen.height <= 0:
        return [f"le champ actif {focused!r} n'est pas visible"]
    for y in range(seen.y, seen.bottom):
        x = 0
        for segment in rows[y]:
            width = cell_len(segment.text)
            if x + width > seen.x and x < seen.right and segment.text.strip():
                style = segment.style
                if style is not None and style.reverse or FOCUS_FRAME & set(segment.text):
                    return []
            x += width
    return [f"le widget actif {type(focused).__name__}#{focused.id} ne se distingue pas sans couleur"]


def _scroll_defects(screen) -> list[str]:  # noqa: ANN001 - any Textual screen
    """A scrolling body around fields never takes the focus itself: the focus goes to its fields (a
    focused body shows nothing to the eye, and each focus change in and out of it restyled every field)."""
    from textual.containers import ScrollableContainer

    defects = []
    for body in screen.query(ScrollableContainer):
        fields = [w for w in body.query("*") if isinstance(w, Input | Select | Button | DataTable) and w.can_focus]
        if fields and body.can_focus:
            defects.append(f"le défilement {type(body).__name__}#{body.id} prend le focus au lieu de ses champs")
    return defects


def screen_defects(app) -> list[str]:  # noqa: ANN001 - the App
    """Every defect of the screen shown now (empty: nothing to report)."""
    screen = app.screen
    rows = _rows(screen)
    lines = [_line_text(row) for row in rows]
    assert all(len(line) == SIZE[0] for line in lines), "une ligne n'a pas 80 cellules"
    defects, bar_top = _keybar_defects(screen, lines)
    for widget in screen.query("*"):
        if not widget.display or not widget.visible or not isinstance(widget, Widget):
            continue
        seen = _visible_region(widget)
        if seen.width <= 0 or seen.height <= 0:
            continue
        if isinstance(widget, KeyBar):
            continue
        if isinstance(widget, DataTable):
            defects += _table_defects(widget, lines)
        elif isinstance(widget, Tree):
            defects += _tree_defects(widget, lines)
        elif isinstance(widget, Button):
            defects += _button_defects(widget, lines)
        elif isinstance(widget, Static) and not isinstance(widget.parent, Button):
            defects += _text_defects(widget, lines, bar_top)
    allowed = console_glyphs()
    strange = sorted({char for line in lines for char in line if char not in allowed and char != WIDE})
    if strange:
        defects.append("glyphes hors de la console Linux : " + " ".join(f"{c} (U+{ord(c):04X})" for c in strange))
    defects += _focus_defects(screen, rows)
    defects += _scroll_defects(screen)
    return [f"{type(screen).__name__} : {defect}" for defect in defects]


def _below(app, worker) -> bool:  # noqa: ANN001 - the App, a Worker
    """Whether the worker belongs to a screen under the one shown (a worker waiting for a confirmation)."""
    node = worker.node
    screen = node if isinstance(node, Screen) else getattr(node, "screen", None) if isinstance(node, Widget) else None
    return screen is not None and screen is not app.screen and screen in app.screen_stack


async def calm(pilot: Pilot) -> None:
    """Like tests.pilot.settle, except for the workers of the screens under the one shown (a validation
    waiting for its confirmation) and a directory tree's loader (a worker that waits for ever)."""
    from textual.widgets import DirectoryTree

    app = pilot.app
    trees = [tree for screen in app.screen_stack for tree in screen.query(DirectoryTree)]
    if trees:
        await wait_until(pilot, lambda: all(tree.root.children for tree in trees), "dossier lu")
        await pilot.pause(0.1)
        return

    def busy() -> bool:
        gate = getattr(app, "key_gate", None)
        return (gate is not None and gate.pending) or any(
            worker.state in (WorkerState.PENDING, WorkerState.RUNNING) and not _below(app, worker)
            for worker in app.workers)

    await pilot.pause()
    await wait_until(pilot, lambda: not busy(), f"l'écran {type(app.screen).__name__} se stabilise")
    await pilot.pause()
    await wait_until(pilot, lambda: not busy(), f"l'écran {type(app.screen).__name__} se stabilise")


# -- the walk ------------------------------------------------------------------------------------------
class Walk:
    def __init__(self, pilot: Pilot) -> None:
        self.pilot = pilot
        self.defects: list[str] = []
        self.visited: list[str] = []
        self.missed: list[str] = []

    @property
    def screen_name(self) -> str:
        return type(self.pilot.app.screen).__name__

    async def look(self, where: str) -> None:
        await calm(self.pilot)
        self.visited.append(self.screen_name)
        self.defects += [f"[{where}] {defect}" for defect in screen_defects(self.pilot.app)]

    async def help(self, where: str) -> None:
        """`?` (F1 while typing in a field) opens the help: it lists every key the bar shows."""
        app = self.pilot.app
        screen = app.screen
        shown = [item.description for bar in screen.query(KeyBar) for item in bar.shown_keys()[0]]
        key = "f1" if isinstance(app.focused, Input) else "question_mark"
        await self.pilot.press(key)
        try:
            await wait_until(self.pilot, lambda: self.screen_name == "HelpModal", f"aide de {where}", timeout=3)
        except AssertionError:
            self.defects.append(f"[{where}] {key} n'ouvre pas l'aide")
            return
        await self.look(f"{where} › aide")
        listed = " ".join(line.description for line in app.screen.lines)
        self.defects += [f"[{where}] l'aide ne cite pas « {description} »" for description in shown
                         if description not in listed]
        await self.pilot.press("escape")
        await wait_until(self.pilot, lambda: app.screen is screen, f"retour de l'aide de {where}")

    def can_press(self, key: str) -> bool:
        """Whether `key` acts on the screen now (a binding of it is active and enabled)."""
        active = self.pilot.app.screen.active_bindings.get(key)
        return active is not None and active.enabled

    async def go(self, keys: tuple[str, ...], expected: str | None, where: str) -> bool | None:
        """Press `keys` and look at `expected`: True when it came; None when the one key is not offered
        here (nothing pressed, the walk may go on); False when it did not come (the role may not open it)."""
        before = self.screen_name
        if expected not in (None, before) and len(keys) == 1 and not self.can_press(keys[0]):
            self.missed.append(f"{where} → {expected}")  # the key is not offered here: no wait
            return None
        await self.pilot.press(*keys)
        target = expected or before
        try:
            await wait_until(self.pilot, lambda: self.screen_name == target, f"{where} : écran {target}",
                             timeout=STEP_SECONDS)
        except AssertionError:
            self.missed.append(f"{where} → {target}")
            return False
        await self.look(where)
        return True


async def walk_role(pilot: Pilot, identifier: str) -> Walk:
    from models import Account
    from screens.sections import sections_for

    app = pilot.app
    await app.wait_database()
    await log_in(pilot, await Account.get(identifier=identifier))
    await wait_until(pilot, lambda: type(app.screen).__name__ == "HomeScreen", "accueil")
    walk = Walk(pilot)
    await walk.look("accueil")
    await walk.help("accueil")
    assert await walk.go(("ctrl+p",), "CommandPalette", "palette")
    await pilot.press(*"mot de passe")
    await walk.look("palette « mot de passe »")
    await walk.go(("escape",), "HomeScreen", "accueil")
    assert app.session is not None
    for section in sections_for(app.session):
        await open_section(pilot, section.id)
        name = walk.screen_name
        await walk.look(section.label)
        await walk.help(section.label)
        for keys, expected, back in SUB_SCREENS.get(name, []):
            where = f"{section.label} › {' '.join(keys)}"
            shown = await walk.go(keys, expected, where)
            if shown is None:
                continue
            if not shown:
                break
            if expected is not None and expected != name:
                await walk.help(where)
            if back:
                await pilot.press(*back)
                await calm(pilot)
        while walk.screen_name != "HomeScreen":
            await pilot.press("escape")
            await settle(pilot)
    assert await walk.go(("x",), "ConfirmModal", "déconnexion")
    await pilot.press("n")
    return walk


@pytest.mark.parametrize("identifier", list(ROLES.values()), ids=list(ROLES))
async def test_every_screen_at_80x24_on_the_linux_console_without_colour(
    walk_settings: Settings, monkeypatch: pytest.MonkeyPatch, frozen_clock: FrozenClock, identifier: str,
) -> None:
    if identifier == CLOSING:
        frozen_clock.current = CLOSING_DAY
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(walk_settings)
    async with app.run_test(size=SIZE) as pilot:
        walk = await walk_role(pilot, identifier)
    assert len(set(walk.visited)) >= 4, walk.visited
    assert walk.missed == MISSED.get(identifier, []), (identifier, walk.missed)
    defects = list(dict.fromkeys(walk.defects))
    assert not defects, "\n".join(defects)


FIRST_LOGIN = "GSTN6NEW"
"""The training account that has neither accepted the CGU nor chosen its own password yet."""
NEW_PASSWORD = "Tournesol-Bleu-Marine-42"


async def walk_first_login_and_lock(pilot: Pilot) -> Walk:
    """Before any session (login, training accounts, exercises), a first login (CGU, the mandatory new
    password), then the lock screen of a session left idle: all by keyboard."""
    from tests.sandbox_support import password_of

    app = pilot.app
    walk = Walk(pilot)
    await wait_until(pilot, lambda: walk.screen_name == "LoginScreen", "écran de connexion")
    await app.wait_database()
    await walk.look("connexion")
    await walk.help("connexion")
    for key, modal, where in (("f3", "TrainingAccountsModal", "comptes de formation"),
                              ("f2", "ExercisesModal", "exercices")):
        assert await walk.go((key,), modal, where), walk.missed
        await walk.help(where)
        await pilot.press("escape")
        await wait_until(pilot, lambda: walk.screen_name == "LoginScreen", f"retour de {where}")

    await pilot.press(*FIRST_LOGIN, "enter", *password_of(FIRST_LOGIN), "enter")
    await wait_until(pilot, lambda: walk.screen_name == "CguScreen", "conditions générales")
    await walk.look("conditions générales")
    await walk.help("conditions générales")
    assert await walk.go(("end", "o"), "PasswordScreen", "mot de passe obligatoire"), walk.missed
    await walk.help("mot de passe obligatoire")
    await pilot.press(*NEW_PASSWORD, "enter", *NEW_PASSWORD, "enter")
    await wait_until(pilot, lambda: walk.screen_name == "HomeScreen", "accueil après la première connexion")

    app.monotonic.advance(app.idle_timeout_seconds + 1)  # the session left idle: the next key locks it
    assert await walk.go(("down",), "LockScreen", "verrouillage"), walk.missed
    await walk.help("verrouillage")
    assert await walk.go((*NEW_PASSWORD, "enter"), "HomeScreen", "déverrouillage"), walk.missed
    return walk


async def test_login_first_login_and_lock_at_80x24_on_the_linux_console_without_colour(
    walk_settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("NO_COLOR", "1")
    app = new_app(walk_settings)
    async with app.run_test(size=SIZE) as pilot:
        walk = await walk_first_login_and_lock(pilot)
    assert {"LoginScreen", "TrainingAccountsModal", "ExercisesModal", "CguScreen", "PasswordScreen",
            "LockScreen", "HelpModal"} <= set(walk.visited), walk.visited
    defects = list(dict.fromkeys(walk.defects))
    assert not defects, "\n".join(defects)
