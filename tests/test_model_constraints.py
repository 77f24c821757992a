"""Rules the database itself enforces: unique numbers, non-negative hours, one active principal admin."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError

from models import (
    Account,
    AccountStatus,
    Bucket,
    Dossier,
    Establishment,
    HoursMovement,
    MovementKind,
    Organisation,
    Role,
)
from tests.factories import make_account as make_account_slow
from tests.factories import make_holder, make_organisation, make_siren, make_siret


async def make_account(*args, **kwargs) -> Account:
    """An account with the cheap temporary-password hash (these tests never log in)."""
    return await make_account_slow(*args, temporary=True, **kwargs)


async def test_identifier_is_unique_even_for_deactivated_accounts(db):
    await make_account(identifier="K7MP4XQ2", status=AccountStatus.DEACTIVATED)
    with pytest.raises(IntegrityError):
        await make_account(identifier="K7MP4XQ2")
    assert await Account.filter(identifier="K7MP4XQ2").count() == 1


async def test_siret_is_unique_for_organisations_and_establishments(db):
    organisation = await make_organisation()
    with pytest.raises(IntegrityError):
        await Organisation.create(siret=organisation.siret, siren=organisation.siren, raison_sociale="Doublon")
    with pytest.raises(IntegrityError):
        await Establishment.create(organisation=organisation, siret=organisation.siret, name="Doublon")
    assert await Organisation.filter(siret=organisation.siret).count() == 1


async def test_nir_is_unique(db):
    holder = await make_holder()
    with pytest.raises(IntegrityError):
        await make_holder(nir=holder.nir)


async def test_dossier_number_is_unique(db):
    holder = await make_holder()
    organisation = await make_organisation()
    await Dossier.create(number="DF-2026-000001", holder=holder, organisation=organisation)
    with pytest.raises(IntegrityError):
        await Dossier.create(number="DF-2026-000001", holder=holder, organisation=organisation)


async def test_negative_movement_is_rejected(db):
    holder = await make_holder()
    with pytest.raises(IntegrityError):
        await HoursMovement.create(holder=holder, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF, minutes=-60)
    with pytest.raises(IntegrityError):
        await HoursMovement.create(holder=holder, kind=MovementKind.DIF_SETTING, bucket=Bucket.DIF, minutes=60,
                                   previous_minutes=-1)
    assert await HoursMovement.all().count() == 0


@pytest.mark.parametrize(
    "column", ["cpf_acquired_minutes", "cpf_reserved_minutes", "cpf_consumed_minutes", "dif_total_minutes",
               "dif_reserved_minutes", "dif_consumed_minutes"],
)
async def test_negative_holder_balance_is_rejected(db, column):
    with pytest.raises(IntegrityError):
        await make_holder(**{column: -1})


async def test_dif_above_120_hours_is_rejected(db):
    with pytest.raises(IntegrityError):
        await make_holder(dif_total_minutes=121 * 60)
    assert (await make_holder(dif_total_minutes=120 * 60)).dif_total_minutes == 7200


async def test_negative_dossier_hours_are_rejected(db):
    holder = await make_holder()
    organisation = await make_organisation()
    with pytest.raises(IntegrityError):
        await Dossier.create(number="DF-1", holder=holder, organisation=organisation, requested_minutes=-60)
    with pytest.raises(IntegrityError):
        await Dossier.create(number="DF-2", holder=holder, organisation=organisation, done_minutes=-1)
    assert await Dossier.all().count() == 0


async def test_negative_failed_attempts_are_rejected(db):
    with pytest.raises(IntegrityError):
        await make_account(failed_attempts=-1)


async def test_a_second_active_principal_admin_is_rejected(db):
    organisation = await make_organisation()
    await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    with pytest.raises(IntegrityError):
        await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    assert await Account.filter(organisation=organisation, role=Role.PRINCIPAL_ADMIN).count() == 1


async def test_a_deactivated_principal_can_be_replaced(db):
    organisation = await make_organisation()
    first = await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    first.status = AccountStatus.DEACTIVATED
    await first.save()
    await make_account(Role.PRINCIPAL_ADMIN, organisation=organisation)
    assert await Account.filter(organisation=organisation, role=Role.PRINCIPAL_ADMIN).count() == 2
    with pytest.raises(IntegrityError):  # reactivating the old one would make two
        first.status = AccountStatus.ACTIVE
        await first.save()


async def test_organisations_sharing_a_siren_each_have_their_principal(db):
    siren = make_siren(4242)
    nantes = await Organisation.create(siret=make_siret(siren, 1), siren=siren, raison_sociale="Nantes")
    rennes = await Organisation.create(siret=make_siret(siren, 2), siren=siren, raison_sociale="Rennes")
    await make_account(Role.PRINCIPAL_ADMIN, organisation=nantes)
    await make_account(Role.PRINCIPAL_ADMIN, organisation=rennes)
    await make_account(Role.DELEGATED_ADMIN, organisation=nantes)
    await make_account(Role.DELEGATED_ADMIN, organisation=nantes)
    assert await Account.filter(role=Role.PRINCIPAL_ADMIN, status=AccountStatus.ACTIVE).count() == 2

