"""The training sandbox: realistic fictional data and known training accounts, the same on every build.

Everything comes from `random.Random(SEED)` and a seeded `faker` (fr_FR), so two builds hold the same
rows. Training accounts are fixed (identifiers, names, passwords), so `training_accounts()` needs no
database. Hours follow the ledger contract of `cpf_tui.services` (non-negative movements, projection
columns of Holder equal to the sums of the ledger).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from cpf_tui import text
from cpf_tui.hours import Balances, acquisition_for_year, reservation_split, settlement
from cpf_tui.services.provisioning import search_text_of
from models import (
    Account,
    AccountStatus,
    Bucket,
    CguAcceptance,
    Dossier,
    DossierEvent,
    DossierStatus,
    Establishment,
    Holder,
    HoursMovement,
    MovementKind,
    Organisation,
    PasswordHistory,
    Profile,
    Role,
    StructureType,
)

SEED = 2026
HOLDER_COUNT = 300
DOSSIERS_PER_STATE = 20
SANDBOX_TODAY = date(2026, 1, 15)
"""The sandbox's fictional "today": dossier dates and acquisitions are placed around it."""

TRAINING_PASSWORD = "Formation-Cpf-2026!"
"""Password of every active training account: 19 characters, four classes, zxcvbn score 4."""
PENDING_TEMP_PASSWORD = "Prem-Cnx7-Frmt-Q2wz"
"""Temporary password of the two accounts that still have to do the first login."""
PENDING_EXPIRY = datetime(2099, 12, 31, 23, 59, tzinfo=timezone.utc)
"""Far-future expiry of those temporary passwords: a sandbox built once must work for every session."""
SETUP_AT = datetime(2025, 12, 1, 9, 0, tzinfo=timezone.utc)
"""When the fictional accounts accepted the CGU and chose their password."""

HOUR = 60
DIF_CEILING = 120 * HOUR
DOSSIER_CEILING = 150 * HOUR

STATE_ACTIVE = "actif"
STATE_PENDING = "première connexion"


# -- organisations -----------------------------------------------------------------------------
def _luhn_complete(digits: str) -> str:
    from stdnum import luhn

    return digits + luhn.calc_check_digit(digits)


def _siren(base8: str) -> str:
    from stdnum.fr import siren

    value = _luhn_complete(base8)
    assert siren.is_valid(value), value
    return value


def _siret(siren_value: str, nic4: str) -> str:
    from stdnum.fr import siret

    value = _luhn_complete(siren_value + nic4)
    assert siret.is_valid(value), value
    return value


@dataclass(frozen=True)
class EstablishmentSpec:
    key: str
    name: str
    nic: str
    address: str
    head_office: bool = False


@dataclass(frozen=True)
class OrganisationSpec:
    key: str
    raison_sociale: str
    siren_base: str
    structure: str
    contact_email: str
    domain: str
    establishments: tuple[EstablishmentSpec, ...]

    @property
    def siren(self) -> str:
        return _siren(self.siren_base)

    @property
    def head(self) -> EstablishmentSpec:
        return next(e for e in self.establishments if e.head_office)

    @property
    def siret(self) -> str:
        return _siret(self.siren, self.head.nic)


ORGANISATIONS: tuple[OrganisationSpec, ...] = (
    OrganisationSpec(
        "avenir", "Institut Formation Avenir", "35291604", "unique", "contact@institut-avenir.example",
        "institut-avenir.example",
        (
            EstablishmentSpec("avenir-paris", "Siège — Paris", "0001", "12 rue des Écoles, 75005 Paris", True),
            EstablishmentSpec("avenir-lyon", "Établissement de Lyon", "0002",
                              "8 quai Saint-Vincent, 69001 Lyon"),
            EstablishmentSpec("avenir-marseille", "Établissement de Marseille", "0003",
                              "40 boulevard Longchamp, 13001 Marseille"),
        ),
    ),
    OrganisationSpec(
        "gce-nantes", "Groupe Compétences Emploi — Nantes", "48210577", "multiple",
        "nantes@competences-emploi.example", "competences-emploi.example",
        (EstablishmentSpec("gce-nantes-siege", "Agence de Nantes", "0001",
                           "5 allée Baco, 44000 Nantes", True),),
    ),
    OrganisationSpec(
        "gce-rennes", "Groupe Compétences Emploi — Rennes", "48210577", "multiple",
        "rennes@competences-emploi.example", "competences-emploi.example",
        (EstablishmentSpec("gce-rennes-siege", "Agence de Rennes", "0002",
                           "17 rue de Saint-Malo, 35000 Rennes", True),),
    ),
)
ORGANISATIONS_BY_KEY = {spec.key: spec for spec in ORGANISATIONS}


