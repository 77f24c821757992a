"""One text rule for every field: brackets are ordinary characters, control characters (a pasted escape
sequence) are refused with a message — by the services (`validation.validate_text`) and, on the screens,
by the seam (`screens/base.py`: the paste is refused, the field keeps what it held)."""

from __future__ import annotations

from datetime import date

import pytest
from textual import events
from textual.widgets import DataTable, Input

from cpf_tui.app import make_app
from cpf_tui.errors import ValidationError
from cpf_tui.services import dossiers, holders, journal, ledger, planning, reference
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import HoursMovement, MovementKind, PlanningMilestone, Profile, Role
from screens.holder_page import HolderPageScreen
from screens.holders import HolderSearchScreen
from tests.factories import make_account, make_staff
from tests.holder_helpers import funded_holder
from tests.pilot import login_and_open, settle, text_of, type_into, wait_until

H = 60
ESCAPE_SEQUENCE = "\x1b[31mROUGE\x1b[0m"
BRACKETS = "Attestation employeur (réf. [A12])"


async def _refusal(call) -> str:  # noqa: ANN001 - a coroutine
    with pytest.raises(ValidationError) as refused:
        await call
    return refused.value.message


async def test_every_text_service_refuses_an_escape_sequence_with_the_one_message(db):
    await reference.load_reference_data()
    holder = await funded_holder(40 * H)
    user = await make_account(Role.PRINCIPAL_ADMIN, Profile.CLOTURE)
    operator = await make_staff(Role.OPERATOR)
    ctx, op_ctx = RequestContext(account_id=user.id), RequestContext(account_id=operator.id)
    line = await PlanningMilestone.first()
    draft = DossierInput(holder_nir=holder.nir, training_title=ESCAPE_SEQUENCE)
    calls = {
        "Justification": ledger.set_dif_balance(ctx, holder.id, 10 * H, ESCAPE_SEQUENCE),
        "Intitulé de la formation": dossiers.create_draft(ctx, draft),
        "Action": planning.update_line(op_ctx, line.id, action=ESCAPE_SEQUENCE, responsible="", start_text="",
                                       end_text=""),
        "Responsabilité": planning.update_line(op_ctx, line.id, action="Lancement", responsible=ESCAPE_SEQUENCE,
                                               start_text="", end_text=""),
        "Cible": journal.search(ctx, journal.JournalFilters(target=ESCAPE_SEQUENCE)),
        "Nom": holders.search(ctx, name=ESCAPE_SEQUENCE, birth_date=date(1990, 1, 1)),
        "E-mail": holders.update_contact(ctx, holder.id, email=f"a{ESCAPE_SEQUENCE}@example.fr", mobile=""),
    }
    for label, call in calls.items():
        assert f"{label} : caractères de contrôle interdits." in await _refusal(call), label
    assert not await HoursMovement.filter(holder_id=holder.id, kind=MovementKind.DIF_SETTING,
                                          author_id=user.id).exists()
    assert "ROUGE" not in (await PlanningMilestone.get(id=line.id)).action


async def test_brackets_are_ordinary_characters_in_every_text_field(db):
    await reference.load_reference_data()
    holder = await funded_holder(40 * H)
    user = await make_account(Role.PRINCIPAL_ADMIN, Profile.CLOTURE)
    operator = await make_staff(Role.OPERATOR)
    ctx = RequestContext(account_id=user.id)
    await ledger.set_dif_balance(ctx, holder.id, 10 * H, BRACKETS)
    draft = await dossiers.create_draft(ctx, DossierInput(holder_nir=holder.nir, training_title="[b]Excel[/b] niveau 2"))
    line = await PlanningMilestone.first()
    await planning.update_line(RequestContext(account_id=operator.id), line.id, action="Recette [lot 2]",
                               responsible="CDC", start_text="", end_text="")
    movement = await HoursMovement.get(holder_id=holder.id, kind=MovementKind.DIF_SETTING, author_id=user.id)
    assert movement.reason == BRACKETS
    assert draft.training_title == "[b]Excel[/b] niveau 2"
    assert (await PlanningMilestone.get(id=line.id)).action == "Recette [lot 2]"


async def _holder_page(pilot, app, holder) -> HolderPageScreen:  # noqa: ANN001
    assert isinstance(app.screen, HolderSearchScreen)
    await pilot.press(*holder.nir, "enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, HolderPageScreen)
    return app.screen


async def test_a_pasted_escape_sequence_is_refused_and_brackets_are_kept_as_typed(db, settings, frozen_clock):
    """80x24, keys only: in the DIF dialog, the paste is refused with a message (the field keeps what it
    held, nothing stored); the justification « … (réf. [A12]) » is then accepted and shown literally."""
    holder = await funded_holder(40 * H)
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        page = await _holder_page(pilot, app, holder)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        await type_into(pilot, "10 h")
        await pilot.press("tab", *"Attestation")
        await settle(pilot)
        app.post_message(events.Paste(ESCAPE_SEQUENCE))  # as a terminal delivers a paste
        await settle(pilot)
        assert modal.query_one("#modal-reason", Input).value == "Attestation"
        assert modal.focused is modal.query_one("#modal-reason", Input)
        assert "Texte collé refusé : caractères de contrôle interdits" in text_of(modal, "#modal-message")
        await type_into(pilot, BRACKETS)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is page, "retour à la fiche du titulaire")
        await settle(pilot)
        history = page.query_one("#holder-ledger", DataTable)
        assert any(BRACKETS == str(cell) for row in range(history.row_count) for cell in history.get_row_at(row))
    movement = await HoursMovement.get(holder_id=holder.id, kind=MovementKind.DIF_SETTING, author_id=user.id)
    assert movement.reason == BRACKETS


async def test_a_paste_into_a_search_box_is_refused_too(db, settings):
    """The seam's rule holds for a field no service stores: the holder search box keeps what it held."""
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION)
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await login_and_open(pilot, user, "holders")
        screen = app.screen
        await pilot.press(*"dur")
        await settle(pilot)
        app.post_message(events.Paste("\u202eand"))  # a bidi override: invisible, reorders what is shown
        await settle(pilot)
        assert isinstance(screen.focused, Input) and screen.focused.value == "dur"
        assert "caractères de contrôle interdits" in text_of(screen, "#holder-message")
