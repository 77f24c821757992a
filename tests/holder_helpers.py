"""Holders with hours written through the ledger contract (movements + matching projection), and their
training files."""

from __future__ import annotations

from datetime import date, datetime, timezone

from cpf_tui.services import dossiers
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierInput
from models import Account, Bucket, Dossier, Holder, HoursMovement, MovementKind, Profile, Role
from screens.dossier_form import DossierFormScreen
from screens.dossiers import DossierListScreen
from tests.factories import make_account, make_holder, make_siren, make_siret
from tests.pilot import workers_done


async def funded_holder(cpf_minutes: int = 0, dif_minutes: int = 0, **fields) -> Holder:
    """A holder whose CPF and DIF balances come from one acquisition and one DIF setting movement."""
    holder = await make_holder(**fields)
    if cpf_minutes:
        await HoursMovement.create(holder=holder, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF,
                                   minutes=cpf_minutes, reference_year=2020, work_ratio_percent=100)
    if dif_minutes:
        await HoursMovement.create(holder=holder, kind=MovementKind.DIF_SETTING, bucket=Bucket.DIF,
                                   minutes=dif_minutes, previous_minutes=0, reason="Attestation employeur")
    await Holder.filter(id=holder.id).update(cpf_acquired_minutes=cpf_minutes, dif_total_minutes=dif_minutes)
    await holder.refresh_from_db()
    return holder


PROVIDER_SIRET = make_siret(make_siren(904), 21)
"""The training provider's SIRET of the files made here."""


async def open_first_file(app, pilot) -> DossierFormScreen:  # noqa: ANN001 - a CpfApp and its Pilot
    """From the dossier list, Entrée on the first row: the file's form, loaded."""
    assert isinstance(app.screen, DossierListScreen)
    await pilot.press("enter")
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()
    assert isinstance(app.screen, DossierFormScreen)
    return app.screen


async def training_file(org, holder: Holder, *, validated: bool = False) -> Dossier:  # noqa: ANN001
    """A draft (or validated) file of 35 h for `holder`, 2–27 March 2026, owned by a new Clôture gestionnaire."""
    owner = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    ctx = RequestContext(account_id=owner.id)
    data = DossierInput(
        holder_nir=holder.nir, training_title="Comptabilité", provider_name="Compta Formation",
        provider_siret=PROVIDER_SIRET, start_date=date(2026, 3, 2), end_date=date(2026, 3, 27),
        duration_minutes=35 * 60, requested_minutes=35 * 60,
    )
    dossier = await dossiers.create_draft(ctx, data)
    return await dossiers.validate(ctx, dossier.id) if validated else dossier


async def closable_file(org, holder: Holder, frozen_clock) -> tuple[Dossier, Account]:  # noqa: ANN001
    """A validated `training_file` of `holder` whose training has ended (the clock moved to 30 March
    2026), and a Clôture gestionnaire of `org` who may close it."""
    dossier = await training_file(org, holder, validated=True)
    frozen_clock.current = datetime(2026, 3, 30, 9, 0, tzinfo=timezone.utc)  # the training has ended
    return dossier, await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