# -- training accounts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountSpec:
    identifier: str
    role: str
    profile: str
    organisation: str
    establishment: str
    nom: str
    prenom: str
    service: str
    pending: bool = False


ACCOUNTS: tuple[AccountSpec, ...] = (
    AccountSpec("CDC2TRNG", "operator", "cloture", "", "", "Moreau", "Claire", "Gestion CPF — Angers"),
    AccountSpec("PRNC2UNQ", "principal_admin", "cloture", "avenir", "avenir-paris", "Bertrand", "Hélène",
                "Direction des ressources humaines"),
    AccountSpec("PRNC3MTA", "principal_admin", "cloture", "gce-nantes", "gce-nantes-siege", "Guérin", "Julien",
                "Direction de l'agence"),
    AccountSpec("PRNC4MTB", "principal_admin", "cloture", "gce-rennes", "gce-rennes-siege", "Le Goff", "Maëlle",
                "Direction de l'agence", pending=True),
    AccountSpec("ADMD2SEC", "delegated_admin", "cloture", "avenir", "avenir-lyon", "Faure", "Antoine",
                "Pôle formation Lyon"),
    AccountSpec("ADMD3SEC", "delegated_admin", "cloture", "avenir", "avenir-marseille", "Roux", "Sophie",
                "Pôle formation Marseille"),
    AccountSpec("GSTN2CSN", "gestionnaire", "consultation", "avenir", "avenir-paris", "Petit", "Nathalie",
                "Accueil"),
    AccountSpec("GSTN3CRE", "gestionnaire", "creation", "avenir", "avenir-paris", "Durand", "Thomas",
                "Conseil en formation"),
    AccountSpec("GSTN4VAD", "gestionnaire", "validation", "avenir", "avenir-lyon", "Lambert", "Camille",
                "Conseil en formation"),
    AccountSpec("GSTN5CTR", "gestionnaire", "cloture", "avenir", "avenir-marseille", "Fontaine", "Mathieu",
                "Gestion administrative"),
    AccountSpec("GSTN6NEW", "gestionnaire", "creation", "gce-nantes", "gce-nantes-siege", "Chevalier", "Inès",
                "Conseil en formation", pending=True),
)


@dataclass(frozen=True)
class TrainingAccount:
    """One row of the training-accounts table (login screen F3, README, `cpf-tui demo`)."""

    identifier: str
    password: str
    role_label: str
    profile_label: str
    organisation: str
    state: str


def training_accounts() -> list[TrainingAccount]:
    """The known training accounts, from constants (no database needed)."""
    rows = []
    for spec in ACCOUNTS:
        role = Role(spec.role)
        organisation = ORGANISATIONS_BY_KEY[spec.organisation].raison_sociale if spec.organisation else (
            "Caisse des dépôts")
        rows.append(TrainingAccount(
            identifier=spec.identifier,
            password=PENDING_TEMP_PASSWORD if spec.pending else TRAINING_PASSWORD,
            role_label=role.label,
            profile_label="—" if role == Role.OPERATOR else Profile(spec.profile).label,
            organisation=organisation,
            state=STATE_PENDING if spec.pending else STATE_ACTIVE,
        ))
    return rows


