"""Feed files for tests and benches: valid holder and hours lines by number, and the database's state."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from stdnum.fr import nir as nir_module

from cpf_tui.services.feed_files import HOLDER_COLUMNS, HOURS_COLUMNS, header_line

HOLDER_HEADER = header_line(HOLDER_COLUMNS)
HOURS_HEADER = header_line(HOURS_COLUMNS)
SURNAMES = ("MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEFÈVRE", "MOREAU",
            "SIMON", "LAURENT", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER", "MOREL",
            "GIRARD", "ANDRÉ", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANÇOIS", "MARTINEZ", "LEGRAND", "GARNIER")
GIVEN = ("Camille", "Léa", "Manon", "Chloé", "Inès", "Jeanne", "Louise", "Zoé", "Hugo", "Lucas", "Gabriel",
         "Louis", "Raphaël", "Jules", "Adam", "Arthur", "Noé", "Théo", "Marie-Claire", "Jean-Pierre")
_DEPARTMENTS = [f"{d:02d}" for d in range(1, 96) if d != 20]


def birth_date(index: int) -> date:
    return date(1960 + index % 45, 1 + index % 12, 1 + index % 28)


def valid_nir(index: int) -> str:
    """A valid NIR, unique for every index below 94 000 000, consistent with `birth_date(index)`."""
    born = birth_date(index)
    department = _DEPARTMENTS[(index // 1_000_000) % len(_DEPARTMENTS)]
    base = f"{1 + index % 2}{born.year % 100:02d}{born.month:02d}{department}{index % 1_000_000:06d}"
    return base + nir_module.calc_check_digits(base)


def holder_fields(index: int, *, usage: str = "", email: str | None = None, phone: str | None = None) -> list[str]:
    """The seven fields of a valid holder line."""
    surname, given = SURNAMES[index % len(SURNAMES)], GIVEN[(index // 7) % len(GIVEN)]
    mail = email if email is not None else f"titulaire{index}@exemple.fr"
    mobile = phone if phone is not None else f"06 {index // 1_000_000 % 100:02d} {index // 10_000 % 100:02d} " \
                                             f"{index // 100 % 100:02d} {index % 100:02d}"
    return [valid_nir(index), surname, usage, given, birth_date(index).strftime("%d/%m/%Y"), mail, mobile]


def holder_line(index: int, **overrides: str) -> str:
    return ";".join(holder_fields(index, **overrides))


def hours_line(index: int, year: int, *, ratio: str = "", hours: str = "") -> str:
    """A valid hours line: full time unless `ratio` or `hours` is given."""
    if not ratio and not hours:
        ratio = "100"
    return f"{valid_nir(index)};{year};{ratio};{hours}"


def write_feed(path: Path, header: str, lines: list[str], *, encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


async def feed_state() -> dict[str, list]:
    """Everything a feed may change: holders and hours movements."""
    from models import Holder, HoursMovement

    return {
        "holders": await Holder.all().order_by("nir").values_list(
            "nir", "nom_naissance", "nom_usage", "prenoms", "date_naissance", "email", "mobile",
            "cpf_acquired_minutes", "version",
        ),
        "movements": await HoursMovement.all().order_by("id").values_list(
            "holder_id", "kind", "minutes", "reference_year", "work_ratio_percent",
        ),
    }


async def audit_events(action: str) -> list:
    from models import AuditEvent

    return await AuditEvent.filter(action=action).order_by("seq")
