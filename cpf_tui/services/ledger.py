"""The hours ledger (compte d'heures): movements in minutes, balances derived from them.

Contract shared with every writer of movements (services, training-sandbox seeder):

- movements are non-negative `HoursMovement` rows, the kind and bucket give the direction;
- `cpf_acquired_minutes` = sum of CPF_ACQUISITION;
- `dif_total_minutes` = minutes of the latest DIF_SETTING (`previous_minutes` = the total before it);
- `X_reserved_minutes` = sum RESERVATION X − sum CONSUMPTION X − sum RELEASE X;
- `X_consumed_minutes` = sum CONSUMPTION X;
- available = acquired (or DIF total) − reserved − consumed.

The holder's balance columns are a projection of the ledger, updated in the same transaction as the
movement; `check_ledger()` (CLI `cpf-tui check`) recomputes them all from the movements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cpf_tui import clock
from cpf_tui.errors import PermissionDenied, ValidationError
from cpf_tui.hours import CPF_CEILING as CPF_CEILING
from cpf_tui.hours import DIF_MAX as DIF_MAX
from cpf_tui.hours import FILE_MAX as FILE_MAX
from cpf_tui.hours import Balances as Balances
from cpf_tui.hours import acquisition_for_year as acquisition_for_year
from cpf_tui.hours import reservation_split, settlement
from cpf_tui.services import audit, sessions
from cpf_tui.services.context import RequestContext

from models import Account, Bucket, Dossier, Holder, HoursMovement, MovementKind
"""Most hours one training file may mobilise (décret du 2 octobre 2014)."""

PROJECTION_COLUMNS = (
    "cpf_acquired_minutes",
    "cpf_reserved_minutes",
    "cpf_consumed_minutes",
    "dif_total_minutes",
    "dif_reserved_minutes",
    "dif_consumed_minutes",
)
COLUMN_LABELS = {
    "cpf_acquired_minutes": "heures CPF acquises",
    "cpf_reserved_minutes": "heures CPF réservées",
    "cpf_consumed_minutes": "heures CPF consommées",
    "dif_total_minutes": "solde DIF",
    "dif_reserved_minutes": "heures DIF réservées",
    "dif_consumed_minutes": "heures DIF consommées",
}


# -- display and input of hours --------------------------------------------------------------------
def format_hours(minutes: int | None) -> str:
    """Minutes as French users read them: "12 h 30", "150 h", "0 h 05"."""
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    return f"{sign}{hours} h {rest:02d}" if rest else f"{sign}{hours} h"


_HOURS_RE = re.compile(r"^(\d{1,4})\s*(?:(?:h|:)\s*(\d{1,2})?\s*(?:min)?)?$", re.IGNORECASE)


def parse_hours(text: str, label: str = "Heures", *, required: bool = True) -> int | None:
    """Typed hours ("12", "12 h", "12h30", "12:30", "12 h 30") as minutes, or a French ValidationError."""
    value = (text or "").replace("\u00a0", " ").strip()
    if not value:
        if required:
            raise ValidationError(f"{label} : champ obligatoire.", {label: "obligatoire"})
        return None
    match = _HOURS_RE.match(value)
    if not match:
        raise ValidationError(
            f"{label} : saisissez des heures, par exemple « 12 », « 12 h 30 » ou « 12:30 ».", {label: "format"}
        )
    minutes = int(match.group(2) or 0)
    if minutes >= 60:
        raise ValidationError(f"{label} : les minutes vont de 0 à 59.", {label: "minutes"})
    return int(match.group(1)) * 60 + minutes


# -- balances ----------------------------------------------------------------------------------------
def balances_of(holder: Holder) -> Balances:
    """The balances held in a holder's projection columns."""
    return Balances(
        holder.cpf_acquired_minutes,
        holder.cpf_reserved_minutes,
        holder.cpf_consumed_minutes,
        holder.dif_total_minutes,
        holder.dif_reserved_minutes,
        holder.dif_consumed_minutes,
    )


# -- movements (called inside the caller's serialised transaction, holder already locked) ---------
async def _movement(holder: Holder, kind: Any, bucket: Any, minutes: int, conn: Any, **fields: Any) -> Any:
    return await HoursMovement.create(
        holder_id=holder.id, kind=kind, bucket=bucket, minutes=minutes, created_at=clock.now(),
        using_db=conn, **fields,
    )


