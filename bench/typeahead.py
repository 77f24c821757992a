"""Benchmark: what the App's KeyGate (screens/widgets/typeahead.py) costs a burst of typed-ahead keys.

Usage: `.venv/bin/python bench/typeahead.py [--touches 200] [--repetitions 5]`

A form of six one-line fields (the organisation form's shape, headless, 80x24) receives N keys in one
burst, as the terminal driver posts them after one read: letters with Entrée after every 20. Measured,
with the gate (each key delivered once the previous one has acted) and without it (Textual's own
routing, where keys after Entrée land in the wrong field): seconds until every key is handled,
microseconds per key, gate rounds per key, and whether the fields hold exactly what was typed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Input

from screens.widgets.typeahead import KeyGate


class FormApp(App[None]):
    FIELDS = 6

    def __init__(self, *, gated: bool) -> None:
        super().__init__()
        self.gated = gated
        self.key_gate = KeyGate(self, super().on_event)

    def compose(self) -> ComposeResult:
        for index in range(self.FIELDS):
            yield Input(id=f"f{index}", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.screen.focus_next()

    async def on_event(self, event: events.Event) -> None:
        if self.gated and isinstance(event, events.Key) and not event.is_forwarded:
            await self.key_gate.receive(event)
            return
        await super().on_event(event)


def keys_for(count: int) -> tuple[list[tuple[str, str]], list[str]]:
    """`count` keys: fields of 19 letters each closed by Entrée; and the values expected per field."""
    keys, values, current = [], [], ""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for index in range(count):
        if len(current) == 19 and len(values) < FormApp.FIELDS - 1:
            keys.append(("enter", "\r"))
            values.append(current)
            current = ""
        else:
            char = letters[index % 26]
            keys.append((char, char))
            current += char
    values.append(current)
    return keys, values


async def one_run(count: int, gated: bool) -> tuple[float, int, bool]:
    app = FormApp(gated=gated)
    keys, expected = keys_for(count)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        rounds_before = app.key_gate.rounds_total
        started = time.perf_counter()
        for key, char in keys:
            app.post_message(events.Key(key, char))
        typed = sum(len(v) for v in expected)
        while True:
            await asyncio.sleep(0)
            values = [app.query_one(f"#f{i}", Input).value for i in range(FormApp.FIELDS)]
            gate_idle = not app.key_gate.busy and not app.key_gate._held
            if sum(len(v) for v in values) >= typed and (gate_idle or not gated):
                break
            if time.perf_counter() - started > 60:
                break
        elapsed = time.perf_counter() - started
        exact = values[: len(expected)] == expected
        await pilot.pause()
        return elapsed, app.key_gate.rounds_total - rounds_before, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--touches", type=int, default=200)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    for gated in (True, False):
        results = [asyncio.run(one_run(args.touches, gated)) for _ in range(args.repetitions)]
        times = [r[0] for r in results]
        median = statistics.median(times)
        label = "avec KeyGate" if gated else "sans KeyGate (Textual seul)"
        print(f"{label:28} {args.touches} touches : médiane {median * 1000:.1f} ms "
              f"({median / args.touches * 1e6:.0f} µs/touche), meilleur {min(times) * 1000:.1f} ms, "
              f"tours/touche {results[0][1] / args.touches:.2f}, valeurs exactes : "
              f"{sum(r[2] for r in results)}/{len(results)}")


if __name__ == "__main__":
    main()
