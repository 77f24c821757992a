"""Services and models never import Textual (a second front end, the CLI, reuses them)."""

import subprocess
import sys


def test_services_and_models_are_headless():
    code = (
        "import importlib, pkgutil, sys, cpf_tui.services as s, models\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('cpf_tui.services.' + m.name)\n"
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
