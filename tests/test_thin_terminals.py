"""Thin terminals: no mouse when asked (CLI and `ui.mouse`), 16 colours with TERM=linux, no hue with NO_COLOR.

The mouse checks run the real `cpf-tui demo` in a pseudo-terminal (80x24) and read every byte it writes;
the colour checks run it in tmux and read the screen back with its escape sequences (`capture-pane -e`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpf_tui.cli import _load, _parser
from cpf_tui.config import load_settings
from tests.e2e.tmux import (
    PtySession,
    TmuxTerminal,
    app_env,
    build_sandbox_file,
    copy_sandbox,
    cpf_tui_command,
    requires_tmux,
)
from tests.pilot import workers_done

MOUSE_ON = (b"\x1b[?1000h", b"\x1b[?1003h", b"\x1b[?1006h")
MOUSE_OFF = b"\x1b[?1000l"
LOGIN_TITLE = "Connexion à l'espace de gestion CPF"
TIMEOUT = 90.0


# -- the option and the setting -------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--no-mouse", "demo"], ["demo", "--no-mouse"], ["--no-mouse"]])
def test_no_mouse_option_turns_the_mouse_off(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    monkeypatch.delenv("CPF_TUI_UI__MOUSE", raising=False)
    assert _load(_parser().parse_args(argv)).ui.mouse is False


@pytest.mark.parametrize("argv", [["demo"], []])
def test_mouse_stays_on_without_the_option(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("CPF_TUI_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CPF_TUI_CONFIG", raising=False)
    monkeypatch.delenv("CPF_TUI_UI__MOUSE", raising=False)
    assert _load(_parser().parse_args(argv)).ui.mouse is True


def test_ui_mouse_setting_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "cpf-tui.toml"
    config.write_text("[ui]\nmouse = false\n", encoding="utf-8")
    assert load_settings(config, env={}).ui.mouse is False
    assert load_settings(None, env={"CPF_TUI_UI__MOUSE": "false"}).ui.mouse is False
    assert load_settings(None, env={"CPF_TUI_UI__MOUSE": "oui"}).ui.mouse is True
    # The environment wins over the file.
    assert load_settings(config, env={"CPF_TUI_UI__MOUSE": "true"}).ui.mouse is True
    assert load_settings(None, env={}).ui.mouse is True


def test_help_of_demo_mentions_no_mouse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--no-mouse" in out and "souris" in out


# -- in a real pseudo-terminal ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sandbox_file(tmp_path_factory.mktemp("thin-sandbox") / "sandbox.sqlite3")


def run_to_login_and_quit(argv_tail: list[str], env_extra: dict[str, str], sandbox: Path,
                          tmp_path: Path) -> bytes:
    """Open the sandbox in a pty, wait for the login screen, quit with Ctrl+Q then `o`; all bytes written."""
    database = copy_sandbox(sandbox, tmp_path / "db")
    argv = [cpf_tui_command(), *argv_tail[:argv_tail.index("demo") + 1], "--db", str(database),
            *argv_tail[argv_tail.index("demo") + 1:]]
    session = PtySession(argv, env=app_env(tmp_path, **env_extra), cwd=tmp_path)
    session.start()
    try:
        session.wait_for_text(LOGIN_TITLE, TIMEOUT)
        session.wait_quiet(0.3, TIMEOUT)
        session.send(b"\x11")  # Ctrl+Q
        session.wait_for_text("Quitter l'application", TIMEOUT)
        session.wait_quiet(0.3, TIMEOUT)
        session.send(b"o")
        assert session.wait_exit(TIMEOUT) == 0
    finally:
        session.close()
    return bytes(session.output)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv_tail", "env_extra"),
    [
        (["demo", "--no-mouse"], {}),
        (["--no-mouse", "demo"], {}),
        (["demo"], {"CPF_TUI_UI__MOUSE": "false"}),
    ],
    ids=["demo--no-mouse", "--no-mouse-demo", "ui.mouse=false"],
)
def test_no_mouse_reporting_is_written_when_off(argv_tail: list[str], env_extra: dict[str, str],
                                                pristine_sandbox: Path, tmp_path: Path) -> None:
    output = run_to_login_and_quit(argv_tail, env_extra, pristine_sandbox, tmp_path)
    assert LOGIN_TITLE.encode() in output  # the app did draw its screen (its first drawing is whole)
    for sequence in MOUSE_ON:
        assert sequence not in output


@pytest.mark.slow
def test_mouse_reporting_is_written_when_on_and_turned_off_at_exit(pristine_sandbox: Path, tmp_path: Path) -> None:
    output = run_to_login_and_quit(["demo"], {}, pristine_sandbox, tmp_path)
    for sequence in MOUSE_ON:
        assert sequence in output
    # Switched off again before the program ends: the shell gets no mouse reports afterwards.
    assert output.rfind(MOUSE_OFF) > output.rfind(b"\x1b[?1000h")


# -- colours in tmux ------------------------------------------------------------------------------------
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(screen: str) -> list[tuple[str, int]]:
    """Every colour set by the SGR sequences of a captured screen: ("16", n), ("256", n) or ("rgb", 0)."""
    found: list[tuple[str, int]] = []
    for params in SGR.findall(screen):
        codes = [int(p) if p else 0 for p in params.split(";")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    found.append(("256", codes[i + 2]))
                    i += 3
                    continue
                if codes[i + 1] == 2:
                    found.append(("rgb", 0))
                    i += 5
                    continue
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                found.append(("16", code))
            i += 1
    return found


def is_grey(kind: str, value: int) -> bool:
    if kind == "256":
        return value in (0, 7, 8, 15, 16, 231) or 232 <= value <= 255
    if kind == "16":
        return value % 10 in (0, 7)  # black, white and their bright forms
    return False


@pytest.fixture
def colour_terminal(pristine_sandbox: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TmuxTerminal]:
    database = copy_sandbox(pristine_sandbox, tmp_path / "db")
    # The program sees the TERM given here, not tmux's own default-terminal.
    term = TmuxTerminal(["env", *request.param, cpf_tui_command(), "demo", "--db", str(database)],
                        env=app_env(tmp_path), cwd=tmp_path)
    term.start()
    try:
        yield term
    finally:
        term.close()


def log_in_and_capture_home(term: TmuxTerminal) -> tuple[str, str]:
    """Login screen and home screen of a gestionnaire, each with its escape sequences."""
    term.wait_for("Connexion à l'espace de gestion CPF", TIMEOUT)
    term.wait_for("Comptes de formation", TIMEOUT)  # footer drawn
    login = term.screen_with_escapes()
    term.type("GSTN4VAD")
    term.wait_for("GSTN4VAD", TIMEOUT)
    term.send("Enter")
    term.wait_cursor_below("Mot de passe", timeout=TIMEOUT)
    term.type("Formation-Cpf-2026!")
    term.wait_for("•" * 19, TIMEOUT)
    term.send("Enter")
    term.wait_for("2 Dossiers de formation", TIMEOUT)  # home's numbered menu
    term.wait_for("x Se déconnecter", TIMEOUT)
    return login, term.screen_with_escapes()


@requires_tmux
@pytest.mark.slow
@pytest.mark.parametrize("colour_terminal", [["TERM=linux"]], indirect=True, ids=["TERM=linux"])
def test_term_linux_uses_the_16_standard_colours_only(colour_terminal: TmuxTerminal) -> None:
    for screen in log_in_and_capture_home(colour_terminal):
        colours = colour_codes(screen)
        assert colours, "aucune couleur : le test ne vérifierait rien"
        assert {kind for kind, _ in colours} == {"16"}
    # The text that matters is on screen, not only in colour.
    home = colour_terminal.screen()
    assert "MODE FORMATION" in home and "Identifiant : GSTN4VAD" in home and "^q Quitter" in home


@requires_tmux
@pytest.mark.slow
@pytest.mark.parametrize("colour_terminal", [["TERM=xterm-256color", "NO_COLOR=1"]], indirect=True,
                         ids=["NO_COLOR=1"])
def test_no_color_draws_in_greys_only(colour_terminal: TmuxTerminal) -> None:
    login, home = log_in_and_capture_home(colour_terminal)
    for screen in (login, home):
        colours = colour_codes(screen)
        assert colours
        assert all(is_grey(kind, value) for kind, value in colours), sorted(set(colours))
    # Without colours, the focused menu entry and the banner still stand out: reverse video or bold.
    assert "\x1b[1m" in home or "\x1b[7m" in home
    assert "Identifiant : GSTN4VAD" in colour_terminal.screen()


# -- steady cursor ------------------------------------------------------------------------------------------
async def test_text_fields_do_not_blink(settings) -> None:
    """A blinking cursor redraws its field twice a second: bytes on slow links, flicker on thin terminals."""
    from textual.widgets import Input

    from cpf_tui.app import make_app

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        identifier = app.screen.query_one("#login-identifier", Input)
        assert app.focused is identifier
        assert identifier.cursor_blink is False
        await pilot.press("tab")
        await pilot.pause()
        password = app.screen.query_one("#login-password", Input)
        assert app.focused is password and password.cursor_blink is False
        await workers_done(app)


async def test_help_of_the_login_screen_is_in_french(settings) -> None:
    """The login fields subclass Textual's Input: its English key descriptions must not reach F1."""
    from textual.binding import Binding
    from textual.widgets import Input

    from cpf_tui.app import make_app
    from screens.help import keys_of

    english = {b.description if isinstance(b, Binding) else b[2] for b in Input.BINDINGS}
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Input)
        lines = keys_of(app.screen)
        descriptions = {line.description for line in lines}
        assert descriptions and not descriptions & english
        assert any(line.description.startswith("Aller au début") for line in lines)  # Début, in French
        assert any(line.keys == "Ctrl+Q" and line.description.startswith("Quitter") for line in lines)
        await workers_done(app)
