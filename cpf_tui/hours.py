"""The hours rules of the CPF, as pure functions: the one copy used by the ledger, the models and the sandbox.

Everything is in minutes (integers, never floats). Nothing here reads or writes the database: the
ledger (`services/ledger.py`) applies these results to a holder inside a transaction, the training
sandbox (`services/sandbox.py`) plans its history with them, `models.Holder` shows its balances with
them. Changing a rule here changes all three.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpf_tui.errors import ValidationError

HOUR = 60
CPF_FIRST_RATE = 24 * HOUR
"""Minutes acquired per year of full-time work until CPF_THRESHOLD."""
CPF_THRESHOLD = 120 * HOUR
CPF_SECOND_RATE = 12 * HOUR
"""Minutes acquired per year of full-time work above CPF_THRESHOLD."""
CPF_CEILING = 150 * HOUR
DIF_MAX = 120 * HOUR
FILE_MAX = 150 * HOUR
"""Most hours one training file may ask."""


@dataclass(frozen=True)
class Balances:
    """A holder's hours, in minutes."""

    cpf_acquired: int
    cpf_reserved: int
    cpf_consumed: int
    dif_total: int
    dif_reserved: int
    dif_consumed: int

    @property
    def cpf_available(self) -> int:
        return self.cpf_acquired - self.cpf_reserved - self.cpf_consumed

    @property
    def dif_available(self) -> int:
        return self.dif_total - self.dif_reserved - self.dif_consumed

    @property
    def total_available(self) -> int:
        return self.cpf_available + self.dif_available

    def as_dict(self) -> dict[str, int]:
        return {
            "cpf_acquired_minutes": self.cpf_acquired,
            "cpf_reserved_minutes": self.cpf_reserved,
            "cpf_consumed_minutes": self.cpf_consumed,
            "dif_total_minutes": self.dif_total,
            "dif_reserved_minutes": self.dif_reserved,
            "dif_consumed_minutes": self.dif_consumed,
        }


def acquisition_for_year(acquired_minutes: int, work_ratio_percent: int) -> int:
    """Minutes earned by one year of work: 24 h (pro rata) up to 120 h, then 12 h, never above 150 h.

    A year that crosses 120 h earns at the first rate until 120 h and at the second rate for the
    rest of the year.
    """
    if not 1 <= work_ratio_percent <= 100:
        raise ValidationError("Quotité de travail : un pourcentage entre 1 et 100 est attendu.")
    if acquired_minutes >= CPF_CEILING:
        return 0
    first = CPF_FIRST_RATE * work_ratio_percent // 100
    second = CPF_SECOND_RATE * work_ratio_percent // 100
    if acquired_minutes >= CPF_THRESHOLD:
        gain = second
    elif acquired_minutes + first <= CPF_THRESHOLD:
        gain = first
    else:
        to_threshold = CPF_THRESHOLD - acquired_minutes
        # The part of the year left after reaching 120 h earns at the second rate.
        gain = to_threshold + second * (first - to_threshold) // first
    return min(gain, CPF_CEILING - acquired_minutes)


@dataclass(frozen=True)
class Reservation:
    """The hours a validated file takes from the holder: DIF first, then CPF."""

    dif: int
    cpf: int


def reservation_split(requested: int, dif_available: int) -> Reservation:
    """How `requested` minutes are reserved: as many DIF hours as are available, the rest in CPF."""
    dif = min(requested, max(dif_available, 0))
    return Reservation(dif, requested - dif)


@dataclass(frozen=True)
class Settlement:
    """What closing a file does to its reservation: the hours done are consumed (DIF first), the rest released."""

    consumed_dif: int
    consumed_cpf: int
    released_dif: int
    released_cpf: int

    def as_dict(self) -> dict[str, int]:
        return {
            "consumed_dif_minutes": self.consumed_dif,
            "consumed_cpf_minutes": self.consumed_cpf,
            "released_dif_minutes": self.released_dif,
            "released_cpf_minutes": self.released_cpf,
        }


def settlement(done: int, reserved_dif: int, reserved_cpf: int) -> Settlement:
    """The closure of a file that reserved (`reserved_dif`, `reserved_cpf`) and whose training took `done`."""
    consumed_dif = min(done, reserved_dif)
    consumed_cpf = done - consumed_dif
    return Settlement(consumed_dif, consumed_cpf, reserved_dif - consumed_dif, reserved_cpf - consumed_cpf)