# -- the plan (pure Python, deterministic) ----------------------------------------------------------
TRAINING_TITLES = (
    "Certificat de compétences en entreprise — Encadrer une équipe",
    "Anglais professionnel — TOEIC",
    "Bureautique — Certification TOSA Excel",
    "Permis C — Transport de marchandises",
    "Titre professionnel Comptable assistant",
    "CléA — Socle de connaissances et de compétences",
    "Habilitation électrique B1V",
    "Titre professionnel Secrétaire assistant",
    "Gestion de la paie — Certificat",
    "Accompagnement VAE — Diplôme d'État d'aide-soignant",
)
PROVIDERS = (
    ("Centre de formation Horizon", "52371419"),
    ("Académie des Métiers du Tertiaire", "41873302"),
    ("Formapro Ouest", "38624110"),
    ("Langues et Compétences", "79135286"),
)
CLOSURE_REASONS = (
    "Abandon en cours de formation (raisons personnelles)",
    "Absences non justifiées déduites",
    "Fin anticipée : entrée en emploi",
)
DIF_REASONS = ("Attestation employeur n° {n}", "Certificat de travail du {d}", "Attestation DIF ref. {n}")


@dataclass
class MovementPlan:
    kind: str
    bucket: str
    minutes: int
    previous_minutes: int | None = None
    reference_year: int | None = None
    work_ratio_percent: int | None = None
    dossier_number: str | None = None
    author: str | None = None
    reason: str = ""
    at: datetime | None = None
    """When the movement happened (annual feed, DIF entry, validation, closure)."""


@dataclass
class DossierPlan:
    number: str
    holder_nir: str
    organisation: str
    establishment: str
    status: str
    training_title: str
    provider_name: str
    provider_siret: str
    start_date: date
    end_date: date
    duration_minutes: int
    requested_minutes: int
    created_by: str
    reserved_dif_minutes: int = 0
    reserved_cpf_minutes: int = 0
    done_minutes: int | None = None
    closure_reason: str = ""
    validated_by: str | None = None
    validated_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None


@dataclass
class HolderPlan:
    nir: str
    nom_naissance: str
    nom_usage: str
    prenoms: str
    date_naissance: date
    email: str
    mobile: str
    movements: list[MovementPlan] = field(default_factory=list)
    cpf_acquired: int = 0
    cpf_reserved: int = 0
    cpf_consumed: int = 0
    dif_total: int = 0
    dif_reserved: int = 0
    dif_consumed: int = 0

    @property
    def balances(self) -> Balances:
        return Balances(self.cpf_acquired, self.cpf_reserved, self.cpf_consumed,
                        self.dif_total, self.dif_reserved, self.dif_consumed)

    @property
    def available(self) -> int:
        return self.balances.total_available


@dataclass
class ExtraAccountPlan:
    identifier: str
    role: str
    profile: str
    organisation: str
    establishment: str
    nom: str
    prenom: str
    service: str
    deactivated: bool = False


@dataclass
class SandboxPlan:
    extra_accounts: list[ExtraAccountPlan]
    holders: list[HolderPlan]
    dossiers: list[DossierPlan]


def dossier_number(year: int, sequence: int) -> str:
    """A readable training-file number: `DF-2026-000042`."""
    return f"DF-{year}-{sequence:06d}"


def _ascii_slug(value: str) -> str:
    return "".join(ch for ch in text.fold(value) if ch.isalnum() or ch in ".-").replace(" ", "")


def _make_nir(rng: random.Random, born: date, male: bool, used: set[str]) -> str:
    from stdnum.fr import nir

    while True:
        department = rng.choice(["13", "31", "33", "35", "44", "49", "59", "67", "69", "75", "76", "92", "93"])
        base = (f"{1 if male else 2}{born.year % 100:02d}{born.month:02d}{department}"
                f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}")
        value = base + nir.calc_check_digits(base)
        if value not in used and nir.is_valid(value):
            used.add(value)
            return value


def _new_identifier(rng: random.Random, used: set[str]) -> str:
    from cpf_tui.services.identifiers import ALPHABET, LENGTH

    while True:
        candidate = "".join(rng.choice(ALPHABET) for _ in range(LENGTH))
        if candidate not in used:
            used.add(candidate)
            return candidate


