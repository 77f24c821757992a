"""Base class of every full screen: adds the MODE FORMATION banner in the training sandbox."""

from __future__ import annotations

from textual.screen import Screen


class CpfScreen(Screen):
    """A full screen of cpf-tui (Textual runs this on_mount as well as the subclass's)."""

    def on_worker_state_changed(self, event) -> None:
        """Hand worker state changes to the App's single handler (ended session, French errors)."""
        handler = getattr(self.app, "on_worker_state_changed", None)
        if handler is not None:
            handler(event)

    def on_mount(self) -> None:
        settings = getattr(self.app, "settings", None)
        if settings is not None and settings.sandbox and not self.query("SandboxBanner"):
            from screens.widgets.banner import SandboxBanner

            # In the flow of the screen (not docked): a docked banner would hide the Header.
            self.mount(SandboxBanner(), before=0)
