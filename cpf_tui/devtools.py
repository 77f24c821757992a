"""Developer commands (`python -m cpf_tui.devtools makemigrations|regenerate-initial|check-migrations`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cpf_tui.db import tortoise_config


async def detect_changes() -> list:
    """Migration writers for model changes not yet covered by the committed migrations."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config, init_connections=False)
        return await MigrationAutodetector(ctx.apps, config["apps"]).changes()


async def make_migrations() -> None:
    for writer in await detect_changes():
        print("Créé :", writer.write())


def regenerate_initial() -> None:
    """Rewrite 0001_initial from the models (allowed only before the first release).

    Hand-written migrations (RunSQL) that follow it are set aside during generation and put back.
    """
    folder = Path(__file__).resolve().parent.parent / "models" / "migrations"
    aside = []
    for path in sorted(folder.glob("0*.py")):
        if path.name == "0001_initial.py":
            path.unlink()
        else:
            target = path.with_suffix(".aside")
            path.rename(target)
            aside.append((target, path))
    try:
        asyncio.run(make_migrations())
    finally:
        for target, path in aside:
            target.rename(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["regenerate-initial"]:
        regenerate_initial()
        return 0
    if args == ["makemigrations"]:
        asyncio.run(make_migrations())
        return 0
    if args == ["check-migrations"]:
        changes = asyncio.run(detect_changes())
        for writer in changes:
            print("Migration manquante :", writer.app_label, writer.name)
        return 1 if changes else 0
    print("usage: python -m cpf_tui.devtools makemigrations|regenerate-initial|check-migrations", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
