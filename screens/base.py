"""Base class of every full screen: adds the MODE FORMATION banner in the training sandbox."""

from __future__ import annotations

from textual.screen import Screen


class CpfScreen(Screen):
    """A full screen of cpf-tui (Textual runs this on_mount as well as the subclass's)."""

    def on_mount(self) -> None:
        settings = getattr(self.app, "settings", None)
        if settings is not None and settings.sandbox and not self.query("SandboxBanner"):
            from screens.widgets.banner import SandboxBanner

            self.mount(SandboxBanner())
