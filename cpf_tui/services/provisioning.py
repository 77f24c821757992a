"""Account provisioning: identifier, temporary password, welcome e-mail and audit, inside the caller's transaction.

Callers (operator registration, administrators' screens, bulk import, CLI bootstrap) check permissions
and scope first; these helpers only do the mechanics shared by all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from cpf_tui import clock, text
from cpf_tui.services import audit, outbox, passwords
from cpf_tui.services.context import RequestContext
from cpf_tui.services.hash_worker import HashStream
from cpf_tui.services.identifiers import allocate_identifiers

if TYPE_CHECKING:
    from cpf_tui.services import audit_worker
    from models import Account, Establishment, Organisation, Profile, Role

PORTAL_NAME = "l'espace privé de gestion du Compte personnel de formation (CPF)"
CONTACT_EMAIL = "CPF-gestion@caissedesdepots.fr"


def _created_event(account: Any, action: str, ctx: RequestContext, actor: Any) -> dict[str, Any]:
    """The journal event of one account made in bulk (`audit.record_many` / `record_batch` values)."""
    return audit.account_created_event(account, _label(account), action, ctx, actor)


def _label(account: Any) -> str:
    """The label `str(account)` gives an account."""
    return _account_str()(account)


@lru_cache(maxsize=1)
def _account_str() -> Callable[[Any], str]:
    from models import Account

    return cast(Callable[[Any], str], Account.__str__)


def format_expiry(moment: datetime) -> str:
    """A French date and time for e-mails, in Paris time: `22/01/2026 à 10:00 (heure de Paris)`."""
    from cpf_tui.services.mail import mail_time

    return mail_time(moment)


CDC_NAME = "la Caisse des dépôts (opérateurs CDC)"
"""What an operator's e-mails name as its organisation."""


def organisation_line(organisation_name: str, establishment_name: str = "") -> str:
    """`l'organisme X (établissement Y)`, as the e-mails name where an account belongs."""
    if not organisation_name:
        return CDC_NAME
    if establishment_name and establishment_name != organisation_name:
        return f"l'organisme {organisation_name} (établissement {establishment_name})"
    return f"l'organisme {organisation_name}"


def _person(account: Any) -> str:
    return f"{account.prenom} {account.nom}"


