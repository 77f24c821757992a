"""Helpers shared by the bulk-habilitation tests: workbooks written by the tests, database counters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cpf_tui.services.context import RequestContext
from models import Account, AuditEvent, BulkImport, Establishment, Organisation, OutboxEmail, Role
from tests.factories import make_organisation, make_staff

HEADER = ["Nom", "Prénom", "E-mail", "Téléphone", "Rôle", "Profil", "SIRET de l'établissement", "Service"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
FIRST_NAMES = ["Claire", "Jean", "Léa", "Hugo", "Chloé", "Louis", "Inès", "Paul", "Zoé", "Éric"]
PROFILES = ["Consultation", "Création", "Validation", "Clôture"]


def valid_rows(count: int, *, siret: str = "", start: int = 0, domain: str = "example.fr") -> list[list[Any]]:
    """`count` valid rows: distinct e-mails, mixed roles and profiles, accents and spacing to normalise."""
    rows: list[list[Any]] = []
    for i in range(start, start + count):
        role = "Administrateur délégué" if i % 10 == 0 else " gestionnaire "
        rows.append([
            f"{LAST_NAMES[i % 10]}-{chr(65 + i % 26)}",
            FIRST_NAMES[(i // 10) % 10],
            f"Agent.{i}@{domain}",
            f"06 12 34 {i // 100 % 100:02d} {i % 100:02d}",
            role,
            PROFILES[i % 4].upper() if i % 3 else PROFILES[i % 4],
            siret,
            f"Service\u00a0{i % 7}",
        ])
    return rows


def write_book(
    path: Path,
    rows: Sequence[Sequence[Any]],
    *,
    header: Sequence[Any] = tuple(HEADER),
    sheet: str = "Habilitations",
    tweak: Callable[[Any], None] | None = None,
) -> Path:
    """Write a workbook with openpyxl (as a user's spreadsheet program would); `tweak` edits the sheet."""
    from openpyxl import Workbook

    workbook = Workbook()
    ws = workbook.active
    ws.title = sheet
    if header:
        ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    if tweak is not None:
        tweak(ws)
    workbook.save(path)
    return path


def fill_template(template: Path, target: Path, rows: Sequence[Sequence[Any]]) -> Path:
    """Fill the generated template's Habilitations sheet, keeping everything else."""
    from openpyxl import load_workbook

    workbook = load_workbook(template)
    ws = workbook["Habilitations"]
    for index, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            ws.cell(row=index, column=column, value=value)
    workbook.save(target)
    return target


async def counts() -> tuple[int, int, int, int]:
    """Accounts, outbox e-mails, audit events and bulk imports in the database."""
    return (
        await Account.all().count(),
        await OutboxEmail.all().count(),
        await AuditEvent.all().count(),
        await BulkImport.all().count(),
    )


@dataclass
class BulkWorld:
    """An organisation with two secondary establishments, an operator and its principal administrator."""

    organisation: Organisation
    establishments: list[Establishment]
    operator_ctx: RequestContext
    principal_ctx: RequestContext
    principal: Account


@pytest.fixture
async def world(db, frozen_clock) -> BulkWorld:
    organisation = await make_organisation("Centre de formation", secondary=2)
    operator = await make_staff(Role.OPERATOR)  # cheap hash: services only
    principal = await make_staff(Role.PRINCIPAL_ADMIN, organisation=organisation)
    establishments = await Establishment.filter(organisation=organisation).order_by("-is_head_office", "id")
    return BulkWorld(
        organisation, list(establishments), RequestContext(account_id=operator.id),
        RequestContext(account_id=principal.id), principal,
    )


def import_children(pid: int) -> list[int]:
    """Ids of the live (not zombie) hash-worker, result-writer and chaining children of process `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state != "Z" and (
            b"cpf_tui.services.hash_worker" in command or b"cpf_tui.services.result_worker" in command
            or b"cpf_tui.services.audit_worker" in command
        ):
            found.append(int(entry.name))
    return found
