"""Screens shown and closed leave nothing behind: a session's memory stays flat over a working day.

Textual kept two things alive after a screen was closed (`CpfApp.release_closed_widgets`): a widget
watching an App attribute (Textual's `Header` watched `App.title` / `App.sub_title`, pruned by Textual
only when those change, never here; the screens now draw `CpfHeader`, which watches nothing), and widgets' drawing caches, through `StylesCache.get_inner_outer`'s `lru_cache`
(keyed on the cache itself, up to 1,024 of them). A search, a holder's page and back kept about 0.18 MB
and 1,100 objects each time.

On PostgreSQL a third thing did: asyncpg's 300 s timers (a pooled connection's idle timeout, a cached
statement's lifetime) kept the context they were armed from — a worker's, with the worker and its
screen — until they fired; every list and form screen that read the database stayed 5 minutes
(`cpf_tui.pg_client.arm_outside_context`). The files walk below covers it when the suite runs on
PostgreSQL.
"""

from __future__ import annotations

import gc

from textual._styles_cache import StylesCache
from textual.widget import Widget

from cpf_tui.app import make_app
from models import Profile, Role
from screens.dossier_form import DossierFormScreen
from screens.holder_page import HolderPageScreen
from tests.factories import make_account, make_organisation
from tests.holder_helpers import funded_holder, open_first_file, training_file
from tests.pilot import login_and_open, open_section, settle, workers_done

NIR = "185057800608491"


def alive() -> tuple[int, int]:
    """(widgets, widgets' drawing caches) still in memory once the garbage is collected."""
    gc.collect()
    objects = gc.get_objects()
    return (sum(isinstance(o, Widget) for o in objects), sum(isinstance(o, StylesCache) for o in objects))


async def test_closed_screens_release_their_widgets(db, settings):
    org = await make_organisation()
    holder = await funded_holder(60 * 60, nir=NIR)
    await training_file(org, holder)
    user = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        counts = []
        for round_no in range(4):
            await pilot.press(*(NIR if round_no == 0 else ""), "enter")  # the search
            await workers_done(app)
            await pilot.press("enter")  # the holder's page
            await workers_done(app)
            await settle(pilot)
            assert isinstance(app.screen, HolderPageScreen)
            await pilot.press("escape")
            await settle(pilot)
            counts.append(alive())
        # from the second round on, nothing more is kept (the first one fills what stays: caches, classes)
        assert counts[1] == counts[2] == counts[3], counts
        await pilot.press("escape")  # home
        await settle(pilot)
        files = []
        for _ in range(3):
            await open_section(pilot, "dossiers")
            assert isinstance(await open_first_file(app, pilot), DossierFormScreen)
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("escape")
            await settle(pilot)
            files.append(alive())
        assert files[1] == files[2], files