async def _save_projection(holder: Holder, conn: Any) -> None:
    holder.version += 1
    await holder.save(using_db=conn, update_fields=[*PROJECTION_COLUMNS, "version"])


async def reserve(holder: Holder, dossier: Dossier, minutes: int, *, actor: Account, conn: Any) -> tuple[int, int]:
    """Reserve `minutes` for a file: DIF hours first, then CPF hours; returns (dif, cpf) reserved.

    Raises ValidationError (French) when the file asks more than 150 h or more than is available.
    """

    if minutes <= 0:
        raise ValidationError("Heures demandées : une durée strictement positive est attendue.")
    if minutes > FILE_MAX:
        raise ValidationError(
            f"Heures demandées : {format_hours(FILE_MAX)} au maximum par dossier ({format_hours(minutes)} demandées)."
        )
    balances = balances_of(holder)
    if minutes > balances.total_available:
        raise ValidationError(
            f"Heures insuffisantes : {format_hours(minutes)} demandées, "
            f"{format_hours(balances.total_available)} disponibles "
            f"(DIF {format_hours(balances.dif_available)}, CPF {format_hours(balances.cpf_available)})."
        )
    split = reservation_split(minutes, balances.dif_available)
    dif, cpf = split.dif, split.cpf
    reason = f"Validation du dossier {dossier.number}"
    for bucket, amount in ((Bucket.DIF, dif), (Bucket.CPF, cpf)):
        if amount:
            await _movement(holder, MovementKind.RESERVATION, bucket, amount, conn,
                            dossier_id=dossier.id, author_id=actor.id, reason=reason)
    holder.dif_reserved_minutes += dif
    holder.cpf_reserved_minutes += cpf
    await _save_projection(holder, conn)
    return dif, cpf


async def settle(
    holder: Holder, dossier: Dossier, done_minutes: int, *, actor: Account, conn: Any, reason: str = ""
) -> dict[str, int]:
    """Consume the hours done (DIF reservation first) and release the rest of the file's reservation."""

    reserved_dif, reserved_cpf = dossier.reserved_dif_minutes, dossier.reserved_cpf_minutes
    result = settlement(done_minutes, reserved_dif, reserved_cpf)
    consumed_dif, consumed_cpf = result.consumed_dif, result.consumed_cpf
    released_dif, released_cpf = result.released_dif, result.released_cpf
    note = f"Clôture du dossier {dossier.number}" + (f" : {reason}" if reason else "")
    for kind, bucket, amount in (
        (MovementKind.CONSUMPTION, Bucket.DIF, consumed_dif),
        (MovementKind.CONSUMPTION, Bucket.CPF, consumed_cpf),
        (MovementKind.RELEASE, Bucket.DIF, released_dif),
        (MovementKind.RELEASE, Bucket.CPF, released_cpf),
    ):
        if amount:
            await _movement(holder, kind, bucket, amount, conn, dossier_id=dossier.id, author_id=actor.id, reason=note)
    holder.dif_reserved_minutes -= reserved_dif
    holder.cpf_reserved_minutes -= reserved_cpf
    holder.dif_consumed_minutes += consumed_dif
    holder.cpf_consumed_minutes += consumed_cpf
    await _save_projection(holder, conn)
    return result.as_dict()


