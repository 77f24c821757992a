"""Python's full garbage collections made while the session is at rest, not amid a key's work.

Python collects its cyclic garbage by generations; a collection of the oldest one (a "full" one)
visits every object a session made, 40,000 to 75,000 once a few screens have been shown (Textual's
widgets, styles, strips). Python starts it on its own after ten collections of the middle generation,
in the middle of whatever runs then: under load (`bench/load.py`, 20 sessions on 2 cores) the full
collections of the sessions lasted 13 to 570 ms of wall time, about three per session over a walk,
each one inside the step a person was waiting for — a file being opened, a validation.

While an App runs, Python's own full collections are made ten times rarer (`AUTOMATIC_FULL_EVERY`,
a safety for a session that never rests) and the App makes one itself when the session is at rest:
no key for `REST_SECONDS`, no key held or acting (the App's KeyGate), no work of the screen shown
still running (a file being read before it is shown), and as much garbage pending as would have
started Python's own (`FULL_AFTER` collections of the middle generation). A person reading a screen
gives that second; the collection then costs nobody a wait. The thresholds Python had are restored
when the App ends (several Apps run one after the other in the tests).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cpf_tui.app import CpfApp

FULL_AFTER = 10
"""Collections of the middle generation since the last full one that make a full one worth it (Python's
own default threshold)."""
AUTOMATIC_FULL_EVERY = 10 * FULL_AFTER
"""Python's threshold for its own full collections while an App runs: reached only by a session that is
never at rest (typing without a second's pause), whose garbage is then still collected."""
REST_SECONDS = 1.0
"""No key for this long: the person is reading the screen."""
TICK_SECONDS = 0.5
"""How often the App looks whether the session is at rest."""


class RestCollector:
    """The full collections of one App (see the module's doc)."""

    def __init__(self, app: CpfApp, clock: Callable[[], float]) -> None:
        self.app = app
        self.clock = clock
        self.last_input_at: float | None = None
        """When the last key or paste came (None: none yet)."""
        self._thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Python's own full collections made rare, and the App's look at rest every TICK_SECONDS."""
        self._thresholds = gc.get_threshold()
        young, middle, _full = self._thresholds
        gc.set_threshold(young, middle, AUTOMATIC_FULL_EVERY)
        self.app.set_interval(TICK_SECONDS, self.collect_if_at_rest, name="collect-at-rest")

    def stop(self) -> None:
        """Python's thresholds as they were before `start`."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def input_received(self) -> None:
        """A key or a paste from the terminal (the session is not at rest)."""
        self.last_input_at = self.clock()

    def at_rest(self) -> bool:
        """No key for REST_SECONDS, none held or acting, no work of the screen shown running."""
        from screens.widgets.typeahead import screen_work

        if self.last_input_at is not None and self.clock() - self.last_input_at < REST_SECONDS:
            return False
        return not self.app.key_gate.pending and not screen_work(self.app)

    def collect_if_at_rest(self) -> bool:
        """A full collection now, when garbage enough is pending and the session is at rest; True if made."""
        if gc.get_count()[2] < FULL_AFTER or not gc.isenabled() or not self.at_rest():
            return False
        gc.collect()
        return True
