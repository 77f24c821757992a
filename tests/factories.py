"""Builders of test data that go through the models directly (services are tested elsewhere)."""

from __future__ import annotations

import itertools
from datetime import date

from stdnum.fr import siren as siren_mod
from stdnum.fr import siret as siret_mod

from cpf_tui.services import passwords
from cpf_tui.services.context import RequestContext
from models import Account, AccountStatus, Establishment, Holder, Organisation, Profile, Role, StructureType

_counter = itertools.count(1)
DEFAULT_PASSWORD = "Formation-2026-Cpf!"


def make_siren(n: int) -> str:
    """A valid SIREN derived from n (Luhn check digit)."""
    from stdnum import luhn

    base = f"{(70000000 + n * 7919) % 100000000:08d}"
    result = base + luhn.calc_check_digit(base)
    assert siren_mod.is_valid(result), result
    return result


def make_siret(siren: str, establishment_number: int) -> str:
    """A valid SIRET for this SIREN and establishment number (NIC)."""
    from stdnum import luhn

    base = siren + f"{establishment_number:04d}"
    result = base + luhn.calc_check_digit(base)
    assert siret_mod.is_valid(result), result
    return result


async def make_organisation(
    name: str = "Organisme de test", *, structure: StructureType = StructureType.UNIQUE, siren: str | None = None,
    secondary: int = 0,
) -> Organisation:
    n = next(_counter)
    siren = siren or make_siren(n)
    head_siret = make_siret(siren, 10 + n)
    org = await Organisation.create(
        siret=head_siret, siren=siren, raison_sociale=f"{name} {n}", address="1 rue de la Paix, 75002 Paris",
        contact_email=f"contact{n}@example.fr", structure_type=structure,
    )
    await Establishment.create(organisation=org, siret=head_siret, name=f"Siège {n}", is_head_office=True)
    for i in range(secondary):
        await Establishment.create(
            organisation=org, siret=make_siret(siren, 1000 + (n * 10 + i) % 9000), name=f"Établissement {n}-{i + 1}"
        )
    return org


async def make_account(
    role: Role = Role.GESTIONNAIRE,
    profile: Profile = Profile.CONSULTATION,
    *,
    organisation: Organisation | None = None,
    establishment: Establishment | None = None,
    password: str = DEFAULT_PASSWORD,
    temporary: bool = False,
    identifier: str | None = None,
    status: AccountStatus = AccountStatus.ACTIVE,
    **fields,
) -> Account:
    n = next(_counter)
    if role != Role.OPERATOR and organisation is None:
        organisation = await make_organisation()
    if organisation is not None and establishment is None:
        establishment = await Establishment.filter(organisation=organisation, is_head_office=True).first()
    if role in (Role.PRINCIPAL_ADMIN, Role.DELEGATED_ADMIN, Role.OPERATOR):
        profile = Profile.CLOTURE
    hashed = passwords.hash_temporary(password) if temporary else passwords.hash_password(password)
    defaults = dict(
        nom=f"Nom{n}", prenom=f"Prénom{n}", email=f"user{n}@example.fr", phone="+33612345678",
        password_is_temporary=temporary, cgu_version_accepted=None if temporary else 1,
    )
    defaults.update(fields)
    return await Account.create(
        identifier=identifier or f"TST{n:05d}".replace("0", "Z").replace("1", "Y"),
        role=role, profile=profile, status=status, organisation=organisation, establishment=establishment,
        password_hash=hashed, **defaults,
    )


async def make_staff(role: Role = Role.GESTIONNAIRE, profile: Profile = Profile.CONSULTATION, **fields) -> Account:
    """An account past its first login (CGU accepted, own password) with a cheap hash: an actor of service tests."""
    fields.setdefault("password_is_temporary", False)
    fields.setdefault("cgu_version_accepted", 1)
    return await make_account(role, profile, temporary=True, **fields)


async def make_holder(nir: str = "", **fields) -> Holder:
    from stdnum.fr import nir as nir_mod

    n = next(_counter)
    if not nir:
        base = f"1{85 + n % 10:02d}0{5 + n % 4}75{(100 + n) % 1000:03d}{n % 1000:03d}"[:13]
        nir = base + nir_mod.calc_check_digits(base)
    defaults = dict(
        nom_naissance=f"DUPONT{n}", prenoms="Jean", date_naissance=date(1985, 5, 1),
        search_name=f"DUPONT{n}",
    )
    defaults.update(fields)
    return await Holder.create(nir=nir, **defaults)


ORIGIN = RequestContext(terminal="xterm-256color", ssh_user="claire", ssh_key_fingerprint="SHA256:abc",
                        peer="192.0.2.10:52022")
"""Where the logins of the service tests come from (an SSH session)."""


async def login(account: Account) -> RequestContext:
    """Log `account` in through the login service (password DEFAULT_PASSWORD); its request context."""
    from cpf_tui.services import auth

    info = await auth.authenticate(account.identifier, DEFAULT_PASSWORD, ORIGIN)
    return ORIGIN.as_account(info.account_id, info.session_token)


async def planning_ready(frozen_clock) -> None:  # noqa: ANN001 - the frozen_clock fixture
    """The kit's planning loaded and « now » on 10 December 2014, in the middle of it."""
    from datetime import datetime, timezone

    from cpf_tui.services import reference

    frozen_clock.current = datetime(2014, 12, 10, 8, 0, tzinfo=timezone.utc)
    await reference.load_reference_data()
