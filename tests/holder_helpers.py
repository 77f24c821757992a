"""Holders with hours written through the ledger contract (movements + matching projection)."""

from __future__ import annotations

from models import Bucket, Holder, HoursMovement, MovementKind
from tests.factories import make_holder


async def funded_holder(cpf_minutes: int = 0, dif_minutes: int = 0, **fields) -> Holder:
    """A holder whose CPF and DIF balances come from one acquisition and one DIF setting movement."""
    holder = await make_holder(**fields)
    if cpf_minutes:
        await HoursMovement.create(holder=holder, kind=MovementKind.CPF_ACQUISITION, bucket=Bucket.CPF,
                                   minutes=cpf_minutes, reference_year=2020, work_ratio_percent=100)
    if dif_minutes:
        await HoursMovement.create(holder=holder, kind=MovementKind.DIF_SETTING, bucket=Bucket.DIF,
                                   minutes=dif_minutes, previous_minutes=0, reason="Attestation employeur")
    await Holder.filter(id=holder.id).update(cpf_acquired_minutes=cpf_minutes, dif_total_minutes=dif_minutes)
    await holder.refresh_from_db()
    return holder
