"""Training files: draft fields and numbers, validation (reservations), closure, conflicts, scope, listing."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from cpf_tui.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tortoise import connections

from cpf_tui.services import dossiers, holders, ledger
from cpf_tui.services.context import RequestContext
from cpf_tui.services.dossiers import DossierFilter, DossierInput
from models import (
    AuditEvent, Bucket, Dossier, DossierEvent, DossierStatus, Establishment, Holder, HoursMovement, MovementKind,
    Profile, Role,
)
from tests.factories import make_account, make_organisation, make_siren, make_siret
from tests.holder_helpers import funded_holder

H = 60
PROVIDER_SIRET = make_siret(make_siren(901), 12)


def complete_input(holder: Holder, requested: int = 30 * H, **changes) -> DossierInput:
    data = DossierInput(
        holder_nir=holder.nir, training_title="Anglais professionnel", provider_name="Langues & Co",
        provider_siret=PROVIDER_SIRET, start_date=date(2026, 3, 2), end_date=date(2026, 6, 30),
        duration_minutes=40 * H, requested_minutes=requested,
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


@pytest.fixture
async def world(db, frozen_clock):
    org = await make_organisation(secondary=1)
    admin = await make_account(Role.PRINCIPAL_ADMIN, organisation=org)
    holder = await funded_holder(100 * H, 20 * H)
    return {"org": org, "admin": admin, "ctx": RequestContext(account_id=admin.id), "holder": holder,
            "clock": frozen_clock}


def training_started(world) -> None:
    """Move the frozen clock (15/01/2026) into the training of `complete_input` (from 02/03/2026)."""
    world["clock"].current = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)


async def test_create_assigns_readable_number_and_history(world):
    dossier = await dossiers.create_draft(world["ctx"], complete_input(world["holder"]))
    assert dossier.number == f"DF-2026-{dossier.id:06d}"
    assert dossier.status == DossierStatus.DRAFT
    assert dossier.organisation_id == world["org"].id
    view, _balance = await dossiers.open_dossier(world["ctx"], dossier.id)
    assert [e.label for e in view.events] == ["Création"]
    event = await AuditEvent.get(action="dossier.create")
    assert event.before is None and event.after["number"] == dossier.number


async def test_draft_may_be_incomplete_but_given_fields_are_checked(world):
    draft = await dossiers.create_draft(world["ctx"], DossierInput(holder_nir=world["holder"].nir))
    assert draft.training_title == "" and draft.requested_minutes == 0
    bad = DossierInput(
        holder_nir=world["holder"].nir, provider_siret="12345678901234", start_date=date(2026, 5, 1),
        end_date=date(2026, 4, 1), duration_minutes=10 * H, requested_minutes=12 * H,
    )
    with pytest.raises(ValidationError) as caught:
        await dossiers.create_draft(world["ctx"], bad)
    assert set(caught.value.errors) == {"provider_siret", "end_date", "requested_minutes"}
    assert "précéder" in caught.value.errors["end_date"]
    assert "durée totale" in caught.value.errors["requested_minutes"]
    with pytest.raises(ValidationError, match="aucun titulaire"):
        await dossiers.create_draft(world["ctx"], DossierInput(holder_nir="185057800608491"))
    assert await Dossier.all().count() == 1


def test_form_text_parsing_reports_every_error_in_french():
    with pytest.raises(ValidationError) as caught:
        DossierInput.from_text({"start_date": "31/02/2026", "duration_minutes": "dix", "requested_minutes": "5 h 99"})
    assert set(caught.value.errors) == {"start_date", "duration_minutes", "requested_minutes"}
    parsed = DossierInput.from_text({"start_date": "2/3/2026", "duration_minutes": "40 h 30", "holder_nir": "x"})
    assert (parsed.start_date, parsed.duration_minutes, parsed.requested_minutes) == (date(2026, 3, 2), 2430, None)


async def test_save_with_stale_version_is_refused(world):
    draft = await dossiers.create_draft(world["ctx"], complete_input(world["holder"]))
    first = await dossiers.save_draft(world["ctx"], draft.id, complete_input(world["holder"], training_title="A"),
                                      expected_version=draft.version)
    assert first.version == draft.version + 1
    with pytest.raises(Conflict, match="modifié par quelqu'un d'autre"):
        await dossiers.save_draft(world["ctx"], draft.id, complete_input(world["holder"], training_title="B"),
                                  expected_version=draft.version)
    assert (await Dossier.get(id=draft.id)).training_title == "A"
    changes = (await DossierEvent.filter(dossier_id=draft.id, action="save").get()).details["changes"]
    assert changes["training_title"] == ["Anglais professionnel", "A"]


async def test_validate_reserves_dif_first_then_cpf(world):
    holder = world["holder"]
    draft = await dossiers.create_draft(world["ctx"], complete_input(holder, requested=30 * H))
    validated = await dossiers.validate(world["ctx"], draft.id, expected_version=draft.version)
    assert validated.status == DossierStatus.VALIDATED
    assert (validated.reserved_dif_minutes, validated.reserved_cpf_minutes) == (20 * H, 10 * H)
    assert validated.validated_by_id == world["admin"].id and validated.validated_at is not None
    await holder.refresh_from_db()
    assert (holder.dif_available_minutes, holder.cpf_available_minutes) == (0, 90 * H)
    movements = await HoursMovement.filter(dossier_id=draft.id).order_by("id").values_list("kind", "bucket", "minutes")
    assert movements == [(MovementKind.RESERVATION, Bucket.DIF, 20 * H), (MovementKind.RESERVATION, Bucket.CPF, 10 * H)]
    assert await ledger.check_ledger() == []


async def test_validate_requires_complete_file_and_enough_hours(world):
    holder = world["holder"]
    incomplete = await dossiers.create_draft(world["ctx"], DossierInput(holder_nir=holder.nir))
    with pytest.raises(ValidationError) as caught:
        await dossiers.validate(world["ctx"], incomplete.id)
    assert {"training_title", "provider_siret", "start_date", "requested_minutes"} <= set(caught.value.errors)
    greedy = await dossiers.create_draft(world["ctx"], complete_input(holder, requested=121 * H,
                                                                      duration_minutes=200 * H))
    with pytest.raises(ValidationError, match="Heures insuffisantes : 121 h demandées, 120 h disponibles"):
        await dossiers.validate(world["ctx"], greedy.id)
    await holder.refresh_from_db()
    assert holder.cpf_reserved_minutes == holder.dif_reserved_minutes == 0
    assert (await Dossier.get(id=greedy.id)).status == DossierStatus.DRAFT


async def test_a_file_never_mobilises_more_than_150_hours(world):
    with pytest.raises(ValidationError, match="150 h au maximum"):
        await dossiers.create_draft(world["ctx"], complete_input(world["holder"], requested=151 * H,
                                                                 duration_minutes=200 * H))


async def test_close_with_fewer_hours_consumes_dif_first_and_releases_the_rest(world):
    holder = world["holder"]
    draft = await dossiers.create_draft(world["ctx"], complete_input(holder, requested=30 * H))
    await dossiers.validate(world["ctx"], draft.id)
    with pytest.raises(ValidationError, match="commence le 02/03/2026"):  # closed today, 15/01/2026
        await dossiers.close(world["ctx"], draft.id, 25 * H, "Abandon en cours de formation")
    training_started(world)
    with pytest.raises(ValidationError, match="Motif"):
        await dossiers.close(world["ctx"], draft.id, 25 * H, "")
    with pytest.raises(ValidationError, match="ne peuvent pas dépasser"):
        await dossiers.close(world["ctx"], draft.id, 31 * H, "trop")
    closed = await dossiers.close(world["ctx"], draft.id, 25 * H, "Abandon en cours de formation")
    assert (closed.status, closed.done_minutes, closed.closed_by_id) == (DossierStatus.CLOSED, 25 * H,
                                                                         world["admin"].id)
    await holder.refresh_from_db()
    assert (holder.dif_consumed_minutes, holder.cpf_consumed_minutes) == (20 * H, 5 * H)
    assert holder.dif_reserved_minutes == holder.cpf_reserved_minutes == 0
    assert holder.cpf_available_minutes == 95 * H
    release = await HoursMovement.get(dossier_id=draft.id, kind=MovementKind.RELEASE)
    assert (release.bucket, release.minutes) == (Bucket.CPF, 5 * H)
    view, _balance = await dossiers.open_dossier(world["ctx"], draft.id)
    assert [e.label for e in view.events] == ["Création", "Validation", "Clôture"]
    assert "Abandon" in view.events[-1].summary
    audit_close = await AuditEvent.get(action="dossier.close")
    assert audit_close.before["status"] == "validated" and audit_close.after["status"] == "closed"
    assert await ledger.check_ledger() == []


async def test_close_with_all_hours_needs_no_reason(world):
    draft = await dossiers.create_draft(world["ctx"], complete_input(world["holder"], requested=10 * H))
    await dossiers.validate(world["ctx"], draft.id)
    training_started(world)
    closed = await dossiers.close(world["ctx"], draft.id, 10 * H)
    assert closed.closure_reason == ""
    assert await HoursMovement.filter(dossier_id=draft.id, kind=MovementKind.RELEASE).count() == 0


async def test_a_training_not_yet_started_closes_only_as_cancelled_at_zero_hours(world):
    holder = world["holder"]
    draft = await dossiers.create_draft(world["ctx"], complete_input(holder, requested=30 * H))
    await dossiers.validate(world["ctx"], draft.id)
    world["clock"].current = datetime(2026, 3, 1, 22, 30, tzinfo=timezone.utc)  # 23:30 in Paris, 1 March
    for done in (H, 30 * H):
        with pytest.raises(ValidationError, match="commence le 02/03/2026") as refused:
            await dossiers.close(world["ctx"], draft.id, done, "Formation écourtée")
        assert refused.value.errors == {"done_minutes": "formation non commencée"}
    with pytest.raises(ValidationError, match="Motif"):
        await dossiers.close(world["ctx"], draft.id, 0)
    assert (await Dossier.get(id=draft.id)).status == DossierStatus.VALIDATED
    assert await HoursMovement.filter(dossier_id=draft.id).count() == 2  # the reservation only
    closed = await dossiers.close(world["ctx"], draft.id, 0, "Formation annulée par l'organisme")
    assert (closed.status, closed.done_minutes) == (DossierStatus.CLOSED, 0)
    await holder.refresh_from_db()
    assert (holder.dif_available_minutes, holder.cpf_available_minutes) == (20 * H, 100 * H)
    assert await ledger.check_ledger() == []


async def test_the_closure_day_is_the_day_in_paris(world):
    draft = await dossiers.create_draft(world["ctx"], complete_input(world["holder"], requested=10 * H))
    await dossiers.validate(world["ctx"], draft.id)
    world["clock"].current = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)  # 00:30 on 2 March in Paris
    closed = await dossiers.close(world["ctx"], draft.id, 10 * H)
    assert (closed.status, closed.done_minutes) == (DossierStatus.CLOSED, 10 * H)


async def test_delete_draft_removes_it_and_audits(world):
    draft = await dossiers.create_draft(world["ctx"], complete_input(world["holder"]))
    await dossiers.delete_draft(world["ctx"], draft.id, expected_version=draft.version)
    assert await Dossier.filter(id=draft.id).count() == 0
    assert (await AuditEvent.get(action="dossier.delete")).before["number"] == draft.number


async def test_opening_a_file_reads_it_with_its_holder_and_people_in_two_statements(world, monkeypatch):
    """The file form's opening (`open_dossier`): the file and its holder's balances, read in two
    statements after the actor's: the file with its holder, organisation, establishment and the people
    who created, validated and closed it, then its events with their actors."""
    ctx, holder = world["ctx"], world["holder"]
    draft = await dossiers.create_draft(ctx, complete_input(holder))
    await dossiers.validate(ctx, draft.id)
    conn = connections.get("default")
    statements: list[str] = []
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(conn, name)

        def counted(sql, *args, _original=original, **kwargs):  # noqa: ANN001, ANN202 - the client's signature
            statements.append(sql)
            return _original(sql, *args, **kwargs)

        monkeypatch.setattr(conn, name, counted)
    view, balance = await dossiers.open_dossier(ctx, draft.id)
    # The actor (with its session and the latest CGU version, one statement), the file, then its events.
    assert len(statements) == 3, statements
    monkeypatch.undo()
    assert (view.id, view.number, view.holder_nir, view.holder_name) == (
        draft.id, draft.number, holder.nir, holder.display_name)
    assert view.validated_by and view.establishment and not view.closed_by
    assert [event.label for event in view.events] == ["Création", "Validation"]
    assert balance == await holders.balance_for_nir(ctx, holder.nir)
    assert balance.balances.dif_reserved + balance.balances.cpf_reserved == 30 * H  # DIF first
    other = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE)
    with pytest.raises(NotFound):
        await dossiers.open_dossier(RequestContext(account_id=other.id), draft.id)


async def test_scope_organisation_and_delegated_establishment(world):
    org = world["org"]
    secondary = await Establishment.get(organisation=org, is_head_office=False)
    head_file = await dossiers.create_draft(world["ctx"], complete_input(world["holder"]))
    other_org_user = await make_account(Role.GESTIONNAIRE, Profile.CLOTURE)
    with pytest.raises(NotFound):
        await dossiers.open_dossier(RequestContext(account_id=other_org_user.id), head_file.id)
    with pytest.raises(NotFound):
        await dossiers.validate(RequestContext(account_id=other_org_user.id), head_file.id)
    delegated = await make_account(Role.DELEGATED_ADMIN, organisation=org, establishment=secondary)
    delegated_ctx = RequestContext(account_id=delegated.id)
    with pytest.raises(NotFound):
        await dossiers.open_dossier(delegated_ctx, head_file.id)
    own = await dossiers.create_draft(delegated_ctx, complete_input(world["holder"]))
    assert own.establishment_id == secondary.id
    with pytest.raises(PermissionDenied):
        await dossiers.create_draft(delegated_ctx, complete_input(world["holder"]),
                                    establishment_id=head_file.establishment_id)
    page = await dossiers.list_dossiers(delegated_ctx)
    assert [row.id for row in page.rows] == [own.id]
    colleague = await make_account(Role.GESTIONNAIRE, Profile.CONSULTATION, organisation=org)
    page = await dossiers.list_dossiers(RequestContext(account_id=colleague.id))
    assert {row.id for row in page.rows} == {own.id, head_file.id}
    operator = await make_account(Role.OPERATOR)
    assert len((await dossiers.list_dossiers(RequestContext(account_id=operator.id))).rows) == 2


async def test_list_filters_sorts_and_pages(world, frozen_clock):
    ctx = world["ctx"]
    other = await funded_holder(100 * H, nom_naissance="Bernard", search_name="BERNARD")
    created = []
    for i in range(7):
        frozen_clock.advance(minutes=1)
        holder = other if i % 2 else world["holder"]
        created.append(await dossiers.create_draft(
            ctx, complete_input(holder, requested=H, start_date=date(2026, 1, 1 + i), end_date=date(2026, 2, 1))))
    await dossiers.validate(ctx, created[0].id)
    validated = await dossiers.list_dossiers(ctx, DossierFilter(status="validated"))
    assert [r.id for r in validated.rows] == [created[0].id]
    by_name = await dossiers.list_dossiers(ctx, DossierFilter(holder="bern"))
    assert {r.id for r in by_name.rows} == {created[i].id for i in (1, 3, 5)}
    by_nir = await dossiers.list_dossiers(ctx, DossierFilter(holder=other.nir))
    assert len(by_nir.rows) == 3
    window = await dossiers.list_dossiers(ctx, DossierFilter(start_from=date(2026, 1, 3), start_to=date(2026, 1, 5),
                                                             sort="start_date"))
    assert [r.id for r in window.rows] == [created[i].id for i in (2, 3, 4)]
    first = await dossiers.list_dossiers(ctx, page_size=3)
    assert [r.id for r in first.rows] == [c.id for c in reversed(created)][:3]
    assert first.has_next and not first.has_previous
    last = await dossiers.list_dossiers(ctx, page=3, page_size=3)
    assert [r.id for r in last.rows] == [created[0].id] and not last.has_next
    with pytest.raises(ValidationError):
        await dossiers.list_dossiers(ctx, DossierFilter(sort="holder; DROP TABLE dossier"))
