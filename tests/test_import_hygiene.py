"""What each import path may load: services and models never import Textual; the App's first frame
loads nothing of the ORM or the heavy libraries (the deliberate deferrals, named and tested one by one)."""

import subprocess
import sys

import pytest

START_UP = "import cpf_tui.cli, cpf_tui.app, screens.login"
"""What runs before the login screen's first frame (`cpf-tui`, `cpf-tui demo`)."""

DEFERRED = {
    "tortoise": "the ORM: opened by App.start_database after the first frame",
    "models": "the models import the ORM",
    "argon2": "the password hashers: warmed while the login form is typed (auth.prepare_login)",
    "faker": "training data: only when the sandbox is built",
    "openpyxl": "workbooks: only for bulk habilitation and exports",
    "asyncpg": "the PostgreSQL driver: loaded with the ORM when the URL asks for it",
}
"""Modules the start-up must not import, and where they are loaded instead (bench/startup.py)."""

ALLOWED_SERVICES_AT_START_UP = {"cpf_tui.services", "cpf_tui.services.context"}
"""The only service modules the App imports before its first frame (no ORM in them)."""


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.fixture(scope="module")
def start_up_modules() -> set[str]:
    return _loaded(START_UP)


@pytest.mark.parametrize("module", sorted(DEFERRED), ids=sorted(DEFERRED))
def test_the_first_frame_does_not_load(module, start_up_modules):
    assert module not in start_up_modules, DEFERRED[module]


def test_only_the_context_service_is_loaded_before_the_first_frame(start_up_modules):
    assert {name for name in start_up_modules if name.startswith("cpf_tui.services")} == ALLOWED_SERVICES_AT_START_UP


def test_services_and_models_are_headless():
    loaded = _loaded(
        "import importlib, pkgutil, cpf_tui.services as s, models\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('cpf_tui.services.' + m.name)"
    )
    assert "textual" not in loaded