def make_plan(seed: int = SEED) -> SandboxPlan:
    """Everything the sandbox holds besides the fixed organisations and training accounts."""
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker("fr_FR")
    fake.seed_instance(seed)

    used_identifiers = {spec.identifier for spec in ACCOUNTS}
    extra: list[ExtraAccountPlan] = []
    staffing = (
        ("avenir", "avenir-paris", 4), ("avenir", "avenir-lyon", 3), ("avenir", "avenir-marseille", 3),
        ("gce-nantes", "gce-nantes-siege", 3), ("gce-rennes", "gce-rennes-siege", 3),
    )
    profiles = ("cloture", "validation", "creation", "consultation")
    services = ("Conseil en formation", "Accueil", "Gestion administrative", "Relations entreprises")
    for organisation, establishment, count in staffing:
        for position in range(count):
            extra.append(ExtraAccountPlan(
                identifier=_new_identifier(rng, used_identifiers), role="gestionnaire",
                profile=profiles[position % len(profiles)], organisation=organisation, establishment=establishment,
                nom=fake.last_name(), prenom=fake.first_name(), service=rng.choice(services),
            ))
    extra[-1].deactivated = True  # a soft-deleted colleague, to show that history is kept
    extra.append(ExtraAccountPlan(
        identifier=_new_identifier(rng, used_identifiers), role="delegated_admin", profile="cloture",
        organisation="gce-nantes", establishment="gce-nantes-siege", nom=fake.last_name(),
        prenom=fake.first_name(), service="Pôle formation",
    ))

    holders: list[HolderPlan] = []
    used_nirs: set[str] = set()
    email_domains = ("example.com", "example.org", "example.net")
    for n in range(HOLDER_COUNT):
        male = rng.random() < 0.5
        prenom = fake.first_name_male() if male else fake.first_name_female()
        if rng.random() < 0.4:
            prenom = f"{prenom} {fake.first_name_male() if male else fake.first_name_female()}"
        nom = fake.last_name()
        nom_usage = fake.last_name() if (not male and rng.random() < 0.35) else ""
        born = date(rng.randint(1962, 2002), rng.randint(1, 12), rng.randint(1, 28))
        holder = HolderPlan(
            nir=_make_nir(rng, born, male, used_nirs),
            nom_naissance=nom, nom_usage=nom_usage, prenoms=prenom, date_naissance=born,
            email=f"{_ascii_slug(prenom.split()[0])}.{_ascii_slug(nom_usage or nom)}{n}@{rng.choice(email_domains)}"
            if rng.random() < 0.85 else "",
            mobile=f"+336{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.75 else "",
        )
        _plan_acquisitions(rng, holder, born)
        _plan_dif(rng, holder)
        holders.append(holder)

    dossiers = _plan_dossiers(rng, holders, extra)
    return SandboxPlan(extra_accounts=extra, holders=holders, dossiers=dossiers)


def _plan_acquisitions(rng: random.Random, holder: HolderPlan, born: date) -> None:
    first_year = max(2015, born.year + 18, rng.randint(2015, 2024))
    for year in range(first_year, SANDBOX_TODAY.year):
        ratio = rng.choice((100, 100, 100, 100, 100, 80, 80, 60, 50, 0))
        minutes = acquisition_for_year(holder.cpf_acquired, ratio) if ratio else 0
        if minutes:
            holder.movements.append(MovementPlan("cpf_acquisition", "cpf", minutes, reference_year=year,
                                                 work_ratio_percent=ratio,
                                                 reason=f"Déclaration annuelle {year}",
                                                 at=datetime(year + 1, 1, 10, 6, 0, tzinfo=timezone.utc)))
            holder.cpf_acquired += minutes