def welcome_mail(
    account: Any,
    password: str,
    expires_at: datetime,
    *,
    organisation_name: str = "",
    establishment_name: str = "",
    creator: Any = None,
    with_identifier: bool = False,
    handed_by: str = "",
    expiry_text: str = "",
) -> tuple[str, str]:
    """Subject and plain-text French body of the e-mail sent to a new account.

    An account created by an administrator (screen or bulk file) gets its temporary password only: the
    administrator hands over the identifier, so one intercepted e-mail is not enough. A principal
    administrator registered by the CDC (and an operator bootstrapped from the command line) gets
    « ses identifiants », both, as the registration kit says. `handed_by` names who passes the
    identifier on when it is not the creator (a bulk file processed by a CDC operator). `expiry_text`
    is `format_expiry(expires_at)` when the caller has it already (the same for a whole batch).
    """
    where = organisation_line(organisation_name, establishment_name)
    by_whom = f" par {_person(creator)}" if creator is not None else ""
    if with_identifier:
        subject = "Vos identifiants pour l'espace de gestion CPF"
        credentials = (
            f"Votre identifiant : {account.identifier}\n"
            f"Votre mot de passe temporaire : {password}\n\n"
        )
    else:
        subject = "Votre mot de passe temporaire pour l'espace de gestion CPF"
        handed_by = handed_by or (
            _person(creator) if creator is not None else "l'administrateur qui a créé votre compte"
        )
        credentials = (
            f"Votre mot de passe temporaire : {password}\n\n"
            f"Votre identifiant ne figure pas dans ce message : {handed_by} vous le communique\n"
            "directement. Ne le demandez pas par courriel.\n\n"
        )
    body = (
        f"Bonjour {_person(account)},\n\n"
        f"Un compte vient d'être créé pour vous{by_whom} dans {PORTAL_NAME},\n"
        f"pour {where}.\n\n"
        f"{credentials}"
        "Ce mot de passe est temporaire : il vous sera demandé de le changer lors de votre première\n"
        "connexion, après l'acceptation des conditions générales d'utilisation.\n"
        f"Il expire le {expiry_text or format_expiry(expires_at)}. Passé ce délai, demandez à votre administrateur\n"
        "d'en générer un nouveau.\n\n"
        "Ne communiquez jamais votre mot de passe, y compris à votre administrateur.\n\n"
        f"Pour toute question : {CONTACT_EMAIL}\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


def regenerated_mail(
    account: Any,
    password: str,
    expires_at: datetime,
    actor: Any = None,
    *,
    organisation_name: str = "",
    establishment_name: str = "",
) -> tuple[str, str]:
    """Subject and plain-text French body of the e-mail sent after a password regeneration: the new
    temporary password with the person's name, organisation and expiry, never the identifier."""
    subject = "Nouveau mot de passe temporaire pour l'espace de gestion CPF"
    by_whom = f" par {_person(actor)}" if actor is not None else ""
    body = (
        f"Bonjour {_person(account)},\n\n"
        f"Un nouveau mot de passe temporaire a été généré{by_whom} pour votre compte dans {PORTAL_NAME},\n"
        f"pour {organisation_line(organisation_name, establishment_name)}.\n\n"
        f"Votre mot de passe temporaire : {password}\n\n"
        "Votre identifiant ne change pas (il ne figure pas dans ce message).\n"
        "Ce mot de passe est temporaire : il vous sera demandé de le changer lors de votre prochaine\n"
        "connexion. Vos sessions ouvertes ont été fermées et un éventuel verrouillage est levé.\n"
        f"Il expire le {format_expiry(expires_at)}.\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, prévenez votre administrateur.\n\n"
        f"Pour toute question : {CONTACT_EMAIL}\n\n"
        "La Caisse des dépôts — Compte personnel de formation\n"
    )
    return subject, body


@dataclass(frozen=True)
class AccountSpec:
    """One account to create (inputs already validated by the caller)."""

    role: Role
    profile: Profile
    organisation: Organisation | None
    establishment: Establishment | None
    nom: str
    prenom: str
    email: str
    phone: str = ""
    service: str = ""


INSERT_BATCH = 500
"""Accounts written (and their e-mails and audit events) per batch in `provision_accounts`."""
HASH_WORKERS = 2
"""Threads hashing temporary passwords (argon2-cffi releases the GIL while hashing)."""
HASH_SLICE = 50
"""Passwords hashed per thread-pool task."""


async def provision_account(
    *,
    role: Role,
    profile: Profile,
    organisation: Organisation | None,
    establishment: Establishment | None,
    nom: str,
    prenom: str,
    email: str,
    phone: str = "",
    service: str = "",
    created_by: Account | None,
    ctx: RequestContext,
    using_db: Any,
    temp_password_days: int = 7,
    audit_action: str = "account.create",
    identifier_by_mail: bool = False,
) -> Account:
    """Create an account with a fresh identifier and temporary password, queue its e-mail, audit it.

    No permission check here: the caller has done them and passes its transaction as `using_db`.
    The e-mail holds the identifier only with `identifier_by_mail` (see `welcome_mail`).
    """
    spec = AccountSpec(
        role=role, profile=profile, organisation=organisation, establishment=establishment,
        nom=nom, prenom=prenom, email=email, phone=phone, service=service,
    )
    account: Account
    (account,) = await provision_accounts(
        [spec], created_by=created_by, ctx=ctx, using_db=using_db, temp_password_days=temp_password_days,
        audit_action=audit_action, identifier_by_mail=identifier_by_mail,
    )
    return account


def _search_parts(account: Any, establishment_name: str) -> list[str]:
    from models import Profile, Role

    role = Role(account.role)
    # Names first: search results are ordered by this key (index organisation_id, search_text).
    return [
        account.nom, account.prenom, account.identifier, account.email, account.service, role.label,
        Profile(account.profile).label if role == Role.GESTIONNAIRE else "",
        "actif" if account.status == "active" else "desactive", establishment_name,
    ]


SEARCH_MEMO_SIZE = 4096
"""Folded parts kept by `search_text_of`'s memo (emptied when full)."""


def _fold_part(part: str) -> str:
    return " ".join(part.lower().split()) if part.isascii() else text.fold(part)


def _fold_joined(parts: Sequence[str]) -> str:
    return " ".join(clean for clean in map(_fold_part, parts) if clean)


def search_text_of(account: Any, establishment_name: str, memo: dict[Any, str] | None = None) -> str:
    """The folded search key of an account: identifier, names, e-mail, service, profile, role, status, site.

    Each part is folded on its own (the same key as folding the joined parts: folding works character
    by character, and the space between parts keeps one part's words from meeting the next one's).
    `memo` keeps, across the accounts of a batch, the folded names and the folded rest (service,
    role, profile, status, site), which repeat; identifiers and e-mails never do. ASCII parts
    (identifiers, most e-mails) have nothing to decompose: lower-casing and collapsing their spaces
    is their fold.
    """
    memo = {} if memo is None else memo
    names_key = (account.nom, account.prenom)
    rest_key = (account.service, account.role, account.profile, account.status, establishment_name)
    names, rest = memo.get(names_key), memo.get(rest_key)
    if names is None or rest is None:
        parts = _search_parts(account, establishment_name)
        names, rest = _fold_joined(parts[:2]), _fold_joined(parts[4:])
        if len(memo) >= SEARCH_MEMO_SIZE:
            memo.clear()  # memory stays flat whatever the number of accounts
        memo[names_key], memo[rest_key] = names, rest
    folded = (names, _fold_part(account.identifier), _fold_part(account.email), rest)
    return " ".join(filter(None, folded))[:600]


async def provision_accounts(
    specs: Sequence[AccountSpec],
    *,
    created_by: Account | None,
    ctx: RequestContext,
    using_db: Any,
    temp_password_days: int = 7,
    audit_action: str = "account.create",
    progress: Callable[[int, int], None] | None = None,
    as_models: bool = True,
    identifier_by_mail: bool = False,
    identifier_handed_by: str = "",
    bulk_path: bool = False,
) -> list[Any]:
    """Create many accounts like `provision_account`, in order, inside the caller's transaction `using_db`.

    Identifiers are drawn in memory and checked against the database in batches, temporary passwords
    hashed in a small thread pool, and accounts, e-mails and audit events inserted `INSERT_BATCH` rows
    at a time with the ORM's INSERT statements but without model instances (`rows.insert_rows`).
    `progress(done, total)` is called once per account after its batch is written. No permission check
    here. Returns saved Account instances, or with `as_models=False` plain records of the stored values
    (`id`, `identifier`, `nom`, …), cheaper for thousands of accounts. Each e-mail names the account's
    organisation and establishment; it holds the identifier only with `identifier_by_mail`, else it
    says who hands it over (`identifier_handed_by`, by default the creator).

    With `bulk_path` (files of thousands of accounts) the accounts go through `BulkProvisioner`,
    `BULK_CHUNK` at a time: each table written once per chunk through the database's bulk path
    (`rows.copy_rows`: PostgreSQL COPY, SQLite one executemany), ids reserved beforehand instead of
    read back, passwords hashed by a child process; the rows written are the same.
    """
    from cpf_tui.services.rows import insert_rows
    from models import Account, AccountStatus

    total = len(specs)
    if total == 0:
        return []
    if bulk_path:
        records: list[SimpleNamespace] = []
        record_hashes: list[str] = []
        async with BulkProvisioner(
            expected=total, created_by=created_by, ctx=ctx, using_db=using_db, temp_password_days=temp_password_days,
            audit_action=audit_action, progress=progress, identifier_by_mail=identifier_by_mail,
            identifier_handed_by=identifier_handed_by,
        ) as provisioner:
            for start in range(0, total, BULK_CHUNK):
                records.extend(await provisioner.add(specs[start : start + BULK_CHUNK]))
                record_hashes.extend(provisioner.hashes)
        if not as_models:
            return records
        return [
            _saved_account(spec, account, password_hash, provisioner.common, created_by)
            for spec, account, password_hash in zip(specs, records, record_hashes)
        ]
    identifiers = await allocate_identifiers(total, using_db=using_db)
    plain_passwords = [passwords.generate_temporary_password() for _ in range(total)]
    expires_at = clock.now() + timedelta(days=temp_password_days)
    hashes = await _hash_temporary_passwords(plain_passwords)
    common = dict(
        password_is_temporary=True,
        temp_password_expires_at=expires_at,
        created_by_id=created_by.pk if created_by is not None else None,
    )
    created: list[SimpleNamespace] = []
    folded: dict[str, str] = {}
    for start in range(0, total, INSERT_BATCH):
        batch = []
        rows = []
        for spec, identifier, password_hash in zip(
            specs[start : start + INSERT_BATCH],
            identifiers[start : start + INSERT_BATCH],
            hashes[start : start + INSERT_BATCH],
        ):
            account = SimpleNamespace(
                id=None, identifier=identifier, role=spec.role, profile=spec.profile, status=AccountStatus.ACTIVE,
                nom=spec.nom, prenom=spec.prenom, email=spec.email, phone=spec.phone, service=spec.service,
                organisation_id=spec.organisation.pk if spec.organisation is not None else None,
                establishment_id=spec.establishment.pk if spec.establishment is not None else None,
            )
            account.search_text = search_text_of(
                account, spec.establishment.name if spec.establishment else "", folded
            )
            batch.append(account)
            row = vars(account).copy()
            del row["id"], row["status"]
            row["password_hash"] = password_hash
            rows.append(row)
        automatic = await insert_rows(Account, rows, using_db=using_db, common=common, batch_size=INSERT_BATCH)
        ids = dict(
            await Account.filter(identifier__in=[account.identifier for account in batch])
            .using_db(using_db)
            .values_list("identifier", "id")
        )
        for account in batch:
            account.id = account.pk = ids[account.identifier]
            vars(account).update(automatic)
        await outbox.enqueue_rows(
            [
                dict(
                    zip(("subject", "body"), welcome_mail(
                        account, password, expires_at,
                        organisation_name=spec.organisation.raison_sociale if spec.organisation else "",
                        establishment_name=spec.establishment.name if spec.establishment else "",
                        creator=created_by, with_identifier=identifier_by_mail, handed_by=identifier_handed_by,
                    )),
                    to_address=account.email, account_id=account.id,
                )
                for account, password, spec in zip(
                    batch, plain_passwords[start : start + INSERT_BATCH], specs[start : start + INSERT_BATCH]
                )
            ],
            common=dict(kind="account_created", contains_secret=True),
            using_db=using_db,
        )
        await audit.record_many(
            (_created_event(account, audit_action, ctx, created_by) for account in batch),
            using_db=using_db,
            returning=False,
        )
        created.extend(batch)
        if progress is not None:
            for done in range(start + 1, start + len(batch) + 1):
                progress(done, total)
    if not as_models:
        return created
    return [
        _saved_account(spec, account, password_hash, common, created_by)
        for spec, account, password_hash in zip(specs, created, hashes)
    ]


BULK_CHUNK = 2000
"""Accounts written per chunk by `BulkProvisioner` (each table once per chunk): what is held at once."""


class PreparedPasswords:
    """Temporary passwords drawn, and hashed by a child process on the other core, while a file is still
    being checked (`bulk.analyse_workbook(prepare=True)`): the check keeps one core busy, the hashing
    the other, and the import that follows finds its first `LIMIT` passwords ready.

    `request(count)` (on the event loop) draws a batch and sends it to the child, started with the
    first batch; `finish()` ends the child's input once the last batch is sent (the child then ends by
    itself); `take(count)` gives `BulkProvisioner` the next batch, with the future of its hashes, when
    it has exactly `count` passwords (each batch is taken once); `close()` ends and reaps the child.
    """

    LIMIT = 20_000
    """Passwords prepared at most (about 4 MB held with their hashes until the import): memory stays
    flat whatever the size of the file; the accounts after them are hashed during the import."""

    def __init__(self) -> None:
        self.hasher = HashStream(_hash_temporary_passwords)
        self.started: asyncio.Future[HashStream] | None = None
        self.batches: list[tuple[list[str], asyncio.Task[asyncio.Future[list[str]]]]] = []
        self.count = 0
        self.closed = False

    def request(self, count: int) -> None:
        if self.closed or count <= 0 or self.count + count > self.LIMIT:
            return
        if self.started is None:
            # One hashing thread: the check of the file holds the other core.
            self.started = asyncio.ensure_future(self.hasher.start(self.LIMIT, threads=1))
        plain = passwords.generate_temporary_passwords(count)
        self.count += count
        self.batches.append((plain, asyncio.ensure_future(self._submit(plain))))

    async def _submit(self, plain: list[str]) -> asyncio.Future[list[str]]:
        assert self.started is not None
        await self.started
        return await self.hasher.submit(plain)

    async def finish(self) -> None:
        """Every batch requested is sent; the child's input is closed (it ends once they are hashed)."""
        if self.batches:
            await asyncio.gather(*(submitted for _plain, submitted in self.batches))
        self.hasher.end_input()

    def take(self, count: int) -> tuple[list[str], asyncio.Task[asyncio.Future[list[str]]]] | None:
        if self.batches and len(self.batches[0][0]) == count:
            return self.batches.pop(0)
        for _plain, submitted in self.batches:  # out of step with the import's chunks: hashed as usual
            submitted.cancel()
        self.batches.clear()
        return None

    async def close(self) -> None:
        self.closed = True
        for _plain, submitted in self.batches:
            submitted.cancel()
        self.batches.clear()
        if self.started is not None:
            await asyncio.gather(self.started, return_exceptions=True)
        await self.hasher.close()


class BulkProvisioner:
    """`provision_accounts(bulk_path=True)` for accounts given chunk after chunk, in the caller's
    transaction `using_db` (all or nothing is the caller's): memory stays that of one chunk.

    Each `add(specs)` draws the chunk's temporary passwords and sends them to the hashing child (or takes
    the batch `prepared` while the file was checked)
    (`hash_worker.HashStream`, started for `expected` accounts), draws and checks the identifiers,
    reserves the ids, writes the audit events (one per account, chained after the journal's head) while
    the child hashes, then the accounts and their e-mails, one bulk write per table (`rows.copy_rows`:
    PostgreSQL COPY, SQLite one executemany); from `audit_worker.MIN_ACCOUNTS` accounts the events are
    chained by a child process while the accounts and e-mails are written, and written after them, and returns the chunk's records (`id`, `identifier`,
    `nom`, …, `created_at`). `progress(done, total)` is called once per account of a written chunk.
    Use it as an async context manager (the child is ended and reaped on the way out).
    """

    def __init__(
        self,
        *,
        expected: int,
        created_by: Account | None,
        ctx: RequestContext,
        using_db: Any,
        temp_password_days: int = 7,
        audit_action: str = "account.create",
        progress: Callable[[int, int], None] | None = None,
        identifier_by_mail: bool = False,
        identifier_handed_by: str = "",
        prepared: PreparedPasswords | None = None,
    ) -> None:
        self.expected, self.created_by, self.ctx, self.using_db = expected, created_by, ctx, using_db
        self.prepared = prepared
        self.audit_action, self.progress = audit_action, progress
        self.identifier_by_mail, self.identifier_handed_by = identifier_by_mail, identifier_handed_by
        self.expires_at = clock.now() + timedelta(days=temp_password_days)
        self.common: dict[str, Any] = dict(
            password_is_temporary=True,
            temp_password_expires_at=self.expires_at,
            created_by_id=created_by.pk if created_by is not None else None,
        )
        self.expiry_text = format_expiry(self.expires_at)
        self.hasher = HashStream(_hash_temporary_passwords)
        self.chain: audit_worker.ChainProcess | None = None
        """The child chaining the journal events (`audit_worker`), from `MIN_ACCOUNTS` accounts."""
        self.done = 0
        self.hashes: list[str] = []
        """The password hashes of the last chunk added, in order."""
        self.folded: dict[str, str] = {}

    async def __aenter__(self) -> BulkProvisioner:
        from cpf_tui.services import audit_worker

        await self.hasher.start(self.expected - (self.prepared.count if self.prepared is not None else 0))
        if self.expected >= audit_worker.MIN_ACCOUNTS:
            chain = audit_worker.ChainProcess(self.audit_action, self.ctx, self.created_by)
            if await chain.start():
                self.chain = chain
        return self

    async def __aexit__(self, exc_type: object, *_exc: object) -> None:
        try:
            await self.hasher.close()
        finally:
            if self.chain is not None:
                await (self.chain.close() if exc_type is None else self.chain.kill())

    async def add(self, specs: Sequence[AccountSpec]) -> list[SimpleNamespace]:
        from cpf_tui.services.rows import copy_rows, reserve_ids
        from models import Account, AccountStatus

        count = len(specs)
        if count == 0:
            return []
        using_db = self.using_db
        taken = self.prepared.take(count) if self.prepared is not None else None
        if taken is not None:
            plain_passwords, submitted = taken
            hashed = await submitted
        else:
            plain_passwords = passwords.generate_temporary_passwords(count)
            hashed = await self.hasher.submit(plain_passwords)
        identifiers = await allocate_identifiers(count, using_db=using_db)
        ids = await reserve_ids(Account, count, using_db=using_db)
        created: list[SimpleNamespace] = []
        folded = self.folded
        active = AccountStatus.ACTIVE
        for spec, identifier, account_id in zip(specs, identifiers, ids):
            account = SimpleNamespace(
                id=account_id, identifier=identifier, role=spec.role, profile=spec.profile, status=active,
                nom=spec.nom, prenom=spec.prenom, email=spec.email, phone=spec.phone, service=spec.service,
                organisation_id=spec.organisation.pk if spec.organisation is not None else None,
                establishment_id=spec.establishment.pk if spec.establishment is not None else None,
            )
            account.search_text = search_text_of(account, spec.establishment.name if spec.establishment else "", folded)
            account.pk = account_id
            created.append(account)
        created_by, ctx, action = self.created_by, self.ctx, self.audit_action
        # The audit events describe the stored values, which do not depend on the hashes (never journaled):
        # chained by the child while the accounts and e-mails are written, else here.
        chain = self.chain
        if chain is not None:
            await chain.send(using_db, created, [_label(account) for account in created])
        else:
            await audit.record_batch(
                (_created_event(account, action, ctx, created_by) for account in created), using_db=using_db,
            )
        hashes = await hashed

        def account_rows() -> Iterator[dict[str, Any]]:
            for account, password_hash in zip(created, hashes, strict=True):
                row = vars(account).copy()
                del row["status"], row["id"], row["pk"]
                row["password_hash"] = password_hash
                yield row

        automatic = await copy_rows(Account, account_rows(), using_db=using_db, common=self.common, ids=ids)
        for account in created:
            vars(account).update(automatic)
        self.hashes = hashes
        await outbox.enqueue_rows(
            (
                dict(
                    zip(("subject", "body"), welcome_mail(
                        account, password, self.expires_at,
                        organisation_name=spec.organisation.raison_sociale if spec.organisation else "",
                        establishment_name=spec.establishment.name if spec.establishment else "",
                        creator=created_by, with_identifier=self.identifier_by_mail,
                        handed_by=self.identifier_handed_by, expiry_text=self.expiry_text,
                    )),
                    to_address=account.email, account_id=account.id,
                )
                for account, password, spec in zip(created, plain_passwords, specs)
            ),
            common=dict(kind="account_created", contains_secret=True),
            using_db=using_db,
            bulk_path=True,
        )
        if chain is not None:
            await chain.write(using_db)
        if self.progress is not None:
            for done in range(self.done + 1, self.done + count + 1):
                self.progress(done, self.expected)
        self.done += count
        return created


def _saved_account(
    spec: AccountSpec, record: SimpleNamespace, password_hash: str, common: dict[str, Any], created_by: Any
) -> Account:
    """The Account instance of a row `provision_accounts` inserted, as a saved model."""
    from models import Account

    account = Account(
        identifier=record.identifier, role=spec.role, profile=spec.profile, organisation=spec.organisation,
        establishment=spec.establishment, nom=spec.nom, prenom=spec.prenom, email=spec.email, phone=spec.phone,
        service=spec.service, search_text=record.search_text, password_hash=password_hash,
        password_is_temporary=common["password_is_temporary"],
        temp_password_expires_at=common["temp_password_expires_at"], created_by=created_by,
        created_at=record.created_at,
    )
    account.id = record.id
    # What Model.save() records after an INSERT, so that later saves are UPDATEs.
    account._saved_in_db = True  # noqa: SLF001
    account._custom_generated_pk = False  # noqa: SLF001
    return account


async def _hash_temporary_passwords(
    plain_passwords: list[str], progress: Callable[[int, int], None] | None = None
) -> list[str]:
    """The temporary-profile Argon2 hashes of `plain_passwords`, in order, computed by `HASH_WORKERS` threads.

    The event loop only waits meanwhile: Python work running alongside would make the threads queue
    for the GIL after every hash and slow them down several times over. `progress(done, total)` is
    called once per password, on the event loop, as slices complete.
    """
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=min(HASH_WORKERS, len(plain_passwords)), thread_name_prefix="cpf-hash")
    total = len(plain_passwords)
    done = [0]

    def advanced(future: asyncio.Future[list[str]]) -> None:
        if progress is None or future.cancelled() or future.exception() is not None:
            return
        start = done[0]
        done[0] += len(future.result())
        for count in range(start + 1, done[0] + 1):
            progress(count, total)

    futures = []
    for index in range(0, total, HASH_SLICE):
        future = loop.run_in_executor(pool, _hash_all, plain_passwords[index : index + HASH_SLICE])
        future.add_done_callback(advanced)
        futures.append(future)
    try:
        parts = await asyncio.gather(*futures)
    finally:
        # On cancellation, slices not yet started are dropped.
        pool.shutdown(wait=False, cancel_futures=True)
    return [digest for part in parts for digest in part]


