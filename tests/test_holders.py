"""Holders: search by NIR or name prefix + birth date, holder page, coordonnées médiatiques."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.fr import nir as nir_mod

from cpf_tui.errors import Conflict, PermissionDenied, ValidationError
from cpf_tui.services import holders, ledger, validation
from cpf_tui.services.context import RequestContext
from models import AuditEvent, Holder, Profile, Role
from tests.factories import make_account, make_holder

NIR = "185057800608491"  # a valid NIR (key 91)


async def _ctx(role: Role = Role.GESTIONNAIRE, profile: Profile = Profile.CONSULTATION) -> RequestContext:
    return RequestContext(account_id=(await make_account(role, profile)).id)


def test_nir_normalisation_and_french_errors():
    assert validation.normalise_nir("1 85 05 78 006 084 91") == NIR
    with pytest.raises(ValidationError, match="clé de contrôle"):
        validation.normalise_nir("185057800608492")
    with pytest.raises(ValidationError, match="15 caractères"):
        validation.normalise_nir("18505")


async def test_search_by_nir_with_spaces(db):
    holder = await make_holder(nir=NIR)
    await make_holder()
    ctx = await _ctx()
    found = await holders.search(ctx, nir="1 85 05 78 006 084 91")
    assert [row.id for row in found] == [holder.id]
    other = "2850578006084" + nir_mod.calc_check_digits("2850578006084")
    assert await holders.search(ctx, nir=other) == []


async def test_search_by_name_prefix_needs_birth_date_and_matches_usage_name(db):
    born = date(1990, 3, 4)
    a = await make_holder(nom_naissance="Lefèvre", search_name="LEFEVRE", date_naissance=born, prenoms="Anne")
    b = await make_holder(nom_naissance="Martin", nom_usage="Lefort", search_name="MARTIN", search_usage="LEFORT",
                          date_naissance=born, prenoms="Zoé")
    await make_holder(nom_naissance="Lefèvre", search_name="LEFEVRE", date_naissance=date(1991, 3, 4))
    await make_holder(nom_naissance="Legrand", search_name="LEGRAND", date_naissance=born)
    ctx = await _ctx()
    rows = await holders.search(ctx, name="lef", birth_date=born)
    assert [row.id for row in rows] == [a.id, b.id]
    assert [row.id for row in await holders.search(ctx, name="Léfè", birth_date=born)] == [a.id]
    with pytest.raises(ValidationError, match="Date de naissance"):
        await holders.search(ctx, name="lef")
    with pytest.raises(ValidationError, match="NIR"):
        await holders.search(ctx)


async def test_search_limits_to_fifty(db):
    born = date(1980, 1, 1)
    for i in range(55):
        await make_holder(nom_naissance=f"Durand{i:02d}", search_name=f"DURAND{i:02d}", date_naissance=born)
    rows = await holders.search(await _ctx(), name="DUR", birth_date=born)
    assert len(rows) == 50
    assert rows[0].nom_naissance == "Durand00"


async def test_operators_may_search_but_not_update(db):
    holder = await make_holder(nir=NIR)
    operator = await _ctx(Role.OPERATOR)
    assert len(await holders.search(operator, nir=NIR)) == 1
    with pytest.raises(PermissionDenied):
        await holders.update_contact(operator, holder.id, email="a@example.fr", mobile="")


async def test_update_contact_validates_normalises_and_audits(db, frozen_clock):
    holder = await make_holder(email="old@example.fr")
    ctx = await _ctx()
    await holders.update_contact(ctx, holder.id, email="Nouvelle@Example.FR", mobile="06 12 34 56 78",
                                 expected_version=holder.version)
    await holder.refresh_from_db()
    assert (holder.email, holder.mobile) == ("Nouvelle@example.fr", "+33612345678")
    event = await AuditEvent.get(action="holder.update_contact")
    assert event.before == {"email": "old@example.fr", "mobile": ""}
    assert event.after == {"email": "Nouvelle@example.fr", "mobile": "+33612345678"}


@pytest.mark.parametrize(
    "email, mobile, fragment",
    [("pas-un-email", "", "E-mail"), ("", "01 23 45 67 89", "mobile"), ("", "12", "Téléphone mobile")],
)
async def test_update_contact_refuses_bad_input(db, email, mobile, fragment):
    holder = await make_holder(email="keep@example.fr")
    with pytest.raises(ValidationError) as caught:
        await holders.update_contact(await _ctx(), holder.id, email=email, mobile=mobile)
    assert fragment in caught.value.message
    await holder.refresh_from_db()
    assert holder.email == "keep@example.fr"
    assert await AuditEvent.filter(action="holder.update_contact").count() == 0


async def test_update_contact_accepts_an_overseas_mobile_written_nationally(db):
    from cpf_tui.services.validation import format_phone

    holder = await make_holder()
    ctx = await _ctx()
    await holders.update_contact(ctx, holder.id, email="", mobile="0692 03 67 28", expected_version=holder.version)
    page = await holders.holder_page(ctx, holder.id)
    assert page.mobile == "+262692036728"  # Réunion, stored in E.164
    assert format_phone(page.mobile) == "0692 03 67 28"
    with pytest.raises(ValidationError, match="mobile est attendu"):
        await holders.update_contact(ctx, holder.id, email="", mobile="0262 12 34 56")


async def test_update_contact_stale_version_is_a_conflict(db):
    holder = await make_holder()
    ctx = await _ctx()
    await holders.update_contact(ctx, holder.id, email="a@example.fr", mobile="", expected_version=holder.version)
    with pytest.raises(Conflict):
        await holders.update_contact(ctx, holder.id, email="b@example.fr", mobile="", expected_version=holder.version)
    assert (await Holder.get(id=holder.id)).email == "a@example.fr"


async def test_holder_page_shows_balances_and_history(db, frozen_clock):
    holder = await make_holder()
    user = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, nom="Petit", prenom="Léa")
    ctx = RequestContext(account_id=user.id)
    await ledger.set_dif_balance(ctx, holder.id, 20 * 60 + 30, "Attestation n° 7")
    page = await holders.holder_page(ctx, holder.id)
    assert page.balances.dif_available == 20 * 60 + 30
    [line] = page.movements
    assert (line.kind_label, line.minutes, line.previous_minutes, line.author, line.reason) == (
        "Saisie du solde DIF", 1230, 0, "Léa Petit", "Attestation n° 7")
