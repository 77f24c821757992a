"""The national data set of `bench/load.py`: organisations, gestionnaires, holders and training files at
the scale of issue 16 (100 organisations, 5,000 gestionnaires, 1,000,000 holders, 200,000 files by
default), loaded with PostgreSQL `COPY` in about a minute.

What is loaded, and how it stays consistent (`cpf-tui check` finds no difference afterwards):
- ORGANISATIONS organisations (valid SIREN/SIRET), each with its head office;
- GESTIONNAIRES gestionnaires spread over them (profiles in turn: Consultation, Création, Validation,
  Clôture), all with the same Argon2id hash (one hash costs 0.2 s: 5,000 would cost 17 minutes);
- HOLDERS holders (valid NIR, names and birth dates drawn from Faker's French lists, a quarter with a
  usage name);
- FILES training files of 10–35 h spread over the organisations, on holders drawn at random, created
  in 2025: half drafts, a quarter validated (a CPF reservation movement), a quarter closed (reservation,
  then consumption of all the hours); every holder of a validated or closed file has one CPF acquisition
  of 150 h (year 2024), and its balance columns are the sums of its movements (the ledger contract);
- every table's id sequence moved past the rows written, so the ORM's later inserts follow them.
Rows go through `cpf_tui.services.rows.copy_rows`, the application's bulk path (PostgreSQL COPY, the
models' defaults and conversions, unknown fields refused), as generators: memory stays flat.
The people who act in the bench (sessions and baselines) are added afterwards through the factories and
services (`bench/load.py`): each gestionnaire in an organisation of its own among these, its drafts the
newest files of the list.
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from holders import nir_for  # bench/holders.py (the script's folder): the same holders in both benches

H = 60
SEED = 20261204
CPF_GRANT = 150 * H
"""The CPF acquisition of every holder with a validated or closed file (the 150 h ceiling)."""
TITLES = ("Comptabilité", "Anglais professionnel", "Bureautique", "Gestion de projet", "Soudure", "Cariste",
          "Langue des signes", "Développement web", "Management", "Paie et administration du personnel")
EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)


@dataclass
class NationalData:
    organisation_ids: list[int]
    """The organisations loaded, in order (the bench puts each of its people in one of them)."""
    nirs: list[str]
    """A sample of the holders' NIRs (the sessions search them)."""
    seconds: float
    counts: dict[str, int]


