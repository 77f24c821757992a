"""Batched INSERTs of many rows without building Tortoise model instances.

`insert_rows` writes plain dicts of field values with the ORM's own INSERT statement (the one
`Model.bulk_create` uses, with the dialect's placeholders) and converts every value with the field's
own `to_db_value`, exactly as `bulk_create` does; only the model instances are skipped (their
construction, validation and defaults cost more than the INSERT itself for thousands of rows).
Missing fields get their default as `Model.__init__` would give it; `auto_now`/`auto_now_add`
datetimes get the time the ORM gives them.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from types import SimpleNamespace
from typing import Any

_MISSING = object()
INSERT_BATCH = 500
"""Rows per INSERT statement (the same batches as `bulk_create(batch_size=500)`)."""


def _converter(field: Any) -> Callable[[Any], Any]:
    """`field.to_db_value`, with a shortcut for plain strings within a character field's length and a
    memo for enum members and booleans (their conversion only depends on the value)."""
    from tortoise.fields import CharField, DatetimeField, IntField, JSONField, TextField
    from tortoise.fields.data import CharEnumFieldInstance
    from tortoise.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator

    convert = field.to_db_value
    plain_text = (
        isinstance(field, (CharField, TextField))
        and not isinstance(field, CharEnumFieldInstance)
        and all(isinstance(validator, MaxLengthValidator) for validator in field.validators)
    )
    if plain_text:
        limit = getattr(field, "max_length", None) or float("inf")

        def text(value: Any) -> Any:
            if type(value) is str and len(value) <= limit:
                return value
            return convert(value, None)

        return text
    if isinstance(field, JSONField) and type(field).to_db_value is JSONField.to_db_value and not field.validators:
        encode = _json_encoder(field.encoder)

        def json_value(value: Any) -> Any:
            # What to_db_value does with a dict or a list (no validators to run): the field's encoder.
            if type(value) is dict or type(value) is list:
                return encode(value)
            return convert(value, None)

        return json_value
    if isinstance(field, DatetimeField) and type(field).to_db_value is DatetimeField.to_db_value and not field.validators:

        def moment(value: Any) -> Any:
            # An aware datetime is returned as is by to_db_value (auto_now fields are set in `_prepared`).
            if type(value) is datetime and value.tzinfo is not None:
                return value
            return convert(value, None)

        return moment
    bounds = [validator for validator in field.validators if isinstance(validator, (MinValueValidator, MaxValueValidator))]
    if type(field) is IntField and len(bounds) == len(field.validators):
        low = max((v.min_value for v in bounds if isinstance(v, MinValueValidator)), default=-float("inf"))
        high = min((v.max_value for v in bounds if isinstance(v, MaxValueValidator)), default=float("inf"))

        def integer(value: Any) -> Any:
            if type(value) is int and low <= value <= high:
                return value
            return convert(value, None)

        return integer
    memo: dict[Any, Any] = {}

    def other(value: Any) -> Any:
        if isinstance(value, (Enum, bool)):
            key = (type(value), value)
            if key not in memo:
                memo[key] = convert(value, None)
            return memo[key]
        return convert(value, None)

    return other


def is_default_json_encoder(encoder: Callable[[Any], str]) -> bool:
    """Whether a JSON field's `encoder` is Tortoise's default: `json.dumps` with compact separators."""
    return (
        isinstance(encoder, functools.partial)
        and encoder.func is json.dumps
        and not encoder.args
        and encoder.keywords == {"separators": (",", ":")}
    )


def _json_encoder(encoder: Callable[[Any], str]) -> Callable[[Any], str]:
    """`encoder`, or for Tortoise's default (`json.dumps` with compact separators) one reused
    `json.JSONEncoder` with the same options: the same text without building an encoder per value."""
    if is_default_json_encoder(encoder):
        return json.JSONEncoder(separators=(",", ":")).encode
    return encoder


def _default_value(field: Any, name: str) -> Any:
    """What `Model.__init__` puts in a field that was not given (callable defaults are called)."""
    from copy import deepcopy

    default = field.default
    if callable(default):
        return default()
    if default is not None:
        return default if isinstance(default, (int, float, str, bool, bytes)) else deepcopy(default)
    if field.has_db_default():
        return field.get_db_default_value()
    return None


def _prepared(
    model: Any, rows: Sequence[Mapping[str, Any]], using_db: Any, common: Mapping[str, Any] | None
) -> tuple[Any, list[str], Callable[[Mapping[str, Any]], list[Any]], dict[str, Any]]:
    """The executor, the columns (field names, as the ORM's INSERT lists them), a function turning one
    row into its converted values, and the values given to `auto_now`/`auto_now_add` fields."""
    automatic: dict[str, Any] = {}
    common = dict(common or {})
    executor = using_db.executor_class(model=model, db=using_db)
    fields_map = model._meta.fields_map  # noqa: SLF001
    varying_keys = set(rows[0])
    unknown = (varying_keys | set(common)) - set(executor.regular_columns)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown or generated fields {sorted(unknown)}")
    template: list[Any] = []
    varying: list[tuple[int, str, Callable[[Any], Any], bool]] = []
    for index, name in enumerate(executor.regular_columns):
        field = fields_map[name]
        if getattr(field, "auto_now", False) or (
            getattr(field, "auto_now_add", False) and common.get(name, rows[0].get(name)) is None
        ):
            # The ORM's own clock reading, as `to_db_value` does it for a model instance.
            probe = SimpleNamespace(_saved_in_db=False, **{name: None})
            template.append(field.to_db_value(None, probe))
            automatic[name] = getattr(probe, name)
            continue
        if name in varying_keys:
            template.append(None)
            varying.append((index, name, _converter(field), bool(field.null)))
            continue
        value = common[name] if name in common else _default_value(field, name)
        if value is None and not field.null:
            raise ValueError(f"{name} is non nullable field, but null was passed")
        template.append(_converter(field)(value))

    def values_of(row: Mapping[str, Any]) -> list[Any]:
        values = template.copy()
        for index, name, convert, nullable in varying:
            value = row[name]
            if value is None and not nullable:
                raise ValueError(f"{name} is non nullable field, but null was passed")
            values[index] = convert(value)
        return values

    return executor, list(executor.regular_columns), values_of, automatic


async def insert_rows(
    model: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    using_db: Any,
    common: Mapping[str, Any] | None = None,
    batch_size: int = INSERT_BATCH,
) -> dict[str, Any]:
    """INSERT `rows` (dicts of field values, all with the same keys) into `model`'s table on `using_db`.

    `common` holds values shared by every row (converted once). Keys are field names as in
    `Model(...)` for data fields and `<relation>_id` for foreign keys. Ids are not read back.
    Returns the values given to `auto_now`/`auto_now_add` fields (as a saved instance would hold them).
    """
    if not rows:
        return {}
    executor, _columns, values_of, automatic = _prepared(model, rows, using_db, common)
    for start in range(0, len(rows), batch_size):
        await using_db.execute_many(executor.insert_query, [values_of(row) for row in rows[start : start + batch_size]])
    return automatic


def _is_postgres(using_db: Any) -> bool:
    return bool(using_db.capabilities.dialect == "postgres")


async def reserve_ids(model: Any, count: int, *, using_db: Any) -> list[int]:
    """`count` primary keys for new rows of `model`, as the database would give them, so that rows
    written by `copy_rows` are known without reading them back.

    PostgreSQL: drawn from the column's sequence (safe alongside other writers). SQLite: following the
    largest id ever given (AUTOINCREMENT keeps it in `sqlite_sequence`); the caller must hold the
    write lock (`serialised_transaction`'s BEGIN IMMEDIATE) until its rows are written.
    """
    if count <= 0:
        return []
    table = model._meta.db_table  # noqa: SLF001
    pk = model._meta.pk.source_field or model._meta.pk_attr  # noqa: SLF001
    if _is_postgres(using_db):
        found = await using_db.execute_query_dict(
            "SELECT nextval(pg_get_serial_sequence($1, $2)) AS id FROM generate_series(1, $3)",
            [f'"{table}"', pk, count],
        )
        return sorted(int(row["id"]) for row in found)
    _, top = await using_db.execute_query(f'SELECT MAX("{pk}") FROM "{table}"')
    last = int(top[0][0] or 0)
    _, kept = await using_db.execute_query("SELECT seq FROM sqlite_sequence WHERE name = ?", [table])
    if kept:
        last = max(last, int(kept[0][0] or 0))
    return list(range(last + 1, last + 1 + count))


async def copy_rows(
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    using_db: Any,
    common: Mapping[str, Any] | None = None,
    ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """`insert_rows` through the database's bulk path, on the caller's transaction `using_db`:
    PostgreSQL `COPY … FROM STDIN` (asyncpg's `copy_records_to_table`), SQLite one `executemany`.

    Same values as `insert_rows` (same conversions); `ids` (from `reserve_ids`) gives each row its
    primary key, in order (as many ids as rows). `rows` may be a generator: rows are made, converted
    and sent as the driver consumes them, never all held at once. A constraint violation raises
    Tortoise's IntegrityError, as an INSERT would.
    """
    from tortoise.exceptions import IntegrityError

    pending = iter(rows)
    first = next(pending, None)
    if first is None:
        return {}
    executor, columns, values_of, automatic = _prepared(model, [first], using_db, common)
    rows = itertools.chain([first], pending)
    projection = model._meta.fields_db_projection  # noqa: SLF001
    names = [projection[name] for name in columns]
    if ids is not None:
        names.insert(0, model._meta.pk.source_field or model._meta.pk_attr)  # noqa: SLF001
    if _is_postgres(using_db):
        import asyncpg  # type: ignore[import-untyped]

        records = (
            [identifier, *values_of(row)] for identifier, row in zip(ids, rows, strict=True)
        ) if ids is not None else (values_of(row) for row in rows)
        try:
            async with using_db.acquire_connection() as connection:
                await connection.copy_records_to_table(
                    model._meta.db_table, records=records, columns=names  # noqa: SLF001
                )
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(exc) from exc
        return automatic
    # The values are converted as the driver consumes them (COPY's buffers, sqlite3's executemany),
    # never all held at once.
    if ids is None:
        await using_db.execute_many(executor.insert_query, (values_of(row) for row in rows))
        return automatic
    query = 'INSERT INTO "{}" ({}) VALUES ({})'.format(
        model._meta.db_table, ",".join(f'"{name}"' for name in names), ",".join("?" * len(names))  # noqa: SLF001
    )
    await using_db.execute_many(
        query, ([identifier, *values_of(row)] for identifier, row in zip(ids, rows, strict=True))
    )
    return automatic


async def copy_values(model: Any, columns: Sequence[str], values: Iterable[Sequence[Any]], *, using_db: Any) -> None:
    """Rows already converted to database values (`columns`: their fields, in order), written through
    the database's bulk path on the caller's transaction `using_db`, as `copy_rows` writes them."""
    from tortoise.exceptions import IntegrityError

    projection = model._meta.fields_db_projection  # noqa: SLF001
    names = [projection[name] for name in columns]
    table = model._meta.db_table  # noqa: SLF001
    if _is_postgres(using_db):
        import asyncpg

        try:
            async with using_db.acquire_connection() as connection:
                await connection.copy_records_to_table(table, records=values, columns=names)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(exc) from exc
        return
    query = 'INSERT INTO "{}" ({}) VALUES ({})'.format(
        table, ",".join(f'"{name}"' for name in names), ",".join("?" * len(names))
    )
    await using_db.execute_many(query, values)
