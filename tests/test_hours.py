"""The hours rules (cpf_tui/hours.py), and the training sandbox planned with exactly those rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cpf_tui.hours import (
    CPF_CEILING,
    FILE_MAX,
    Balances,
    acquisition_for_year,
    reservation_split,
    settlement,
)
from cpf_tui.services import ledger, sandbox

minutes = st.integers(min_value=0, max_value=FILE_MAX)


@given(requested=st.integers(min_value=1, max_value=FILE_MAX), dif_available=st.integers(-600, FILE_MAX))
def test_a_reservation_takes_dif_first_and_sums_to_the_request(requested, dif_available):
    split = reservation_split(requested, dif_available)
    assert split.dif + split.cpf == requested
    assert 0 <= split.dif <= max(dif_available, 0)
    assert split.cpf == 0 or split.dif == max(dif_available, 0)


@given(reserved_dif=minutes, reserved_cpf=minutes, data=st.data())
def test_a_closure_consumes_dif_first_and_releases_the_rest(reserved_dif, reserved_cpf, data):
    done = data.draw(st.integers(min_value=0, max_value=reserved_dif + reserved_cpf))
    result = settlement(done, reserved_dif, reserved_cpf)
    assert result.consumed_dif + result.consumed_cpf == done
    assert result.consumed_dif + result.released_dif == reserved_dif
    assert result.consumed_cpf + result.released_cpf == reserved_cpf
    assert min(result.consumed_dif, result.consumed_cpf, result.released_dif, result.released_cpf) >= 0
    assert result.consumed_cpf == 0 or result.released_dif == 0


@given(acquired=st.integers(0, CPF_CEILING), ratio=st.integers(1, 100))
def test_acquisition_never_passes_the_ceiling(acquired, ratio):
    assert 0 <= acquired + acquisition_for_year(acquired, ratio) <= CPF_CEILING


def test_balances_available():
    balances = Balances(cpf_acquired=100, cpf_reserved=30, cpf_consumed=20, dif_total=50, dif_reserved=5,
                        dif_consumed=5)
    assert (balances.cpf_available, balances.dif_available, balances.total_available) == (50, 40, 90)


def test_the_sandbox_plan_follows_the_ledger_rules():
    """Every planned holder's balances are what the ledger computes from its planned movements, and every
    planned reservation and closure is what `reservation_split` and `settlement` give: a change of rule
    reaches the training sandbox."""
    plan = sandbox.make_plan()
    for holder in plan.holders:
        rows = [(m.kind, m.bucket, m.minutes) for m in holder.movements]
        dif_settings = [m.minutes for m in holder.movements if m.kind == "dif_setting"]
        expected = ledger.expected_from_movements(rows, dif_settings[-1] if dif_settings else None)
        assert holder.balances.as_dict() == expected, holder.nir
    for dossier in plan.dossiers:
        reserved = [m for h in plan.holders for m in h.movements
                    if m.dossier_number == dossier.number and m.kind == "reservation"]
        if dossier.status == "draft":
            assert reserved == []
            continue
        by_bucket = {m.bucket: m.minutes for m in reserved}
        assert (by_bucket.get("dif", 0), by_bucket.get("cpf", 0)) == (dossier.reserved_dif_minutes,
                                                                       dossier.reserved_cpf_minutes)
        assert dossier.reserved_dif_minutes + dossier.reserved_cpf_minutes == dossier.requested_minutes
        if dossier.status == "closed":
            closing = {(m.kind, m.bucket): m.minutes for h in plan.holders for m in h.movements
                       if m.dossier_number == dossier.number and m.kind in ("consumption", "release")}
            result = settlement(dossier.done_minutes, dossier.reserved_dif_minutes, dossier.reserved_cpf_minutes)
            assert closing == {key: value for key, value in {
                ("consumption", "dif"): result.consumed_dif, ("consumption", "cpf"): result.consumed_cpf,
                ("release", "dif"): result.released_dif, ("release", "cpf"): result.released_cpf,
            }.items() if value}
