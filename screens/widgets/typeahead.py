"""An Input that hands keys typed ahead to whichever widget has the focus after Enter or Tab.

Textual queues keys on the widget focused when they arrive: typing "identifier, Enter, password"
without pausing would put the password, in clear, into the identifier field. This Input moves the
focus itself, synchronously, on Enter and Tab, and forwards every key it receives afterwards to the
widget that now has the focus.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class TypeAheadInput(Input):
    """Input whose Enter (submit, then next field) and Tab move the focus at once; queued keys follow."""

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # Typed before the focus moved: hand it over, in order, to the new focus.
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("enter", "tab"):
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                await self.action_submit()
            # Enter, like Tab, goes on to the next field: set now, before the next queued key.
            self.screen.focus_next()
            return
        await super()._on_key(event)
