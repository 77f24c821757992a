"""Models are imported without Tortoise parsing their source (see models/__init__.py)."""

from __future__ import annotations

import inspect

import pytest
from tortoise.models import Model

import models


def every_model() -> list[type[Model]]:
    return [value for value in vars(models).values()
            if inspect.isclass(value) and issubclass(value, Model) and value is not Model]


def test_every_model_is_listed_and_skips_the_source_parse() -> None:
    found = every_model()
    assert len(found) >= 15
    assert [model.__name__ for model in found if not vars(model).get("_no_comments")] == []


def test_no_model_relies_on_field_comments() -> None:
    """`_no_comments` would drop `#:` comments as field descriptions: none is written."""
    for model in every_model():
        assert "#:" not in inspect.getsource(model), model.__name__


@pytest.mark.parametrize("model", every_model(), ids=lambda model: model.__name__)
def test_table_descriptions_still_come_from_docstrings(model: type[Model]) -> None:
    assert model._meta.table_description == inspect.cleandoc(model.__doc__ or "").split("\n")[0]
