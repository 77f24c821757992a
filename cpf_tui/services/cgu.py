"""Conditions générales d'utilisation: versions, acceptance at login, refusal, publication."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError

from cpf_tui import clock
from cpf_tui.errors import Conflict, ValidationError
from cpf_tui.services import audit, sessions
from cpf_tui.services.context import SYSTEM, RequestContext
from cpf_tui.services.locking import serialised_transaction
from cpf_tui.text import has_control_chars

from models import Account, CguAcceptance, CguVersion
MAX_BYTES = 512 * 1024


async def latest_version() -> Any:
    """The newest published CGU; the reference text (version 1) is published when none exists yet."""
    from cpf_tui.services import reference

    latest = await CguVersion.all().order_by("-version").first()
    if latest is not None:
        return latest
    try:
        return await publish(reference.CGU_TEXT, published_by=reference.CGU_PUBLISHER)
    except IntegrityError:  # published concurrently by another session
        return await CguVersion.all().order_by("-version").first()


async def required_version(account: Account) -> Any:
    """The CGU version `account` still has to accept, or None when it accepted the newest."""
    latest = await latest_version()
    if account.cgu_version_accepted is None or account.cgu_version_accepted < latest.version:
        return latest
    return None


async def get_version(version: int) -> Any:
    """One CGU version (for the CGU screen)."""
    found = await CguVersion.get_or_none(version=version)
    if found is None:
        raise ValidationError(f"La version {version} des CGU n'existe pas.")
    return found


async def accept(ctx: RequestContext, version: int) -> None:
    """Record that the logged-in user accepted `version` (the newest): acceptance row, account, audit."""
    actor = await sessions.load_actor(ctx)
    latest = await latest_version()
    if version != latest.version:
        raise Conflict(
            f"Une nouvelle version des CGU (version {latest.version}) vient d'être publiée : "
            "lisez-la avant de l'accepter."
        )
    now = clock.now()
    async with serialised_transaction() as conn:
        before = {"cgu_version_accepted": actor.cgu_version_accepted}
        if not await CguAcceptance.filter(account_id=actor.id, version=version).using_db(conn).exists():
            await CguAcceptance.create(account_id=actor.id, version=version, accepted_at=now, using_db=conn)
        await Account.filter(id=actor.id).using_db(conn).update(cgu_version_accepted=version, cgu_accepted_at=now)
        await audit.record(
            "cgu.accept",
            ctx=ctx,
            actor=actor,
            target=actor,
            before=before,
            after={"cgu_version_accepted": version},
            using_db=conn,
        )


async def refuse(ctx: RequestContext, version: int) -> None:
    """Audit the refusal and end the session (the App then logs out)."""
    account = await Account.get_or_none(id=ctx.account_id) if ctx.account_id else None
    await audit.record("cgu.refuse", ctx=ctx, actor=account, target=account, after={"version": version})
    await sessions.end_own_session(ctx, sessions.END_CGU_REFUSED)


def clean_text(raw: str) -> str:
    """A CGU text ready to store: no BOM, Unix line ends, no control characters, not empty."""
    text = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if has_control_chars(text.replace("\t", " ")):
        raise ValidationError("Le texte des CGU contient des caractères de contrôle : fichier refusé.")
    text = text.strip("\n")
    if not text.strip():
        raise ValidationError("Le fichier des CGU est vide.")
    return text


def read_text_file(path: str | Path) -> str:
    """Read a CGU file as UTF-8, with a French error for every way it can fail."""
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise ValidationError(f"Fichier introuvable : {file}") from None
    except OSError as exc:
        raise ValidationError(f"Fichier illisible : {file} ({exc.strerror or exc})") from None
    if file.is_dir():
        raise ValidationError(f"{file} est un dossier, pas un fichier texte.")
    if size > MAX_BYTES:
        raise ValidationError(f"Fichier trop volumineux : {size} octets ({MAX_BYTES} au maximum).")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"Fichier illisible : {file} ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"Fichier illisible : {file} n'est pas un texte encodé en UTF-8.") from None


async def publish(raw_text: str, *, published_by: str = "", ctx: RequestContext = SYSTEM) -> Any:
    """Add a new CGU version (numbered after the newest); every user will be asked to accept it."""
    text = clean_text(raw_text)
    async with serialised_transaction() as conn:
        last = await CguVersion.all().using_db(conn).order_by("-version").first()
        number = (last.version + 1) if last else 1
        version = await CguVersion.create(
            version=number, text=text, published_at=clock.now(), published_by=published_by[:100], using_db=conn
        )
        await audit.record(
            "cgu.publish",
            ctx=ctx,
            actor_identifier=published_by[:32],
            target=version,
            after={"version": number, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()},
            using_db=conn,
        )
    return version


async def publish_file(path: str | Path, *, published_by: str = "", ctx: RequestContext = SYSTEM) -> Any:
    """Read a UTF-8 text file and publish it as the new CGU version."""
    return await publish(read_text_file(path), published_by=published_by, ctx=ctx)