def _hash_all(plain_passwords: list[str]) -> list[str]:
    return [passwords.hash_temporary(password) for password in plain_passwords]


async def issue_temporary_password(
    account: Account,
    *,
    ctx: RequestContext,
    using_db: Any,
    temp_password_days: int = 7,
    actor: Account | None = None,
) -> None:
    """Give `account` a new temporary password, end its lockout and open sessions, e-mail it.

    The caller checks permissions and writes the audit event; `actor` is named in the e-mail, which
    never holds the identifier.
    """
    password = passwords.generate_temporary_password()
    expires_at = clock.now() + timedelta(days=temp_password_days)
    account.password_hash = passwords.hash_temporary(password)
    account.password_is_temporary = True
    account.temp_password_expires_at = expires_at
    account.failed_attempts = 0
    account.last_failed_at = None
    account.locked_at = None
    account.credentials_epoch = account.credentials_epoch + 1
    await account.save(
        using_db=using_db,
        update_fields=[
            "password_hash",
            "password_is_temporary",
            "temp_password_expires_at",
            "failed_attempts",
            "last_failed_at",
            "locked_at",
            "credentials_epoch",
        ],
    )
    organisation_name, establishment_name = await _organisation_names(account, using_db)
    subject, body = regenerated_mail(
        account, password, expires_at, actor, organisation_name=organisation_name,
        establishment_name=establishment_name,
    )
    await outbox.enqueue(
        kind="password_regenerated",
        to_address=account.email,
        subject=subject,
        body=body,
        contains_secret=True,
        account_id=account.id,
        using_db=using_db,
    )