def _plan_dif(rng: random.Random, holder: HolderPlan) -> None:
    if rng.random() >= 0.65:
        return
    settings = [rng.randint(1, DIF_CEILING // HOUR) * HOUR]
    if rng.random() < 0.2:
        settings.append(rng.randint(1, DIF_CEILING // HOUR) * HOUR)
    author = rng.choice([spec.identifier for spec in ACCOUNTS if spec.role == "gestionnaire" and not spec.pending])
    for index, total in enumerate(settings):
        reason = rng.choice(DIF_REASONS).format(
            n=rng.randint(10000, 99999), d=date(2014, rng.randint(1, 12), rng.randint(1, 28)).strftime("%d/%m/%Y"))
        holder.movements.append(MovementPlan("dif_setting", "dif", total, previous_minutes=holder.dif_total,
                                             author=author, reason=reason,
                                             at=_dif_entry_at(holder.nir, index)))
        holder.dif_total = total


def _staff(extra: list[ExtraAccountPlan], organisation: str, min_rank: int) -> list[str]:
    """Active accounts of an organisation whose profile reaches `min_rank` (1 Consultation … 4 Clôture)."""
    ranks = {"consultation": 1, "creation": 2, "validation": 3, "cloture": 4}
    people = [(s.identifier, s.organisation, s.profile) for s in ACCOUNTS if not s.pending]
    people += [(e.identifier, e.organisation, e.profile) for e in extra if not e.deactivated]
    return [identifier for identifier, org, profile in people if org == organisation and ranks[profile] >= min_rank]


def _plan_dossiers(rng: random.Random, holders: list[HolderPlan],
                   extra: list[ExtraAccountPlan]) -> list[DossierPlan]:
    from stdnum.fr import siret

    candidates = [h for h in holders if h.available >= 14 * HOUR]
    chosen = rng.sample(candidates, 3 * DOSSIERS_PER_STATE)
    statuses = ["closed"] * DOSSIERS_PER_STATE + ["validated"] * DOSSIERS_PER_STATE + ["draft"] * DOSSIERS_PER_STATE
    establishments = [(o.key, e.key) for o in ORGANISATIONS for e in o.establishments]
    dossiers: list[DossierPlan] = []
    for sequence, (holder, status) in enumerate(zip(chosen, statuses), start=1):
        organisation, establishment = establishments[sequence % len(establishments)]
        provider_name, provider_siren_base = rng.choice(PROVIDERS)
        provider_siret = _siret(_siren(provider_siren_base), f"{rng.randint(1, 99):04d}")
        assert siret.is_valid(provider_siret)
        wanted = rng.choice((21, 35, 70, 105, 140, 150)) * HOUR
        requested = min(wanted, holder.available, DOSSIER_CEILING) // HOUR * HOUR
        duration = requested + rng.choice((0, 0, 7, 14)) * HOUR
        if status == "closed":
            start = date(2025, rng.randint(1, 6), rng.randint(1, 28))
        elif status == "validated":
            start = date(2026, rng.randint(2, 6), rng.randint(1, 28))
        else:
            start = date(2026, rng.randint(3, 12), rng.randint(1, 28))
        end = start + timedelta(days=rng.randint(14, 120))
        year = 2025 if status == "closed" else 2026
        plan = DossierPlan(
            number=dossier_number(year, sequence), holder_nir=holder.nir, organisation=organisation,
            establishment=establishment, status=status, training_title=rng.choice(TRAINING_TITLES),
            provider_name=provider_name, provider_siret=provider_siret, start_date=start, end_date=end,
            duration_minutes=duration, requested_minutes=requested,
            created_by=rng.choice(_staff(extra, organisation, 2)),
        )
        if status in ("validated", "closed"):
            _validate(rng, holder, plan, rng.choice(_staff(extra, organisation, 3)))
        if status == "closed":
            _close(rng, holder, plan, rng.choice(_staff(extra, organisation, 4)))
        dossiers.append(plan)
    return dossiers


def _dif_entry_at(nir: str, index: int) -> datetime:
    """When a holder's DIF balance was entered (`index`: its first, second… entry): before the 30 June 2021
    deadline for recording DIF hours, derived from the NIR (no draw from the plan's random sequence,
    which stays as it was)."""
    offset = int(hashlib.sha256(nir.encode()).hexdigest()[:8], 16) % 1500
    return datetime(2016, 6, 1, 9, 0, tzinfo=timezone.utc) + timedelta(days=offset + 90 * index, minutes=offset % 480)


def _not_after_today(moment: datetime) -> datetime:
    """No action of the sandbox's past happens after its own today (the same draws, clamped)."""
    latest = datetime.combine(SANDBOX_TODAY, time(8, 0), tzinfo=timezone.utc)
    return min(moment, latest)


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59)), tzinfo=timezone.utc)


def _validate(rng: random.Random, holder: HolderPlan, plan: DossierPlan, validator: str) -> None:
    split = reservation_split(plan.requested_minutes, holder.balances.dif_available)
    dif_part, cpf_part = split.dif, split.cpf
    plan.reserved_dif_minutes, plan.reserved_cpf_minutes = dif_part, cpf_part
    plan.validated_by = validator
    plan.validated_at = _not_after_today(_at(plan.start_date - timedelta(days=rng.randint(7, 30)), rng))
    for bucket, minutes in (("dif", dif_part), ("cpf", cpf_part)):
        if minutes:
            holder.movements.append(MovementPlan("reservation", bucket, minutes, dossier_number=plan.number,
                                                 author=plan.validated_by,
                                                 reason=f"Validation du dossier {plan.number}",
                                                 at=plan.validated_at))
    holder.dif_reserved += dif_part
    holder.cpf_reserved += cpf_part


def _close(rng: random.Random, holder: HolderPlan, plan: DossierPlan, closer: str) -> None:
    reserved = plan.reserved_dif_minutes + plan.reserved_cpf_minutes
    done = reserved
    if rng.random() < 0.35:
        done = rng.randint(reserved // HOUR // 3, reserved // HOUR - 1) * HOUR if reserved > HOUR else 0
        plan.closure_reason = rng.choice(CLOSURE_REASONS)
    plan.done_minutes = done
    plan.closed_by = closer
    plan.closed_at = _not_after_today(_at(plan.end_date + timedelta(days=rng.randint(1, 20)), rng))
    result = settlement(done, plan.reserved_dif_minutes, plan.reserved_cpf_minutes)
    dif_done, cpf_done = result.consumed_dif, result.consumed_cpf
    note = f"Clôture du dossier {plan.number}" + (f" : {plan.closure_reason}" if plan.closure_reason else "")
    for kind, bucket, minutes in (
        ("consumption", "dif", result.consumed_dif), ("consumption", "cpf", result.consumed_cpf),
        ("release", "dif", result.released_dif), ("release", "cpf", result.released_cpf),
    ):
        if minutes:
            holder.movements.append(MovementPlan(kind, bucket, minutes, dossier_number=plan.number,
                                                 author=plan.closed_by, reason=note, at=plan.closed_at))
    holder.dif_reserved -= plan.reserved_dif_minutes
    holder.cpf_reserved -= plan.reserved_cpf_minutes
    holder.dif_consumed += dif_done
    holder.cpf_consumed += cpf_done


# -- writing it ------------------------------------------------------------------------------------
def _account_email(spec_prenom: str, spec_nom: str, domain: str) -> str:
    return f"{_ascii_slug(spec_prenom)}.{_ascii_slug(spec_nom)}@{domain}"


async def seed(seed_value: int = SEED) -> dict[str, int]:
    """Fill an empty, migrated, open database with the sandbox data; returns row counts."""
    from tortoise.transactions import in_transaction

    from cpf_tui.errors import ConfigError
    from cpf_tui.services import audit, passwords

    if await Account.all().exists():
        raise ConfigError("La base de formation n'est pas vide : relancez avec --reset pour la recréer.")
    plan = make_plan(seed_value)
    password_hash = passwords.hash_password(TRAINING_PASSWORD)
    pending_hash = passwords.hash_temporary(PENDING_TEMP_PASSWORD)
    colleague_hash = passwords.hash_temporary(passwords.generate_temporary_password())
    async with in_transaction() as conn:
        organisations, establishments = await _write_organisations(conn)
        accounts = await _write_accounts(conn, plan, organisations, establishments,
                                         password_hash, pending_hash, colleague_hash)
        counts = await _write_holders_and_dossiers(conn, plan, organisations, establishments, accounts)
        await audit.record("sandbox.build", target_type="Sandbox", target_label=f"graine {seed_value}",
                           after={"seed": seed_value, **counts}, using_db=conn)
    return {"organisations": len(organisations), "accounts": len(accounts), **counts}


async def _write_organisations(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    organisations: dict[str, Any] = {}
    establishments: dict[str, Any] = {}
    for spec in ORGANISATIONS:
        organisation = await Organisation.create(
            siret=spec.siret, siren=spec.siren, raison_sociale=spec.raison_sociale, address=spec.head.address,
            contact_email=spec.contact_email, structure_type=StructureType(spec.structure), using_db=conn,
        )
        organisations[spec.key] = organisation
        for est in spec.establishments:
            establishments[est.key] = await Establishment.create(
                organisation=organisation, siret=_siret(spec.siren, est.nic), name=est.name, address=est.address,
                is_head_office=est.head_office, using_db=conn,
            )
    return organisations, establishments


async def _write_accounts(conn: Any, plan: SandboxPlan, organisations: dict[str, Any],
                          establishments: dict[str, Any], password_hash: str, pending_hash: str,
                          colleague_hash: str) -> dict[str, Any]:

    accounts: dict[str, Any] = {}
    for index, spec in enumerate(ACCOUNTS, start=1):
        domain = ORGANISATIONS_BY_KEY[spec.organisation].domain if spec.organisation else "caissedesdepots.example"
        email = _account_email(spec.prenom, spec.nom, domain)
        establishment = establishments.get(spec.establishment)
        account = Account(
            identifier=spec.identifier, role=Role(spec.role), profile=Profile(spec.profile),
            organisation=organisations.get(spec.organisation), establishment=establishment,
            nom=spec.nom, prenom=spec.prenom, email=email,
            phone=f"+33241{index:06d}" if not spec.organisation else f"+33612{index:06d}", service=spec.service,
            password_hash=pending_hash if spec.pending else password_hash,
            password_is_temporary=spec.pending,
            temp_password_expires_at=PENDING_EXPIRY if spec.pending else None,
            password_changed_at=None if spec.pending else SETUP_AT,
            cgu_version_accepted=None if spec.pending else 1,
            cgu_accepted_at=None if spec.pending else SETUP_AT,
        )
        # The service's search key (names, identifier, e-mail, service, role, profile, status, site).
        account.search_text = search_text_of(account, establishment.name if establishment else "")
        await account.save(using_db=conn)
        if not spec.pending:
            await CguAcceptance.create(account=account, version=1, using_db=conn)
            await PasswordHistory.create(account=account, password_hash=password_hash, using_db=conn)
        accounts[spec.identifier] = account
    operator = accounts["CDC2TRNG"]
    for extra in plan.extra_accounts:
        organisation = organisations[extra.organisation]
        principal = next(s.identifier for s in ACCOUNTS
                         if s.role == "principal_admin" and s.organisation == extra.organisation)
        email = _account_email(extra.prenom, extra.nom, ORGANISATIONS_BY_KEY[extra.organisation].domain)
        colleague = Account(
            identifier=extra.identifier, role=Role(extra.role), profile=Profile(extra.profile),
            organisation=organisation, establishment=establishments[extra.establishment],
            nom=extra.nom, prenom=extra.prenom, email=email, service=extra.service,
            password_hash=colleague_hash, password_is_temporary=False, password_changed_at=SETUP_AT,
            cgu_version_accepted=1, cgu_accepted_at=SETUP_AT,
            status=AccountStatus.DEACTIVATED if extra.deactivated else AccountStatus.ACTIVE,
            deactivated_at=SETUP_AT + timedelta(days=10) if extra.deactivated else None,
            deactivated_by=accounts[principal] if extra.deactivated else None,
            created_by=accounts[principal] if extra.role == "gestionnaire" else operator,
        )
        colleague.search_text = search_text_of(colleague, establishments[extra.establishment].name)
        await colleague.save(using_db=conn)
        accounts[extra.identifier] = colleague
    return accounts


async def _write_holders_and_dossiers(conn: Any, plan: SandboxPlan, organisations: dict[str, Any],
                                      establishments: dict[str, Any], accounts: dict[str, Any]) -> dict[str, int]:

    await Holder.bulk_create([
        Holder(
            nir=h.nir, nom_naissance=h.nom_naissance, nom_usage=h.nom_usage, prenoms=h.prenoms,
            date_naissance=h.date_naissance, email=h.email, mobile=h.mobile,
            search_name=text.fold(h.nom_naissance).upper(), search_usage=text.fold(h.nom_usage).upper(),
            cpf_acquired_minutes=h.cpf_acquired, cpf_reserved_minutes=h.cpf_reserved,
            cpf_consumed_minutes=h.cpf_consumed, dif_total_minutes=h.dif_total,
            dif_reserved_minutes=h.dif_reserved, dif_consumed_minutes=h.dif_consumed,
        )
        for h in plan.holders
    ], using_db=conn)
    holder_ids = dict(await Holder.all().using_db(conn).values_list("nir", "id"))

    dossier_ids: dict[str, int] = {}
    events: list[DossierEvent] = []
    for d in plan.dossiers:
        dossier = await Dossier.create(
            number=d.number, holder_id=holder_ids[d.holder_nir], organisation=organisations[d.organisation],
            establishment=establishments[d.establishment], training_title=d.training_title,
            provider_name=d.provider_name, provider_siret=d.provider_siret, start_date=d.start_date,
            end_date=d.end_date, duration_minutes=d.duration_minutes, requested_minutes=d.requested_minutes,
            status=DossierStatus(d.status), reserved_dif_minutes=d.reserved_dif_minutes,
            reserved_cpf_minutes=d.reserved_cpf_minutes, done_minutes=d.done_minutes,
            closure_reason=d.closure_reason, created_by=accounts[d.created_by],
            validated_at=d.validated_at, validated_by=accounts[d.validated_by] if d.validated_by else None,
            closed_at=d.closed_at, closed_by=accounts[d.closed_by] if d.closed_by else None,
            using_db=conn,
        )
        dossier_ids[d.number] = dossier.id
        # Same actions and details as cpf_tui.services.dossiers writes.
        events.append(DossierEvent(dossier_id=dossier.id, actor=accounts[d.created_by], action="create",
                                   details={"fields": {"number": d.number, "training_title": d.training_title,
                                                       "requested_minutes": d.requested_minutes}}))
        if d.validated_by:
            events.append(DossierEvent(dossier_id=dossier.id, actor=accounts[d.validated_by], action="validate",
                                       details={"reserved_dif_minutes": d.reserved_dif_minutes,
                                                "reserved_cpf_minutes": d.reserved_cpf_minutes}))
        if d.closed_by:
            done_dif = min(d.done_minutes or 0, d.reserved_dif_minutes)
            done_cpf = (d.done_minutes or 0) - done_dif
            events.append(DossierEvent(dossier_id=dossier.id, actor=accounts[d.closed_by], action="close",
                                       details={"done_minutes": d.done_minutes, "reason": d.closure_reason,
                                                "consumed_dif_minutes": done_dif, "consumed_cpf_minutes": done_cpf,
                                                "released_dif_minutes": d.reserved_dif_minutes - done_dif,
                                                "released_cpf_minutes": d.reserved_cpf_minutes - done_cpf}))
    await DossierEvent.bulk_create(events, using_db=conn)

    movements = [
        HoursMovement(
            holder_id=holder_ids[h.nir], kind=MovementKind(m.kind), bucket=Bucket(m.bucket), minutes=m.minutes,
            previous_minutes=m.previous_minutes, reference_year=m.reference_year,
            work_ratio_percent=m.work_ratio_percent,
            dossier_id=dossier_ids[m.dossier_number] if m.dossier_number else None,
            author=accounts[m.author] if m.author else None, reason=m.reason, created_at=m.at or SETUP_AT,
        )
        for h in plan.holders
        for m in h.movements
    ]
    await HoursMovement.bulk_create(movements, batch_size=500, using_db=conn)
    return {"holders": len(plan.holders), "dossiers": len(plan.dossiers), "movements": len(movements)}


async def build_sandbox(url: str) -> dict[str, int]:
    """Migrate a fresh database at `url`, load the reference data and seed it; returns row counts."""
    from tortoise.context import TortoiseContext

    from cpf_tui import db
    from cpf_tui.services.reference import load_reference_data

    await db.migrate(url)
    async with TortoiseContext() as ctx:
        await db.init_context(ctx, url)
        try:
            await load_reference_data()
            return await seed()
        finally:
            await ctx.close_connections()


def format_training_table() -> str:
    """The training accounts as an aligned plain-text table (printed by `cpf-tui demo`)."""
    header = ("Identifiant", "Mot de passe", "Rôle", "Profil", "Organisme", "État")
    rows = [header] + [(r.identifier, r.password, r.role_label, r.profile_label, r.organisation, r.state)
                       for r in training_accounts()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "Comptes de formation (mode formation) :\n" + "\n".join(lines)
