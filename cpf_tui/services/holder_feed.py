"""The CDC feeds of a real installation: the holder register and the yearly CPF hours.

`import_holders` creates or updates holders by NIR from a holder file; `credit_hours` credits one year
of CPF hours from a file of declared work, with the ledger's own rule (`ledger.acquisition_for_year`).
Both stream the file into a staging table (PostgreSQL: `COPY` with asyncpg's `copy_records_to_table`;
SQLite: batched `executemany`), let the database find the problems across lines, then apply the
whole file with set-based SQL in one transaction, or nothing at all when a line is bad (unless
`ignore_errors`, which applies the good lines). Every problem goes to a report file (line, column,
value, French reason); each run, applied or not, is one audit event with its counts and the file's
SHA-256. Operators run them from their screen; the CLI acts as the system (`as_system=True`).

Staging tables are temporary (per connection): a process killed in the middle leaves nothing behind,
and nothing is applied before the final commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import pickle
import sys
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpf_tui import clock, text
from cpf_tui.errors import Conflict, ValidationError
from cpf_tui.permissions import Capability
from cpf_tui.private_files import open_private
from cpf_tui.services import audit, sessions
from cpf_tui.services.context import RequestContext
from cpf_tui.services.feed_files import (
    FEED_HOLDERS,
    FEED_HOURS,
    HOLDER_COLUMNS,
    HOURS_COLUMNS,
    Batch,
    FeedReader,
    FileRefused,
    LineError,
    RawBatch,
    check_lines,
    line_check,
    write_frame,
)
from cpf_tui.services.ledger import acquisition_for_year, format_hours

BATCH_LINES = 5000
"""Lines read, checked and staged at a time (memory stays flat whatever the file size)."""
SHOWN_ERRORS = 20
"""Errors kept in the result for display; the report file has them all."""
SYSTEM_ACTOR = "cli"
HOLDERS, HOURS = "titulaires", "heures"


def shown(value: object) -> str:
    """Text from a feed file as it may reach a terminal or a report: control and bidi characters escaped."""
    return text.display(value)


@dataclass(frozen=True)
class FeedProgress:
    """Where a run is: `stage` (French), file bytes read out of the file size, data lines read."""

    stage: str
    done: int
    total: int
    lines: int


ProgressCallback = Callable[[FeedProgress], None]


@dataclass
class FeedResult:
    """The outcome of one run, applied or not."""

    kind: str
    filename: str
    sha256: str = ""
    year: int | None = None
    lines: int = 0
    error_count: int = 0
    first_errors: list[LineError] = field(default_factory=list)
    report_path: Path | None = None
    applied: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    credited: int = 0
    credited_minutes: int = 0
    at_ceiling: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.credited

    def summary(self) -> str:
        """One French sentence about the run."""
        name = f"« {shown(self.filename)} »"
        if not self.applied:
            return (f"Fichier {name} refusé : {self.error_count} erreur(s) sur {self.lines} ligne(s), "
                    "rien n'a été modifié.")
        skipped = f" {self.error_count} ligne(s) en erreur ignorée(s)." if self.error_count else ""
        if self.kind == HOLDERS:
            if not self.created and not self.updated:
                return (f"Fichier {name} : aucun changement, les {self.unchanged} titulaire(s) du fichier sont "
                        f"déjà à jour.{skipped}")
            return (f"Fichier {name} : {self.created} titulaire(s) créé(s), {self.updated} mis à jour, "
                    f"{self.unchanged} inchangé(s).{skipped}")
        ceiling = f", {self.at_ceiling} déjà au plafond de 150 h" if self.at_ceiling else ""
        return (f"Fichier {name} : heures CPF {self.year} créditées à {self.credited} titulaire(s) "
                f"({format_hours(self.credited_minutes)} au total){ceiling}.{skipped}")

    def describe(self, path_shown: Callable[[Path], str] = shown) -> list[str]:
        """The summary, the report file (as `path_shown` writes a path) and the first errors, a line each."""
        out = [self.summary()]
        if self.report_path is not None:
            out.append(f"Rapport des erreurs ({self.error_count}) : {path_shown(self.report_path)}")
        out.extend(describe_error(error) for error in self.first_errors)
        if self.error_count > len(self.first_errors):
            out.append(f"… et {self.error_count - len(self.first_errors)} autre(s) erreur(s) dans le rapport.")
        return out


def describe_error(error: LineError) -> str:
    """One error as a French line: "Ligne 12, colonne NIR (« … ») : reason"."""
    where = f"Ligne {error.line}" + (f", colonne {error.column}" if error.column else "")
    value = f" (« {shown(error.value)} »)" if error.value else ""
    return f"{where}{value} : {error.reason}"


# -- SQL helpers -------------------------------------------------------------------------------------
def _is_sqlite(conn: Any) -> bool:
    return bool(conn.capabilities.dialect == "sqlite")


def _sql(conn: Any, statement: str) -> str:
    """`$1` placeholders become `?1` on SQLite (numbered parameters there too)."""
    return statement.replace("$", "?") if _is_sqlite(conn) else statement


async def _execute(conn: Any, statement: str, params: list[Any] | None = None) -> int:
    """Run one statement; the number of rows it changed."""
    if _is_sqlite(conn):
        count, _rows = await conn.execute_query(_sql(conn, statement), params or [])
        return int(count)
    async with conn.acquire_connection() as raw:
        status = await raw.execute(statement, *(params or []))
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def _rows(conn: Any, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    if _is_sqlite(conn):
        _count, rows = await conn.execute_query(_sql(conn, statement), params or [])
        return [tuple(row) for row in rows]
    async with conn.acquire_connection() as raw:
        return [tuple(row) for row in await raw.fetch(statement, *(params or []))]


async def _value(conn: Any, statement: str, params: list[Any] | None = None) -> Any:
    rows = await _rows(conn, statement, params)
    return rows[0][0] if rows else None


class _Staging:
    """The temporary staging and error tables of one run, on the run's connection."""

    ERROR_COLUMNS = ("line_no", "col", "val", "reason")

    def __init__(self, conn: Any, columns: list[tuple[str, str, str]]) -> None:
        self.conn = conn
        self.sqlite = _is_sqlite(conn)
        suffix = uuid.uuid4().hex[:12]
        self.table = f"feed_stage_{suffix}"
        self.errors = f"feed_errors_{suffix}"
        self.gains = f"feed_gains_{suffix}"
        self.joined = f"feed_joined_{suffix}"
        self.credited = f"feed_credited_{suffix}"
        self.duplicates_possible = True
        """False once a unique index on the staged NIRs could be built: no NIR twice in the file."""
        self.has_joined = False
        """True once the lines are joined to their holders (`join_holders`, the hours feed)."""
        self.columns = columns
        """(name, PostgreSQL type, SQLite type) of each staged column, line number first."""

    def _create(self, name: str, columns: list[tuple[str, str, str]]) -> str:
        body = ", ".join(f"{col} {sqlite_type if self.sqlite else pg_type}" for col, pg_type, sqlite_type in columns)
        tail = "" if self.sqlite else " ON COMMIT DROP"
        return f"CREATE TEMP TABLE {name} ({body}){tail}"

    async def create(self) -> None:
        await _execute(self.conn, self._create(self.table, self.columns))
        await _execute(self.conn, self._create(self.errors, [
            ("line_no", "integer", "INTEGER"), ("col", "text", "TEXT"), ("val", "text", "TEXT"),
            ("reason", "text", "TEXT"),
        ]))

    async def index(self) -> None:
        """The staging table's NIR index, built once the file is staged (one sort, rather than a
        B-tree kept up to date row by row while loading). It is first tried unique: when it can be
        built, no NIR is twice in the file and the search for duplicates is skipped (0.6 s for
        1,000,000 lines on PostgreSQL). On PostgreSQL the attempt runs under a savepoint, since a
        failed statement would otherwise end the run's transaction."""
        from tortoise.exceptions import IntegrityError

        savepoint = not self.sqlite
        if savepoint:
            await _execute(self.conn, "SAVEPOINT feed_unique_nir")
        try:
            await _execute(self.conn, f"CREATE UNIQUE INDEX {self.table}_nir ON {self.table} (nir)")
        except Exception as exc:
            if not _is_unique_violation(exc, IntegrityError):
                raise
            if savepoint:
                await _execute(self.conn, "ROLLBACK TO SAVEPOINT feed_unique_nir")
        else:
            self.duplicates_possible = False
            if savepoint:
                await _execute(self.conn, "RELEASE SAVEPOINT feed_unique_nir")
            return
        await _execute(self.conn, f"CREATE INDEX {self.table}_nir ON {self.table} (nir)")

    async def drop(self) -> None:
        """Drop the tables (SQLite; on PostgreSQL they go with the transaction)."""
        if self.sqlite:
            for name in (self.table, self.errors, self.gains, self.joined):
                await self.conn.execute_script(f"DROP TABLE IF EXISTS temp.{name}")

    async def add(self, rows: list[tuple[Any, ...]], errors: list[LineError]) -> None:
        error_rows = [(e.line, e.column, e.value, e.reason) for e in errors]
        names = [name for name, _pg, _sqlite in self.columns]
        if self.sqlite:
            if rows:
                marks = ", ".join("?" for _ in names)
                # The parser gave SQLite's values already (dates as ISO text): the rows go as they are.
                await self.conn.execute_many(f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({marks})", rows)
            if error_rows:
                await self.conn.execute_many(f"INSERT INTO {self.errors} VALUES (?, ?, ?, ?)", error_rows)
            return
        async with self.conn.acquire_connection() as raw:
            if rows:
                await raw.copy_records_to_table(self.table, records=rows, columns=names)
            if error_rows:
                await raw.copy_records_to_table(self.errors, records=error_rows, columns=list(self.ERROR_COLUMNS))

    async def add_duplicate_errors(self, label: str) -> None:
        """Every line whose NIR appears more than once in the file is an error (which one is right?)."""
        if not self.duplicates_possible:
            return
        await _execute(self.conn, (
            f"INSERT INTO {self.errors} (line_no, col, val, reason) "
            f"SELECT s.line_no, $1, s.nir, 'NIR présent ' || d.n || ' fois dans le fichier (lignes ' || d.first_line "
            f"|| ' et suivantes).' FROM {self.table} s JOIN (SELECT nir, COUNT(*) AS n, MIN(line_no) AS first_line "
            f"FROM {self.table} GROUP BY nir HAVING COUNT(*) > 1) d ON d.nir = s.nir"
        ), [label])

    async def analyse(self, *tables: str) -> None:
        """PostgreSQL never gathers statistics on temporary tables by itself: without them the joins of
        the apply step are planned as nested loops over a million rows. The holder table too, at the
        apply step: right after a large holder file autovacuum has not analysed it yet, and an hours
        file of 1,000,000 lines was planned as a nested loop (77,532 holders estimated instead of
        1,000,000: 571 s). A sample of the table; its lock (until the run commits) stops only another
        run's ANALYZE, VACUUM or schema change, never reads or writes."""
        if not self.sqlite:
            for name in tables or (self.table, self.errors):
                await _execute(self.conn, f"ANALYZE {name}")

    async def error_count(self) -> int:
        return int(await _value(self.conn, f"SELECT COUNT(*) FROM {self.errors}") or 0)

    async def drop_error_lines(self) -> None:
        for name in (self.table, *([self.joined] if self.has_joined else [])):
            await _execute(self.conn, f"DELETE FROM {name} WHERE line_no IN (SELECT line_no FROM {self.errors})")

    async def join_holders(self) -> None:
        """The staged lines with their holder's id and CPF hours acquired (NULL: no holder has the NIR),
        read once by NIR: the later statements of the hours feed join by id."""
        body = (f"SELECT s.line_no, s.nir, s.ratio, h.id AS holder_id, h.cpf_acquired_minutes AS acquired "
                f"FROM {self.table} s LEFT JOIN holder h ON h.nir = s.nir")
        tail = "" if self.sqlite else " ON COMMIT DROP"
        await _execute(self.conn, f"CREATE TEMP TABLE {self.joined}{tail} AS {body}")
        self.has_joined = True
        await self.analyse(self.joined)

    async def staged_count(self) -> int:
        return int(await _value(self.conn, f"SELECT COUNT(*) FROM {self.table}") or 0)

    async def write_report(self, path: Path, limit: int) -> list[LineError]:
        """Write every error, by line, to `path` (CSV, `;`); the first `limit` errors are returned."""
        first: list[LineError] = []
        after: tuple[int, str, str] = (-1, "", "")
        with open_private(path, encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";", lineterminator="\n")
            writer.writerow(["ligne", "colonne", "valeur", "motif"])
            while True:
                chunk = await _rows(self.conn, (
                    f"SELECT line_no, col, val, reason FROM {self.errors} "
                    f"WHERE (line_no, col, reason) > ($1, $2, $3) ORDER BY line_no, col, reason LIMIT 10000"
                ), list(after))
                if not chunk:
                    break
                for line_no, col, val, reason in chunk:
                    writer.writerow([line_no, _cell(col), _cell(val), _cell(reason)])
                    if len(first) < limit:
                        first.append(LineError(int(line_no), col or "", val or "", reason))
                after = (int(chunk[-1][0]), chunk[-1][1], chunk[-1][3])
        return first


def _cell(value: Any) -> str:
    """A report cell: control and bidi characters escaped, never a spreadsheet formula."""
    out = shown(value or "")
    return "'" + out if out.startswith(("=", "+", "-", "@")) else out


SQLITE_CACHE_KIB = 16384
"""SQLite page cache (KiB, main and temporary databases) during a run: the holder table's indexes and
the staging table stay in memory while a file is applied, rather than pages going back and forth to
the write-ahead log (16 MiB each at most, given back when the run ends; 64 MiB saved no more CPU and
would take the peak memory of a 1,000,000-line run past 200 MB)."""


PG_RUN_MEMORY = (("work_mem", "128MB"), ("maintenance_work_mem", "256MB"))
"""PostgreSQL memory of one run's sorts and hashes (its transaction only, SET LOCAL): with the server's
defaults (4 MB, 64 MB) the search for NIRs twice in a 1,000,000-line file and the joins of the hours
feed spilled to disk, and the staging index was sorted in pieces."""


@asynccontextmanager
async def _run_connection(sqlite: bool) -> AsyncIterator[Any]:
    """The connection of a run: on PostgreSQL one transaction for staging and applying (temporary tables
    die with it); on SQLite the plain connection, so that staging does not hold the writer lock."""
    from tortoise.transactions import _get_connection

    from cpf_tui.services.locking import serialised_transaction

    if sqlite:
        conn = _get_connection(None)
        before = [await _value(conn, f"PRAGMA {schema}.cache_size") for schema in ("main", "temp")]
        for schema in ("main", "temp"):
            await _execute(conn, f"PRAGMA {schema}.cache_size = -{SQLITE_CACHE_KIB}")
        try:
            yield conn
        finally:
            for schema, size in zip(("main", "temp"), before):
                await _execute(conn, f"PRAGMA {schema}.cache_size = {int(size)}")
        return
    async with serialised_transaction() as conn:
        for setting, value in PG_RUN_MEMORY:
            await _execute(conn, f"SET LOCAL {setting} = '{value}'")
        yield conn


@asynccontextmanager
async def _apply_transaction(conn: Any) -> AsyncIterator[Any]:
    """The transaction in which problems across lines are found and the file applied (writer lock)."""
    from cpf_tui.services.locking import serialised_transaction

    if _is_sqlite(conn):
        async with serialised_transaction() as tx:
            yield tx
    else:
        yield conn


class _Rejected(Exception):
    """Raised inside the run's transaction so that nothing stays applied."""


def report_path_for(folder: Path, kind: str) -> Path:
    stamp = clock.file_stamp()
    candidate = folder / f"rapport-{kind}-{stamp}.csv"
    counter = 2
    while candidate.exists():
        candidate = folder / f"rapport-{kind}-{stamp}-{counter}.csv"
        counter += 1
    return candidate


# -- line checks in a child process ------------------------------------------------------------------
BATCHES_AHEAD = 2
"""Raw batches sent to the checking process before its first answer is read: it checks while this
process reads the file and writes the database; memory stays at a few batches."""


class CheckWorker:
    """The line checks of a run, in a child process (`python -m cpf_tui.services.feed_files`) on the
    other core while this process reads the file and writes the database.

    Batches go in and come back in order, as length-prefixed pickles on the child's pipes (its parent's
    data only). The child ends when its input ends: `close()` (or this process dying, kill -9 included)
    closes the pipe; `close()` also kills it if needed and reaps it. `start()` gives None when no process
    can be started; a failed child is reported by `receive()` giving None: the caller then checks the
    batches in this process, with the same function (`feed_files.check_lines`).
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, kind: str, argument: str, dates_as_text: bool) -> CheckWorker | None:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cpf_tui.services.feed_files", kind, argument, "1" if dates_as_text else "0",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return None
        return cls(process)

    def send(self, raw: RawBatch) -> None:
        """Queue a batch for the child (never waits: at most BATCHES_AHEAD batches are in flight)."""
        assert self.process.stdin is not None
        frame = io.BytesIO()
        write_frame(frame, raw)
        self.process.stdin.write(frame.getvalue())

    async def receive(self) -> Batch | None:
        """The next batch checked, or None when the child failed."""
        assert self.process.stdout is not None
        try:
            size = int.from_bytes(await self.process.stdout.readexactly(8), "big")
            batch = pickle.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError, EOFError):
            return None
        return batch if isinstance(batch, Batch) else None

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


async def _checked_batches(
    reader: FeedReader, kind: str, argument: str, sqlite: bool
) -> AsyncGenerator[Batch, None]:
    """The file's batches, checked, in order, on both cores: each batch read goes to a `CheckWorker`
    (when the file has more than one batch) while it has fewer than BATCHES_AHEAD in flight, else to a
    thread of this process when none is checking there: the child is kept busy on the other core, and
    this process checks too between its own work (reading, staging). When the child fails, its batches
    are checked here."""
    check = line_check(kind, argument, sqlite)
    width = len(reader.columns)

    async def read() -> RawBatch:
        return await asyncio.to_thread(reader.next_raw_batch, BATCH_LINES)

    def check_here(raw: RawBatch) -> asyncio.Future[Batch]:
        return asyncio.ensure_future(asyncio.to_thread(check_lines, raw, check, width))

    first = await read()
    worker = None if first.eof else await CheckWorker.start(kind, argument, sqlite)
    # The next raw batch is read in a thread while batches are checked and staged (a read may wait on a
    # pipe: checked batches are taken meanwhile).
    first_read: asyncio.Future[RawBatch] = asyncio.get_running_loop().create_future()
    first_read.set_result(first)
    reading: asyncio.Future[RawBatch] | None = first_read
    pending: deque[tuple[RawBatch, asyncio.Future[Batch] | None]] = deque()
    """Batches being checked, in the file's order: by a thread here (its future), or by the child (None)."""

    async def next_raw() -> RawBatch:
        nonlocal reading
        assert reading is not None
        raw = await reading
        reading = None if raw.eof else asyncio.ensure_future(read())
        return raw

    receiving: asyncio.Future[Batch | None] | None = None
    """The child's next answer being read (the batch first in `pending` is the child's)."""

    def here_busy() -> bool:
        return any(future is not None and not future.done() for _raw, future in pending)

    def child_free() -> bool:
        return worker is not None and sum(future is None for _raw, future in pending) < BATCHES_AHEAD

    def can_take() -> bool:
        return child_free() or not here_busy()

    try:
        while True:
            if reading is not None and (reading.done() or not pending) and can_take():
                raw = await next_raw()
                if child_free():
                    assert worker is not None
                    worker.send(raw)
                    pending.append((raw, None))
                else:
                    pending.append((raw, check_here(raw)))
                continue
            if not pending:
                return
            raw, future = pending[0]
            if future is None and receiving is None:
                assert worker is not None
                receiving = asyncio.ensure_future(worker.receive())
            head = future if future is not None else receiving
            assert head is not None
            if not head.done() and reading is not None and can_take():
                # a batch read meanwhile goes to whichever is free
                await asyncio.wait({head, reading}, return_when=asyncio.FIRST_COMPLETED)
                continue
            pending.popleft()
            if future is not None:
                yield await future
                continue
            batch, receiving = await head, None
            if batch is None:  # the child failed: its batches are checked here
                assert worker is not None
                await worker.close()
                worker = None
                pending.appendleft((raw, None))
                pending = deque((raw, check_here(raw) if future is None else future) for raw, future in pending)
                continue
            yield batch
    finally:
        if worker is not None:
            await worker.close()
        await asyncio.gather(*(future for _raw, future in pending if future is not None),
                             *([receiving] if receiving is not None else []), return_exceptions=True)
        if reading is not None:  # a failure while staging: the reading thread ends its batch first
            await asyncio.gather(reading, return_exceptions=True)


# -- the two feeds -----------------------------------------------------------------------------------
HOLDER_STAGE = [
    ("line_no", "integer", "INTEGER"), ("nir", "varchar(15)", "TEXT"), ("nom_naissance", "text", "TEXT"),
    ("nom_usage", "text", "TEXT"), ("prenoms", "text", "TEXT"), ("date_naissance", "date", "TEXT"),
    ("email", "text", "TEXT"), ("mobile", "text", "TEXT"), ("search_name", "text", "TEXT"),
    ("search_usage", "text", "TEXT"),
]
HOURS_STAGE = [("line_no", "integer", "INTEGER"), ("nir", "varchar(15)", "TEXT"), ("ratio", "integer", "INTEGER")]


async def import_holders(
    path: str | Path,
    *,
    ctx: RequestContext,
    report_dir: Path,
    as_system: bool = False,
    ignore_errors: bool = False,
    progress: ProgressCallback | None = None,
) -> FeedResult:
    """Create or update holders by NIR from a holder file; the same file twice changes nothing.

    An empty e-mail or phone in the file keeps the stored one (a gestionnaire may have entered it).
    """
    return await _run(
        HOLDERS, path, ctx=ctx, report_dir=report_dir, as_system=as_system, ignore_errors=ignore_errors,
        progress=progress, columns=HOLDER_COLUMNS, stage_columns=HOLDER_STAGE,
        check=(FEED_HOLDERS, clock.now().date().isoformat()), year=None,
    )


def check_year(year: int) -> int:
    """The year fed: from 2015 (start of the CPF) to the current year, never in the future."""
    current = clock.now().year
    if year > current:
        raise ValidationError(f"Année {year} dans le futur : les heures d'une année se créditent une fois "
                              f"l'année travaillée ({current} au plus tard).")
    if year < 2015:
        raise ValidationError(f"Année {year} : le compte personnel de formation existe depuis 2015.")
    return year


async def credit_hours(
    path: str | Path,
    *,
    year: int,
    ctx: RequestContext,
    report_dir: Path,
    as_system: bool = False,
    ignore_errors: bool = False,
    progress: ProgressCallback | None = None,
) -> FeedResult:
    """Credit one year of CPF hours to each holder of a declared-work file, never twice for a year."""
    check_year(year)
    return await _run(
        HOURS, path, ctx=ctx, report_dir=report_dir, as_system=as_system, ignore_errors=ignore_errors,
        progress=progress, columns=HOURS_COLUMNS, stage_columns=HOURS_STAGE, check=(FEED_HOURS, str(year)), year=year,
    )


async def _run(
    kind: str,
    path: str | Path,
    *,
    ctx: RequestContext,
    report_dir: Path,
    as_system: bool,
    ignore_errors: bool,
    progress: ProgressCallback | None,
    columns: Any,
    stage_columns: list[tuple[str, str, str]],
    check: tuple[str, str],
    year: int | None,
) -> FeedResult:
    from tortoise.exceptions import IntegrityError
    from tortoise.transactions import _get_connection

    actor = None if as_system else await sessions.require(ctx, Capability.HOLDER_FEED)
    reader = FeedReader(path, columns)
    result = FeedResult(kind=kind, filename=reader.filename, year=year)
    report_path = report_path_for(Path(report_dir).expanduser(), kind)

    def tell(stage: str) -> None:
        if progress is not None:
            progress(FeedProgress(stage, reader.bytes_read, reader.size, result.lines))

    try:
        try:
            reader.read_header()
        except FileRefused as refused:
            result.sha256 = reader.sha256()
            result.error_count, result.first_errors = 1, [refused.error]
            _write_refusal(report_path, refused.error)
            result.report_path = report_path
            await _audit(kind, result, ctx, actor, ignore_errors)
            return result
        sqlite = _is_sqlite(_get_connection(None))
        try:
            async with _run_connection(sqlite) as run_conn:
                staging = _Staging(run_conn, stage_columns)
                await staging.create()
                try:
                    async with contextlib.aclosing(_checked_batches(reader, *check, sqlite)) as batches:
                        async for batch in batches:
                            result.lines += batch.lines
                            await staging.add(batch.rows, batch.errors)
                            tell("Lecture")
                    result.sha256 = reader.sha256()
                    tell("Contrôle")
                    await staging.index()
                    await staging.analyse()
                    async with _apply_transaction(run_conn) as conn:
                        staging.conn = conn
                        await staging.add_duplicate_errors("NIR")
                        if kind == HOURS:
                            await staging.join_holders()
                            await _hours_errors(staging, year or 0)
                        result.error_count = await staging.error_count()
                        if result.lines == 0:
                            await staging.add([], [LineError(2, "", "", "aucune ligne de données après l'en-tête.")])
                            result.error_count = 1
                        if result.error_count:
                            result.first_errors = await staging.write_report(report_path, SHOWN_ERRORS)
                            result.report_path = report_path
                            if not ignore_errors:
                                raise _Rejected
                            await staging.drop_error_lines()
                            if not await staging.staged_count():
                                raise _Rejected
                        tell("Application")
                        await staging.analyse("holder")
                        if kind == HOLDERS:
                            await _apply_holders(staging, result)
                        else:
                            await _apply_hours(staging, result, year or 0)
                        result.applied = True
                        await _audit(kind, result, ctx, actor, ignore_errors, using_db=conn)
                finally:
                    staging.conn = run_conn
                    await staging.drop()
        except _Rejected:
            result.applied = False
            await _audit(kind, result, ctx, actor, ignore_errors)
        except Exception as exc:
            if not _is_unique_violation(exc, IntegrityError):
                raise
            raise Conflict("Un autre traitement vient de modifier les mêmes titulaires ou heures : rien n'a été "
                           "modifié, relancez l'alimentation.") from None
    finally:
        reader.close()
    tell("Terminé")
    return result


def _is_unique_violation(exc: BaseException, orm_error: type[BaseException]) -> bool:
    """A uniqueness rule hit by another writer: Tortoise's IntegrityError (SQLite), asyncpg's own (PostgreSQL)."""
    return isinstance(exc, orm_error) or type(exc).__name__ in ("UniqueViolationError", "IntegrityError")


def _write_refusal(path: Path, error: LineError) -> None:
    with open_private(path, encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(["ligne", "colonne", "valeur", "motif"])
        writer.writerow([error.line, _cell(error.column), _cell(error.value), _cell(error.reason)])


async def _audit(
    kind: str, result: FeedResult, ctx: RequestContext, actor: Any, ignore_errors: bool, using_db: Any = None
) -> None:
    """One event per run, applied or refused: counts and the file's hash, never its content."""
    after: dict[str, Any] = {
        "filename": shown(result.filename)[:200], "file_sha256": result.sha256, "lines": result.lines,
        "errors": result.error_count, "ignore_errors": ignore_errors, "applied": result.applied,
    }
    if kind == HOLDERS:
        after.update(created=result.created, updated=result.updated, unchanged=result.unchanged)
    else:
        after.update(year=result.year, credited=result.credited, credited_minutes=result.credited_minutes,
                     at_ceiling=result.at_ceiling)
    await audit.record(
        "holder.feed" if kind == HOLDERS else "holder.hours_feed",
        ctx=ctx, actor=actor, actor_identifier="" if actor is not None else SYSTEM_ACTOR,
        target_type="fichier", target_id=result.sha256[:16], target_label=shown(result.filename)[:200],
        after=after, outcome="ok" if result.applied else "failure", using_db=using_db,
    )


async def _hours_errors(staging: _Staging, year: int) -> None:
    """Problems only the database knows (the lines joined to their holders first): unknown NIR, year
    already credited to the holder."""
    joined, errors = staging.joined, staging.errors
    await _execute(staging.conn, (
        f"INSERT INTO {errors} (line_no, col, val, reason) SELECT j.line_no, 'NIR', j.nir, "
        f"'aucun titulaire n''a ce NIR : chargez d''abord le fichier des titulaires.' FROM {joined} j "
        f"WHERE j.holder_id IS NULL"
    ))
    await _execute(staging.conn, (
        f"INSERT INTO {errors} (line_no, col, val, reason) SELECT j.line_no, 'année', $1, "
        f"'heures CPF ' || $1 || ' déjà créditées à ce titulaire : une année ne se crédite qu''une fois.' "
        f"FROM {joined} j JOIN hours_movement m ON m.holder_id = j.holder_id "
        f"AND m.kind = 'cpf_acquisition' AND m.reference_year = $2"
    ), [str(year), year])


async def _apply_holders(staging: _Staging, result: FeedResult) -> None:
    conn, table = staging.conn, staging.table
    staged = await staging.staged_count()
    keep_email = "CASE WHEN s.email = '' THEN h.email ELSE s.email END"
    keep_mobile = "CASE WHEN s.mobile = '' THEN h.mobile ELSE s.mobile END"
    changed = (
        f"(h.nom_naissance <> s.nom_naissance OR h.nom_usage <> s.nom_usage OR h.prenoms <> s.prenoms "
        f"OR h.date_naissance <> s.date_naissance OR h.email <> {keep_email} OR h.mobile <> {keep_mobile})"
    )
    if staging.sqlite:
        # SQLite's UPDATE … FROM may not name the target table with an alias.
        keep_email = keep_email.replace("h.", "holder.")
        keep_mobile = keep_mobile.replace("h.", "holder.")
        result.updated = await _execute(conn, (
            f"UPDATE holder SET nom_naissance = s.nom_naissance, nom_usage = s.nom_usage, prenoms = s.prenoms, "
            f"date_naissance = s.date_naissance, email = {keep_email}, mobile = {keep_mobile}, "
            f"search_name = s.search_name, search_usage = s.search_usage, version = holder.version + 1 "
            f"FROM {table} s WHERE holder.nir = s.nir AND {changed.replace('h.', 'holder.')}"
        ))
    else:
        result.updated = await _execute(conn, (
            f"UPDATE holder AS h SET nom_naissance = s.nom_naissance, nom_usage = s.nom_usage, prenoms = s.prenoms, "
            f"date_naissance = s.date_naissance, email = {keep_email}, mobile = {keep_mobile}, "
            f"search_name = s.search_name, search_usage = s.search_usage, version = h.version + 1 "
            f"FROM {table} s WHERE h.nir = s.nir AND {changed}"
        ))
    now = clock.now()
    # In NIR order (the staged NIR index gives it without a sort): the holder's NIR index and the
    # lookups of NOT EXISTS go forward instead of at random (1,000,000 holders on SQLite: 15.8 s -> 9.3 s);
    # holder ids follow the NIRs of the file.
    result.created = await _execute(conn, (
        f"INSERT INTO holder (nir, nom_naissance, nom_usage, prenoms, date_naissance, email, mobile, search_name, "
        f"search_usage, cpf_acquired_minutes, cpf_reserved_minutes, cpf_consumed_minutes, dif_total_minutes, "
        f"dif_reserved_minutes, dif_consumed_minutes, version, created_at) "
        f"SELECT s.nir, s.nom_naissance, s.nom_usage, s.prenoms, s.date_naissance, s.email, s.mobile, "
        f"s.search_name, s.search_usage, 0, 0, 0, 0, 0, 0, 1, $1 FROM {table} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM holder h WHERE h.nir = s.nir) ORDER BY s.nir"
    ), [str(now) if staging.sqlite else now])
    result.unchanged = staged - result.updated - result.created


async def _apply_hours(staging: _Staging, result: FeedResult, year: int) -> None:
    """Credit each staged holder: the gain of each (hours already acquired, ratio) pair is computed once
    by `ledger.acquisition_for_year`, then movements and balances are written set-based, by holder id
    (the lines were joined to their holders once, `_Staging.join_holders`)."""
    conn, joined, gains = staging.conn, staging.joined, staging.gains
    pairs = await _rows(conn, f"SELECT DISTINCT acquired, ratio FROM {joined}")
    gain_rows = [(int(acquired), int(ratio), acquisition_for_year(int(acquired), int(ratio)))
                 for acquired, ratio in pairs]
    await _execute(conn, staging._create(gains, [  # noqa: SLF001 - same module
        ("acquired", "integer", "INTEGER"), ("ratio", "integer", "INTEGER"), ("gain", "integer", "INTEGER"),
    ]))
    if staging.sqlite:
        if gain_rows:
            await conn.execute_many(f"INSERT INTO {gains} VALUES (?, ?, ?)", gain_rows)
        # looked up once per line below (without it, each line scanned the whole table of pairs)
        await _execute(conn, f"CREATE UNIQUE INDEX {gains}_pair ON {gains} (acquired, ratio)")
    elif gain_rows:
        async with conn.acquire_connection() as raw:
            await raw.copy_records_to_table(gains, records=gain_rows, columns=["acquired", "ratio", "gain"])
        await staging.analyse(joined, gains)  # the error lines left the joined table
    credit = (f"FROM {joined} j JOIN {gains} g ON g.acquired = j.acquired AND g.ratio = j.ratio "
              f"WHERE g.gain > 0")
    expected, total = (await _rows(conn, f"SELECT COUNT(*), COALESCE(SUM(g.gain), 0) {credit}"))[0]
    staged = await staging.staged_count()
    now = clock.now()
    reason = f"Acquisition {year} ("
    if staging.sqlite:
        # In holder order: the movement indexes (by holder first) and the holder rows are written in order.
        inserted = await _execute(conn, (
            f"INSERT INTO hours_movement (holder_id, kind, bucket, minutes, reference_year, work_ratio_percent, "
            f"reason, created_at) SELECT j.holder_id, 'cpf_acquisition', 'cpf', g.gain, $1, j.ratio, "
            f"$2 || j.ratio || ' %)', $3 {credit} ORDER BY j.holder_id"
        ), [year, reason, str(now)])
        # The run holds the writer lock, so no balance can move in between; the count is checked anyway.
        updated = await _execute(conn, (
            f"UPDATE holder SET cpf_acquired_minutes = holder.cpf_acquired_minutes + g.gain, "
            f"version = holder.version + 1 {credit.replace('WHERE', 'AND')} "
            f"WHERE holder.id = j.holder_id AND holder.cpf_acquired_minutes = j.acquired"
        ))
    else:
        # The balance update locks each row it changes until the run commits and keeps what it changed;
        # the movements are then written from that, in holder order, so a concurrent change of a
        # balance cannot slip between the two. Two statements rather than one (an UPDATE … RETURNING
        # feeding the INSERT in the same statement): the movements' foreign-key checks on holder rows
        # changed by the same statement took 22.4 s for 1,000,000 lines, 10 s or so in two.
        credited = staging.credited
        await _execute(conn, staging._create(credited, [  # noqa: SLF001 - same module
            ("holder_id", "bigint", "INTEGER"), ("gain", "integer", "INTEGER"), ("ratio", "integer", "INTEGER"),
        ]))
        await _execute(conn, (
            f"WITH changed AS (UPDATE holder AS h SET cpf_acquired_minutes = h.cpf_acquired_minutes + g.gain, "
            f"version = h.version + 1 FROM {joined} j JOIN {gains} g ON g.acquired = j.acquired "
            f"AND g.ratio = j.ratio WHERE h.id = j.holder_id AND h.cpf_acquired_minutes = j.acquired "
            f"AND g.gain > 0 RETURNING h.id AS holder_id, g.gain, j.ratio) "
            f"INSERT INTO {credited} (holder_id, gain, ratio) SELECT holder_id, gain, ratio FROM changed"
        ))
        inserted = await _execute(conn, (
            f"INSERT INTO hours_movement (holder_id, kind, bucket, minutes, reference_year, work_ratio_percent, "
            f"reason, created_at) SELECT holder_id, 'cpf_acquisition', 'cpf', gain, $1, ratio, "
            f"$2 || ratio || ' %)', $3 FROM {credited} ORDER BY holder_id"
        ), [year, reason, now])
        updated = inserted
    if inserted != int(expected) or updated != int(expected):
        raise Conflict("Des soldes d'heures ont changé pendant l'alimentation : rien n'a été modifié, "
                       "relancez-la.")
    result.credited = int(expected)
    result.credited_minutes = int(total)
    result.at_ceiling = staged - result.credited