async def _organisation_names(account: Any, using_db: Any) -> tuple[str, str]:
    """The raison sociale of the account's organisation and its establishment's name ("" for operators)."""
    from models import Establishment, Organisation

    organisation_name = establishment_name = ""
    if account.organisation_id is not None:
        organisation = await Organisation.get_or_none(id=account.organisation_id, using_db=using_db)
        organisation_name = organisation.raison_sociale if organisation is not None else ""
    if account.establishment_id is not None:
        establishment = await Establishment.get_or_none(id=account.establishment_id, using_db=using_db)
        establishment_name = establishment.name if establishment is not None else ""
    return organisation_name, establishment_name


async def bootstrap_operator(
    *, nom: str, prenom: str, email: str, phone: str = "", ctx: RequestContext, temp_password_days: int = 7
) -> Account:
    """Create a CDC operator from the command line (installation bootstrap), audited as `operator.create`.

    Whoever can run the command on the server already controls the database, so no actor is checked.
    Inputs are validated with French messages; the temporary password only goes to the outbox.
    """
    from cpf_tui.services import validation
    from cpf_tui.services.locking import serialised_transaction
    from models import Profile, Role

    clean_nom = validation.validate_person_name(nom, "Nom")
    clean_prenom = validation.validate_person_name(prenom, "Prénom")
    clean_email = validation.validate_email(email)
    clean_phone = validation.validate_phone(phone, required=False)
    async with serialised_transaction() as conn:
        return await provision_account(
            role=Role.OPERATOR,
            profile=Profile.CLOTURE,
            organisation=None,
            establishment=None,
            nom=clean_nom,
            prenom=clean_prenom,
            email=clean_email,
            phone=clean_phone,
            service="Caisse des dépôts",
            created_by=None,
            ctx=ctx,
            using_db=conn,
            temp_password_days=temp_password_days,
            audit_action="operator.create",
            identifier_by_mail=True,  # nobody created it in the application to hand the identifier over
        )
