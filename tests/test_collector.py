"""Python's full garbage collections are made while the session is at rest, not amid a key's work
(cpf_tui/collector.py): under load, a full collection started by Python inside a step made that step
wait 13 to 570 ms."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from cpf_tui import collector
from screens.login import LoginScreen
from tests.pilot import new_app, workers_done


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """The full collections Python makes during the test, by number (one entry each)."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(len(seen) + 1)

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def garbage_pending() -> None:
    """As much garbage pending as makes Python's own full collection due (FULL_AFTER middle ones)."""
    for _ in range(collector.FULL_AFTER):
        gc.collect(1)
    assert gc.get_count()[2] >= collector.FULL_AFTER


async def test_a_full_collection_waits_for_the_session_at_rest(db, settings, full_collections):
    app = new_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("a")  # a key: the person is typing
        assert app.collector.last_input_at == app.monotonic()
        garbage_pending()
        before = len(full_collections)
        app.monotonic.advance(collector.REST_SECONDS / 2)
        assert not app.collector.collect_if_at_rest()
        assert len(full_collections) == before  # due, but not amid typing

        app.monotonic.advance(collector.REST_SECONDS)
        assert app.collector.collect_if_at_rest()  # a second without a key: at rest
        assert len(full_collections) == before + 1
        assert gc.get_count()[2] == 0
        assert not app.collector.collect_if_at_rest()  # nothing pending any more: none again


async def test_the_screens_work_in_progress_is_no_rest(db, settings, full_collections):
    app = new_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        release = asyncio.Event()
        worker = app.screen.run_worker(release.wait(), name="reading")  # a file read before it is shown
        await pilot.pause()
        garbage_pending()
        app.monotonic.advance(10 * collector.REST_SECONDS)
        before = len(full_collections)
        assert not app.collector.collect_if_at_rest()
        assert len(full_collections) == before
        release.set()
        await worker.wait()
        garbage_pending()  # (the App's own look may have collected meanwhile: it is at rest now)
        before = len(full_collections)
        assert app.collector.collect_if_at_rest()
        assert len(full_collections) == before + 1


async def test_the_app_collects_at_rest_by_itself_and_restores_pythons_thresholds(db, settings, full_collections):
    thresholds = gc.get_threshold()
    app = new_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        # Python's own full collections are rare while the App runs: the App makes them at rest.
        assert gc.get_threshold() == (thresholds[0], thresholds[1], collector.AUTOMATIC_FULL_EVERY)
        await pilot.press("a")
        garbage_pending()
        app.monotonic.advance(collector.REST_SECONDS)
        before = len(full_collections)
        await pilot.pause(3 * collector.TICK_SECONDS)  # the App's own look at rest
        assert len(full_collections) > before
    assert gc.get_threshold() == thresholds