async def load_national(url: str, *, organisations: int, gestionnaires: int, holders: int, files: int,
                        samples: int = 2000) -> NationalData:
    """Load the data set into the migrated database at `url` (Tortoise opened on it by the caller)."""
    from faker.providers.person.fr_FR import Provider
    from tortoise import connections

    from cpf_tui.services import passwords
    from cpf_tui.services.provisioning import search_text_of
    from cpf_tui.services.rows import copy_rows
    from cpf_tui.services.validation import name_key
    from models import (Account, AccountStatus, Bucket, Dossier, DossierStatus, Establishment, Holder,
                        HoursMovement, MovementKind, Organisation, Profile, Role)
    from tests.factories import DEFAULT_PASSWORD, make_siren, make_siret
    from tests.holder_helpers import PROVIDER_SIRET

    started = time.perf_counter()
    rng = random.Random(SEED)
    last_names = list(dict.fromkeys(Provider.last_names))
    first_names = list(dict.fromkeys(Provider.first_names))
    keys = {name: name_key(name) for name in last_names}
    conn = connections.get("default")

    async def next_id(model: Any) -> int:
        last = await model.all().order_by("-id").first()
        return 1 + (last.id if last else 0)

    first = {model: await next_id(model) for model in (Organisation, Establishment, Account, Holder, Dossier)}
    # Organisations and their head offices.
    organisation_ids = [first[Organisation] + n for n in range(organisations)]
    head_office = {org_id: first[Establishment] + n for n, org_id in enumerate(organisation_ids)}
    town = {org_id: last_names[n % len(last_names)] for n, org_id in enumerate(organisation_ids)}
    site_name = {org_id: f"Siège {town[org_id]} Formation {n + 1}" for n, org_id in enumerate(organisation_ids)}
    sirets = [make_siret(make_siren(500_000 + n), 10) for n in range(organisations)]
    await copy_rows(Organisation, (
        dict(siret=siret, siren=siret[:9], raison_sociale=f"{town[org_id]} Formation {n + 1}",
             contact_email=f"contact@organisme{n + 1}.fr")
        for n, (org_id, siret) in enumerate(zip(organisation_ids, sirets))), using_db=conn, ids=organisation_ids)
    await copy_rows(Establishment, (
        dict(organisation_id=org_id, siret=siret, name=site_name[org_id], is_head_office=True)
        for org_id, siret in zip(organisation_ids, sirets)), using_db=conn, ids=list(head_office.values()))
    # Gestionnaires, spread over the organisations; the first of each organisation creates its files.
    account_ids = [first[Account] + n for n in range(gestionnaires)]
    creator = {org_id: account_ids[n] for n, org_id in enumerate(organisation_ids) if n < gestionnaires}
    profiles = list(Profile)
    memo: dict[Any, str] = {}

    def staff() -> Any:
        for n in range(gestionnaires):
            org_id = organisation_ids[n % organisations]
            row = dict(identifier=f"GES{n + 1:07d}", organisation_id=org_id, establishment_id=head_office[org_id],
                       profile=profiles[n % len(profiles)], nom=last_names[rng.randrange(len(last_names))],
                       prenom=first_names[rng.randrange(len(first_names))],
                       email=f"gestionnaire{n + 1}@organisme{n % organisations + 1}.fr")
            view = SimpleNamespace(**row, role=Role.GESTIONNAIRE, status=AccountStatus.ACTIVE, service="")
            yield {**row, "search_text": search_text_of(view, site_name[org_id], memo)}

    await copy_rows(Account, staff(), using_db=conn, ids=account_ids, common=dict(
        role=Role.GESTIONNAIRE, status=AccountStatus.ACTIVE, phone="+33612345678",
        password_hash=passwords.hash_password(DEFAULT_PASSWORD), password_is_temporary=False,
        cgu_version_accepted=1))
    # Files first (in memory: ids, holders, statuses), so that each holder's balances are known when
    # the holders are written.
    file_rows: list[tuple[int, int, int, str, int]] = []  # id, organisation, holder index, status, minutes
    use: dict[int, list[int]] = {}  # holder index -> [reserved, consumed]
    for n in range(files):
        holder_index = rng.randrange(holders)
        minutes = rng.choice((10, 14, 21, 28, 35)) * H
        status = ("draft", "draft", "validated", "closed")[n % 4]
        if status != "draft":
            spent = use.setdefault(holder_index, [0, 0])
            if sum(spent) + minutes > CPF_GRANT:
                status = "draft"
            else:
                spent[0 if status == "validated" else 1] += minutes
        file_rows.append((first[Dossier] + n, organisation_ids[n % organisations], holder_index, status, minutes))
    # Holders.
    sample_every = max(1, holders // samples)
    nirs = [nir_for(i) for i in range(0, holders, sample_every)]

    def people() -> Any:
        for i in range(holders):
            last = last_names[rng.randrange(len(last_names))]
            usage = last_names[rng.randrange(len(last_names))] if i % 4 == 0 else ""
            reserved, consumed = use.get(i, (0, 0))
            yield dict(
                nir=nir_for(i), nom_naissance=last.upper(), nom_usage=usage.upper(),
                prenoms=first_names[rng.randrange(len(first_names))],
                date_naissance=date(1960, 1, 1) + timedelta(days=rng.randrange(16_000)),
                search_name=keys[last], search_usage=keys[usage] if usage else "",
                cpf_acquired_minutes=CPF_GRANT if i in use else 0, cpf_reserved_minutes=reserved,
                cpf_consumed_minutes=consumed)

    await copy_rows(Holder, people(), using_db=conn, ids=range(first[Holder], first[Holder] + holders),
                    common=dict(created_at=EPOCH))

    # Files, then the ledger: each funded holder's acquisition, then each decided file's movements.
    def created_at(file_id: int) -> datetime:
        return EPOCH + timedelta(minutes=(file_id - first[Dossier]) * 2)

    def decided_at(file_id: int) -> datetime:
        return created_at(file_id) + timedelta(days=2)

    def folders() -> Any:  # updated_at is the ORM's clock reading (auto_now), as for any write
        for file_id, org_id, holder_index, status, minutes in file_rows:
            decided = decided_at(file_id) if status != "draft" else None
            start = date(2025, 2, 3) + timedelta(days=(file_id % 300))
            author = creator.get(org_id)
            yield dict(
                number=f"DF-2025-{file_id:06d}", holder_id=first[Holder] + holder_index, organisation_id=org_id,
                establishment_id=head_office[org_id], training_title=TITLES[file_id % len(TITLES)],
                provider_name="Organisme de formation", provider_siret=PROVIDER_SIRET, start_date=start,
                end_date=start + timedelta(days=25), duration_minutes=minutes, requested_minutes=minutes,
                status=DossierStatus(status), reserved_cpf_minutes=0 if decided is None else minutes,
                done_minutes=minutes if status == "closed" else None,
                created_at=created_at(file_id), created_by_id=author, validated_at=decided, validated_by_id=author if decided else None,
                closed_at=decided + timedelta(days=40) if status == "closed" else None,
                closed_by_id=author if status == "closed" else None)

    await copy_rows(Dossier, folders(), using_db=conn, ids=[row[0] for row in file_rows])
    movements = 0

    def ledger() -> Any:
        nonlocal movements
        for holder_index in sorted(use):
            movements += 1
            yield dict(holder_id=first[Holder] + holder_index, kind=MovementKind.CPF_ACQUISITION, minutes=CPF_GRANT,
                       reference_year=2024, work_ratio_percent=100, reason="Alimentation annuelle 2024",
                       created_at=EPOCH, dossier_id=None, author_id=None)
        for file_id, org_id, holder_index, status, minutes in file_rows:
            if status == "draft":
                continue
            number, decided = f"DF-2025-{file_id:06d}", decided_at(file_id)
            common = dict(holder_id=first[Holder] + holder_index, minutes=minutes, reference_year=None,
                          work_ratio_percent=None, dossier_id=file_id, author_id=creator.get(org_id))
            movements += 1
            yield dict(common, kind=MovementKind.RESERVATION, reason=f"Validation du dossier {number}",
                       created_at=decided)
            if status == "closed":
                movements += 1
                yield dict(common, kind=MovementKind.CONSUMPTION, reason=f"Clôture du dossier {number}",
                           created_at=decided + timedelta(days=40))

    await copy_rows(HoursMovement, ledger(), using_db=conn, common=dict(bucket=Bucket.CPF))
    for model in (Organisation, Establishment, Account, Holder, Dossier):
        table = model._meta.db_table  # noqa: SLF001
        await conn.execute_script(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                  f'(SELECT max(id) FROM "{table}"))')
    await conn.execute_script("ANALYZE")
    counts = {"organisations": organisations, "gestionnaires": gestionnaires, "holders": holders,
              "files": files, "movements": movements}
    return NationalData(organisation_ids, nirs, time.perf_counter() - started, counts)