# -- services ----------------------------------------------------------------------------------------
async def set_dif_balance(ctx: RequestContext, holder_id: int, minutes: int, reason: str) -> Any:
    """Set a holder's DIF balance (any dossier profile): at most 120 h, justified, never below what is used."""
    from cpf_tui.permissions import Capability
    from cpf_tui.services.locking import lock_holder, serialised_transaction
    from cpf_tui.services.validation import validate_text

    actor = await sessions.require(ctx, Capability.HOLDER_SET_DIF)
    justification = validate_text(reason, "Justification", max_length=500)
    if minutes < 0 or minutes > DIF_MAX:
        raise ValidationError(
            f"Solde DIF : entre 0 h et {format_hours(DIF_MAX)} ({format_hours(minutes)} saisies).",
            {"dif": "hors limites"},
        )
    async with serialised_transaction() as conn:
        holder = await lock_holder(holder_id, conn)
        if holder is None:
            from cpf_tui.errors import NotFound

            raise NotFound("Titulaire introuvable.")
        used = holder.dif_reserved_minutes + holder.dif_consumed_minutes
        if minutes < used:
            raise ValidationError(
                f"Solde DIF : impossible de descendre sous les heures DIF déjà réservées ou consommées "
                f"({format_hours(used)}).",
                {"dif": "sous l'utilisé"},
            )
        previous = holder.dif_total_minutes
        if minutes == previous:
            raise ValidationError(f"Solde DIF : le solde est déjà de {format_hours(previous)}.", {"dif": "inchangé"})
        await _movement(holder, MovementKind.DIF_SETTING, Bucket.DIF, minutes, conn,
                        previous_minutes=previous, author_id=actor.id, reason=justification)
        holder.dif_total_minutes = minutes
        await _save_projection(holder, conn)
        await audit.record(
            "holder.set_dif", ctx=ctx, actor=actor, target=holder,
            before={"dif_total_minutes": previous}, after={"dif_total_minutes": minutes, "reason": justification},
            using_db=conn,
        )
    return holder


async def record_cpf_acquisition(
    ctx: RequestContext, holder_id: int, reference_year: int, work_ratio_percent: int = 100
) -> int:
    """Credit one year of work to a holder's CPF (system feed, not a user action); returns minutes credited.

    CPF hours are fed by the Caisse des dépôts from employers' declarations: a logged-in user may not
    record them. One acquisition per holder and year.
    """
    from cpf_tui.errors import Conflict, NotFound
    from cpf_tui.services.locking import lock_holder, serialised_transaction

    if ctx.account_id is not None:
        raise PermissionDenied(
            "Les heures CPF sont alimentées par la Caisse des dépôts à partir des déclarations des employeurs."
        )
    if not 2015 <= reference_year <= clock.now().year:
        raise ValidationError(f"Année de référence : entre 2015 et {clock.now().year}.")
    async with serialised_transaction() as conn:
        holder = await lock_holder(holder_id, conn)
        if holder is None:
            raise NotFound("Titulaire introuvable.")
        if await HoursMovement.filter(
            holder_id=holder.id, kind=MovementKind.CPF_ACQUISITION, reference_year=reference_year
        ).using_db(conn).exists():
            raise Conflict(f"L'acquisition CPF de {reference_year} est déjà enregistrée pour ce titulaire.")
        gain = acquisition_for_year(holder.cpf_acquired_minutes, work_ratio_percent)
        before = holder.cpf_acquired_minutes
        if gain:
            await _movement(holder, MovementKind.CPF_ACQUISITION, Bucket.CPF, gain, conn,
                            reference_year=reference_year, work_ratio_percent=work_ratio_percent,
                            reason=f"Acquisition {reference_year} ({work_ratio_percent} %)")
            holder.cpf_acquired_minutes += gain
            await _save_projection(holder, conn)
            await audit.record(
                "holder.cpf_acquisition", ctx=ctx, target=holder,
                before={"cpf_acquired_minutes": before},
                after={"cpf_acquired_minutes": holder.cpf_acquired_minutes, "reference_year": reference_year,
                       "work_ratio_percent": work_ratio_percent},
                using_db=conn,
            )
    return gain


# -- re-checking the whole ledger ------------------------------------------------------------------
@dataclass(frozen=True)
class Inconsistency:
    """A holder whose stored balance differs from its ledger (or a ledger that breaks a rule)."""

    holder_id: int
    nir: str
    message: str


def expected_from_movements(rows: list[tuple[str, str, int]], latest_dif: int | None) -> dict[str, int]:
    """Projection columns computed from (kind, bucket, sum of minutes) rows and the latest DIF setting."""
    sums: dict[tuple[str, str], int] = {}
    for kind, bucket, minutes in rows:
        sums[(kind, bucket)] = sums.get((kind, bucket), 0) + int(minutes)
    expected = {"cpf_acquired_minutes": sums.get(("cpf_acquisition", "cpf"), 0),
                "dif_total_minutes": latest_dif or 0}
    for bucket in ("cpf", "dif"):
        expected[f"{bucket}_reserved_minutes"] = (
            sums.get(("reservation", bucket), 0) - sums.get(("consumption", bucket), 0)
            - sums.get(("release", bucket), 0)
        )
        expected[f"{bucket}_consumed_minutes"] = sums.get(("consumption", bucket), 0)
    return expected


