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
Each row is a copy of a template row written by the ORM (a factory organisation, gestionnaire, holder,
draft and movement), so every column the models define is filled as the application fills it.
The people who act in the bench (sessions and baselines) are added afterwards through the factories and
services (`bench/load.py`): each gestionnaire in an organisation of its own among these, its drafts the
newest files of the list.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

H = 60
CHUNK = 20_000
SEED = 20261204
CPF_GRANT = 150 * H
"""The CPF acquisition of every holder with a validated or closed file (the 150 h ceiling)."""
PROFILES = ("consultation", "creation", "validation", "cloture")
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


def nir_for(i: int) -> str:
    """A valid, unique NIR for bulk holder number i."""
    order = i % 999 + 1
    commune = (i // 999) % 990 + 1
    department = (i // (999 * 990)) % 95 + 1
    if department == 20:
        department = 96
    base = f"{1 + i % 2}{40 + (i * 7) % 60:02d}{1 + (i * 5) % 12:02d}{department:02d}{commune:03d}{order:03d}"
    return base + f"{97 - int(base) % 97:02d}"


def plain_url(url: str) -> str:
    """The database URL without Tortoise's query options (asyncpg does not know them)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


async def _templates() -> dict[str, dict[str, Any]]:
    """One row of each table written by the ORM (factories and services), read back as the database holds it."""
    from cpf_tui.services import dossiers
    from cpf_tui.services.context import RequestContext
    from cpf_tui.services.dossiers import DossierInput
    from models import Establishment, HoursMovement, Profile, Role
    from tests.factories import make_account, make_organisation
    from tests.holder_helpers import PROVIDER_SIRET, funded_holder
    from tortoise import connections

    org = await make_organisation("Organisme modèle")
    account = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE, organisation=org)
    holder = await funded_holder(CPF_GRANT, nir=nir_for(10**8 - 1))
    draft = await dossiers.create_draft(RequestContext(account_id=account.id), DossierInput(
        holder_nir=holder.nir, training_title=TITLES[0], provider_name="Organisme de formation modèle",
        provider_siret=PROVIDER_SIRET, start_date=date(2025, 3, 3), end_date=date(2025, 3, 28),
        duration_minutes=35 * H, requested_minutes=35 * H))
    establishment = await Establishment.get(organisation_id=org.id)
    movement = await HoursMovement.get(holder_id=holder.id)
    conn = connections.get("default")
    rows = {}
    for table, row_id in (("organisation", org.id), ("establishment", establishment.id), ("account", account.id),
                          ("holder", holder.id), ("dossier", draft.id), ("hours_movement", movement.id)):
        found = await conn.execute_query_dict(f'SELECT * FROM "{table}" WHERE id = $1', [row_id])
        rows[table] = found[0]
    return rows


class Copier:
    """Rows of one table copied from its template row, with some columns changed, sent by COPY in chunks."""

    def __init__(self, conn: Any, table: str, template: dict[str, Any]) -> None:
        self.conn, self.table = conn, table
        self.columns = list(template)
        self.template = template
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    async def add(self, **changes: Any) -> None:
        unknown = changes.keys() - self.template.keys()
        if unknown:
            raise KeyError(f"{self.table}: no column {sorted(unknown)}")
        row = {**self.template, **changes}
        self.rows.append(tuple(row[column] for column in self.columns))
        if len(self.rows) >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        if self.rows:
            await self.conn.copy_records_to_table(self.table, records=self.rows, columns=self.columns)
            self.count += len(self.rows)
            self.rows = []


async def load_national(url: str, *, organisations: int, gestionnaires: int, holders: int, files: int,
                        samples: int = 2000) -> NationalData:
    """Load the data set into the migrated database at `url` (Tortoise opened on it by the caller)."""
    import asyncpg
    from faker.providers.person.fr_FR import Provider

    from cpf_tui.services.provisioning import search_text_of
    from cpf_tui.services.validation import name_key
    from tests.factories import make_siren, make_siret

    started = time.perf_counter()
    rng = random.Random(SEED)
    templates = await _templates()
    last_names = list(dict.fromkeys(Provider.last_names))
    first_names = list(dict.fromkeys(Provider.first_names))
    keys = {name: name_key(name) for name in last_names}
    conn = await asyncpg.connect(plain_url(url))
    try:
        first_id = {table: 1 + (await conn.fetchval(f'SELECT coalesce(max(id), 0) FROM "{table}"'))
                    for table in templates}
        # Organisations and their head offices.
        orgs = Copier(conn, "organisation", templates["organisation"])
        sites = Copier(conn, "establishment", templates["establishment"])
        organisation_ids, head_office, site_name = [], {}, {}
        for n in range(organisations):
            org_id, site_id = first_id["organisation"] + n, first_id["establishment"] + n
            siret = make_siret(make_siren(500_000 + n), 10)
            town = last_names[n % len(last_names)]
            await orgs.add(id=org_id, siret=siret, siren=siret[:9], raison_sociale=f"{town} Formation {n + 1}",
                           contact_email=f"contact@organisme{n + 1}.fr")
            site_name[org_id] = f"Siège {town} Formation {n + 1}"
            await sites.add(id=site_id, organisation_id=org_id, siret=siret, name=site_name[org_id])
            organisation_ids.append(org_id)
            head_office[org_id] = site_id
        await orgs.flush()
        await sites.flush()
        # Gestionnaires, spread over the organisations; the first of each organisation creates its files.
        staff = Copier(conn, "account", templates["account"])
        creator: dict[int, int] = {}
        memo: dict[Any, str] = {}
        for n in range(gestionnaires):
            org_id = organisation_ids[n % organisations]
            account_id = first_id["account"] + n
            creator.setdefault(org_id, account_id)
            fields = {
                "id": account_id, "identifier": f"GES{n + 1:07d}", "organisation_id": org_id,
                "establishment_id": head_office[org_id], "profile": PROFILES[n % len(PROFILES)],
                "nom": last_names[rng.randrange(len(last_names))], "prenom": first_names[rng.randrange(len(first_names))],
                "email": f"gestionnaire{n + 1}@organisme{n % organisations + 1}.fr", "created_by_id": None,
            }
            view = _Row({**templates["account"], **fields})
            fields["search_text"] = search_text_of(view, site_name[org_id], memo)
            await staff.add(**fields)
        await staff.flush()
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
            file_rows.append((first_id["dossier"] + n, organisation_ids[n % organisations], holder_index, status,
                              minutes))
        # Holders.
        people = Copier(conn, "holder", templates["holder"])
        sample_every = max(1, holders // samples)
        nirs: list[str] = []
        for i in range(holders):
            last = last_names[rng.randrange(len(last_names))]
            usage = last_names[rng.randrange(len(last_names))] if i % 4 == 0 else ""
            nir = nir_for(i)
            if i % sample_every == 0:
                nirs.append(nir)
            spent = use.get(i)
            await people.add(
                id=first_id["holder"] + i, nir=nir, nom_naissance=last.upper(), nom_usage=usage.upper(),
                prenoms=first_names[rng.randrange(len(first_names))],
                date_naissance=date(1960, 1, 1) + timedelta(days=rng.randrange(16_000)),
                email="", mobile="", search_name=keys[last], search_usage=keys[usage] if usage else "",
                cpf_acquired_minutes=CPF_GRANT if spent else 0,
                cpf_reserved_minutes=spent[0] if spent else 0, cpf_consumed_minutes=spent[1] if spent else 0,
                dif_total_minutes=0, dif_reserved_minutes=0, dif_consumed_minutes=0, version=1,
                created_at=EPOCH,
            )
        await people.flush()
        # Files, then the movements of the validated and closed ones.
        folders = Copier(conn, "dossier", templates["dossier"])
        ledger = Copier(conn, "hours_movement", templates["hours_movement"])
        movement_id = iter(range(first_id["hours_movement"], 2**31))
        for holder_index in sorted(use):
            await ledger.add(id=next(movement_id), holder_id=first_id["holder"] + holder_index, kind="cpf_acquisition",
                             bucket="cpf", minutes=CPF_GRANT, previous_minutes=None, reference_year=2024,
                             work_ratio_percent=100, dossier_id=None, author_id=None,
                             reason="Alimentation annuelle 2024", created_at=EPOCH)
        def created_at(file_id: int) -> datetime:
            return EPOCH + timedelta(minutes=(file_id - first_id["dossier"]) * 2)

        for file_id, org_id, holder_index, status, minutes in file_rows:
            created = created_at(file_id)
            start = date(2025, 2, 3) + timedelta(days=(file_id % 300))
            number = f"DF-2025-{file_id:06d}"
            author = creator.get(org_id)
            decided = created + timedelta(days=2)
            await folders.add(
                id=file_id, number=number, holder_id=first_id["holder"] + holder_index, organisation_id=org_id,
                establishment_id=head_office[org_id], training_title=TITLES[file_id % len(TITLES)],
                start_date=start, end_date=start + timedelta(days=25), duration_minutes=minutes,
                requested_minutes=minutes, status=status, version=1, reserved_dif_minutes=0,
                reserved_cpf_minutes=0 if status == "draft" else minutes,
                done_minutes=minutes if status == "closed" else None, closure_reason="",
                created_at=created, updated_at=decided if status != "draft" else created, created_by_id=author,
                validated_at=decided if status != "draft" else None,
                validated_by_id=author if status != "draft" else None,
                closed_at=decided + timedelta(days=40) if status == "closed" else None,
                closed_by_id=author if status == "closed" else None,
            )
        await folders.flush()
        for file_id, org_id, holder_index, status, minutes in file_rows:  # the files exist: their movements
            if status == "draft":
                continue
            number = f"DF-2025-{file_id:06d}"
            author = creator.get(org_id)
            decided = created_at(file_id) + timedelta(days=2)
            common = dict(holder_id=first_id["holder"] + holder_index, bucket="cpf", minutes=minutes,
                          previous_minutes=None, reference_year=None, work_ratio_percent=None, dossier_id=file_id,
                          author_id=author)
            await ledger.add(id=next(movement_id), kind="reservation", reason=f"Validation du dossier {number}",
                             created_at=decided, **common)
            if status == "closed":
                await ledger.add(id=next(movement_id), kind="consumption", reason=f"Clôture du dossier {number}",
                                 created_at=decided + timedelta(days=40), **common)
        await ledger.flush()
        for table in templates:
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                               f'(SELECT max(id) FROM "{table}"))')
        await conn.execute("ANALYZE")
        counts = {"organisations": orgs.count, "gestionnaires": staff.count, "holders": people.count,
                  "files": folders.count, "movements": ledger.count}
    finally:
        await conn.close()
    return NationalData(organisation_ids, nirs, time.perf_counter() - started, counts)


class _Row:
    """A template row seen as an account (attribute access), for `search_text_of`."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)
