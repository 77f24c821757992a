"""Batched INSERTs of many rows without building Tortoise model instances.

`insert_rows` writes plain dicts of field values with the ORM's own INSERT statement (the one
`Model.bulk_create` uses, with the dialect's placeholders) and converts every value with the field's
own `to_db_value`, exactly as `bulk_create` does; only the model instances are skipped (their
construction, validation and defaults cost more than the INSERT itself for thousands of rows).
Missing fields get their default as `Model.__init__` would give it; `auto_now`/`auto_now_add`
datetimes get the time the ORM gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from types import SimpleNamespace
from typing import Any

_MISSING = object()
INSERT_BATCH = 500
"""Rows per INSERT statement (the same batches as `bulk_create(batch_size=500)`)."""


def _converter(field: Any) -> Callable[[Any], Any]:
    """`field.to_db_value`, with a shortcut for plain strings within a character field's length and a
    memo for enum members and booleans (their conversion only depends on the value)."""
    from tortoise.fields import CharField, IntField, TextField
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
    automatic: dict[str, Any] = {}
    common = dict(common or {})
    executor = using_db.executor_class(model=model, db=using_db)
    fields_map = model._meta.fields_map  # noqa: SLF001
    varying_keys = set(rows[0])
    unknown = (varying_keys | set(common)) - set(executor.regular_columns)
    if unknown:
        raise ValueError(f"{model.__name__}: unknown or generated fields {sorted(unknown)}")
    template: list[Any] = []
    varying: list[tuple[int, str, Callable[[Any], Any]]] = []
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
            varying.append((index, name, _converter(field)))
            continue
        value = common[name] if name in common else _default_value(field, name)
        if value is None and not field.null:
            raise ValueError(f"{name} is non nullable field, but null was passed")
        template.append(_converter(field)(value))
    for start in range(0, len(rows), batch_size):
        values_lists = []
        for row in rows[start : start + batch_size]:
            values = template.copy()
            for index, name, convert in varying:
                value = row[name]
                if value is None and not fields_map[name].null:
                    raise ValueError(f"{name} is non nullable field, but null was passed")
                values[index] = convert(value)
            values_lists.append(values)
        await using_db.execute_many(executor.insert_query, values_lists)
    return automatic
