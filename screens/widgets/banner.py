"""The MODE FORMATION banner shown on every screen of the training sandbox."""

from __future__ import annotations

from textual.widgets import Static


class SandboxBanner(Static):
    """One reverse-video line: this is the training database, nothing here is real."""

    DEFAULT_CSS = """
    SandboxBanner {
        height: 1; width: 100%; content-align: center middle;
        background: $warning; color: $text; text-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__("MODE FORMATION — base d'entraînement, données fictives", markup=False)