async def check_ledger(chunk_size: int = 5000) -> list[Inconsistency]:
    """Recompute every holder's balances from its movements and list every difference (French)."""
    from tortoise.functions import Sum


    rows_by_holder: dict[int, list[tuple[str, str, int]]] = {}
    grouped = (
        await HoursMovement.annotate(total=Sum("minutes"))
        .group_by("holder_id", "kind", "bucket")
        .values_list("holder_id", "kind", "bucket", "total")
    )
    for holder_id, kind, bucket, total in grouped:
        rows_by_holder.setdefault(holder_id, []).append((str(getattr(kind, "value", kind)),
                                                         str(getattr(bucket, "value", bucket)), int(total or 0)))
    latest_dif: dict[int, int] = {}
    for holder_id, minutes in await HoursMovement.filter(kind=MovementKind.DIF_SETTING).order_by(
        "holder_id", "created_at", "id"
    ).values_list("holder_id", "minutes"):
        latest_dif[holder_id] = minutes

    problems: list[Inconsistency] = []
    last_id = 0
    while True:
        chunk = await Holder.filter(id__gt=last_id).order_by("id").limit(chunk_size).values(
            "id", "nir", *PROJECTION_COLUMNS
        )
        if not chunk:
            break
        last_id = chunk[-1]["id"]
        for row in chunk:
            expected = expected_from_movements(rows_by_holder.get(row["id"], []), latest_dif.get(row["id"]))
            problems.extend(_compare(row, expected))
    problems.extend(await _movements_off_their_file_holder())
    return problems


_OFF_HOLDER_SQL = (
    "SELECT m.holder_id AS holder_id, h.nir AS nir, m.kind AS kind, d.number AS number, fh.nir AS file_nir"
    " FROM hours_movement m JOIN dossier d ON d.id = m.dossier_id JOIN holder h ON h.id = m.holder_id"
    " JOIN holder fh ON fh.id = d.holder_id WHERE m.holder_id <> d.holder_id ORDER BY m.id"
)


async def _movements_off_their_file_holder() -> list[Inconsistency]:
    """Reservations of a file (and their consumption or release) recorded on another holder than the
    file's own: the file's closing could never settle them (docs/dossiers.md)."""
    from tortoise import connections


    rows = await connections.get("default").execute_query_dict(_OFF_HOLDER_SQL)
    return [
        Inconsistency(
            row["holder_id"], row["nir"],
            f"Mouvement « {MovementKind(row['kind']).label} » du dossier {row['number']} enregistré sur ce"
            f" titulaire, alors que le dossier est celui du titulaire {row['file_nir']}.",
        )
        for row in rows
    ]


def _compare(row: dict[str, Any], expected: dict[str, int]) -> list[Inconsistency]:
    out: list[Inconsistency] = []
    holder_id, nir = row["id"], row["nir"]
    for column in PROJECTION_COLUMNS:
        if row[column] != expected[column]:
            out.append(Inconsistency(
                holder_id, nir,
                f"{COLUMN_LABELS[column]} : {format_hours(row[column])} enregistrées, "
                f"{format_hours(expected[column])} d'après les mouvements.",
            ))
    for bucket, total_key, label in (("cpf", "cpf_acquired_minutes", "CPF"), ("dif", "dif_total_minutes", "DIF")):
        reserved, consumed = expected[f"{bucket}_reserved_minutes"], expected[f"{bucket}_consumed_minutes"]
        if reserved < 0:
            out.append(Inconsistency(holder_id, nir, f"Heures {label} réservées négatives ({format_hours(reserved)})."))
        available = expected[total_key] - reserved - consumed
        if available < 0:
            out.append(Inconsistency(holder_id, nir, f"Solde {label} disponible négatif ({format_hours(available)})."))
    if expected["cpf_acquired_minutes"] > CPF_CEILING:
        out.append(Inconsistency(holder_id, nir, f"Heures CPF acquises au-delà du plafond de {format_hours(CPF_CEILING)}."))
    if expected["dif_total_minutes"] > DIF_MAX:
        out.append(Inconsistency(holder_id, nir, f"Solde DIF au-delà de {format_hours(DIF_MAX)}."))
    return out
