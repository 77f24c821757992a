"""Guided training exercises of the sandbox, each checked against the sandbox database.

An exercise is done when the audit journal holds the events it asks for, recorded after the
last `sandbox.build` event (so `cpf-tui demo --reset` starts every trainee from zero).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cpf_tui.services import sandbox

from models import Account, AuditEvent, Organisation

@dataclass(frozen=True)
class Exercise:
    """One task of the kit to practise, with its instructions and its check."""

    id: str
    title: str
    who: str
    steps: tuple[str, ...]
    check: Callable[[int], Awaitable[bool]]


@dataclass(frozen=True)
class ExerciseStatus:
    """An exercise and whether the sandbox shows it done."""

    exercise: Exercise
    done: bool


async def baseline_seq() -> int:
    """Sequence number of the last sandbox build event (0 when the journal has none)."""
    event = await AuditEvent.filter(action="sandbox.build").order_by("-seq").first()
    return event.seq if event else 0


async def _events(after_seq: int, *actions: str) -> list[Any]:
    return await AuditEvent.filter(seq__gt=after_seq, action__in=list(actions), outcome__in=["ok", "success"])


def _field(event: Any, name: str) -> Any:
    return (event.after or {}).get(name) if isinstance(event.after, dict) else None


async def _first_login(after: int) -> bool:
    events = await _events(after, "cgu.accept", "password.change")
    accepted = {e.actor_id for e in events if e.action == "cgu.accept"}
    changed = {e.actor_id for e in events if e.action == "password.change"}
    return bool(accepted & changed)


async def _create_validation_gestionnaire(after: int) -> bool:
    events = await _events(after, "account.create")
    return any(_field(e, "role") == "gestionnaire" and _field(e, "profile") == "validation" for e in events)


async def _regenerate(after: int) -> bool:
    return bool(await _events(after, "account.regenerate_password"))


async def _deactivate(after: int) -> bool:
    return bool(await _events(after, "account.deactivate"))


async def _dossier_lifecycle(after: int) -> bool:
    events = await _events(after, "dossier.create", "dossier.validate", "dossier.close")
    steps: dict[str, set[str]] = {}
    for event in events:
        steps.setdefault(event.target_id, set()).add(event.action)
    return any(actions == {"dossier.create", "dossier.validate", "dossier.close"} for actions in steps.values())


async def _dif(after: int) -> bool:
    return bool(await _events(after, "holder.set_dif"))


async def _bulk(after: int) -> bool:
    return bool(await _events(after, "bulk.import"))


def _pending(role: str) -> str:
    for account in sandbox.training_accounts():
        if account.state == sandbox.STATE_PENDING and account.role_label == role:
            return account.identifier
    return "?"


def _account(role: str, profile: str = "") -> str:
    for account in sandbox.training_accounts():
        if account.state != sandbox.STATE_PENDING and account.role_label == role and (
            not profile or account.profile_label == profile
        ):
            return account.identifier
    return "?"


SAMPLE_BULK_FILE = "habilitation-en-masse-exemple.xlsx"


def exercises() -> list[Exercise]:
    """The exercises, in the order of the kit's steps."""
    principal = _account("Administrateur principal")
    return [
        Exercise(
            "premiere-connexion", "Première connexion : accepter les CGU et changer le mot de passe",
            f"compte {_pending('Administrateur principal')} ou {_pending('Gestionnaire')}",
            ("Connectez-vous avec un compte « première connexion » (touche F3 sur l'écran de connexion).",
             "Lisez puis acceptez les conditions générales d'utilisation.",
             "Choisissez un nouveau mot de passe qui respecte toutes les règles affichées."),
            _first_login,
        ),
        Exercise(
            "creer-gestionnaire", "Créer un gestionnaire avec le profil Validation", f"compte {principal}",
            ("Ouvrez la gestion des utilisateurs depuis l'accueil.",
             "Choisissez un établissement, touche n, remplissez la fiche avec le profil Validation.",
             "Notez l'identifiant attribué : c'est à vous de le transmettre."),
            _create_validation_gestionnaire,
        ),
        Exercise(
            "regenerer", "Régénérer le mot de passe d'un gestionnaire", f"compte {principal}",
            ("Dans la gestion des utilisateurs, sélectionnez un gestionnaire.",
             "Touche r, puis confirmez : un mot de passe temporaire lui est envoyé par courriel."),
            _regenerate,
        ),
        Exercise(
            "desactiver", "Désactiver un compte", f"compte {principal}",
            ("Dans la gestion des utilisateurs, sélectionnez un gestionnaire.",
             "Touche d, puis confirmez : le compte ne peut plus se connecter, son historique est conservé."),
            _deactivate,
        ),
        Exercise(
            "dossier", "Créer, valider et clore un dossier de formation",
            f"compte {_account('Gestionnaire', 'Clôture')} (profil Clôture)",
            ("Ouvrez les dossiers de formation, touche n : créez et enregistrez un dossier.",
             "Validez-le : les heures sont réservées (DIF d'abord, puis CPF).",
             "Clôturez-le en saisissant les heures réellement suivies (avant la date de début, seule une "
             "clôture à 0 h, formation annulée, est possible)."),
            _dossier_lifecycle,
        ),
        Exercise(
            "solde-dif", "Saisir le solde DIF d'un titulaire",
            f"compte {_account('Gestionnaire', 'Consultation')} (profil Consultation)",
            ("Recherchez un titulaire par NIR ou par nom et date de naissance.",
             "Saisissez son solde DIF (120 h au plus) avec la référence du justificatif."),
            _dif,
        ),
        Exercise(
            "import-masse", "Habiliter en masse avec le fichier d'exemple", f"compte {principal}",
            (f"Ouvrez l'habilitation en masse et choisissez le fichier « {SAMPLE_BULK_FILE} »",
             "(dossier de la base de formation). Lisez le rapport, confirmez l'import,",
             "puis notez où est écrit le classeur résultat avec les identifiants."),
            _bulk,
        ),
    ]


async def statuses() -> list[ExerciseStatus]:
    """Every exercise with its state in the open sandbox database."""
    after = await baseline_seq()
    return [ExerciseStatus(exercise, await exercise.check(after)) for exercise in exercises()]


def training_accounts_markdown() -> list[str]:
    """The training accounts as a Markdown table (same columns as the README)."""
    lines = ["| Identifiant | Mot de passe | Rôle | Profil | Organisme | État |", "|---|---|---|---|---|---|"]
    for row in sandbox.training_accounts():
        lines.append(f"| `{row.identifier}` | `{row.password}` | {row.role_label} | {row.profile_label} | "
                     f"{row.organisation} | {row.state} |")
    return lines


def exercise_sheet() -> str:
    """The trainer's exercise sheet, in Markdown (`cpf-tui demo exercises`)."""
    lines = ["# Exercices de formation — espace de gestion CPF", "",
             "Base de formation : `cpf-tui demo` (remise à zéro pour le stagiaire suivant : `cpf-tui demo --reset`).",
             "Dans l'application, F2 affiche ces exercices ; chacun se coche tout seul quand il est fait.", "",
             "## Comptes de formation", "", *training_accounts_markdown(), ""]
    for number, exercise in enumerate(exercises(), start=1):
        lines.append(f"## {number}. {exercise.title}")
        lines.append("")
        lines.append(f"*Avec le {exercise.who}.*")
        lines.append("")
        lines.extend(f"{i}. {step}" for i, step in enumerate(exercise.steps, start=1))
        lines.append("")
    return "\n".join(lines)


async def write_sample_bulk_file(folder: Any, rows: int = 35) -> Any:
    """The sample "Habilitation en masse" workbook of the first training organisation (valid, `rows` people)."""
    import asyncio
    from pathlib import Path

    from cpf_tui.services.bulk import template_data
    from cpf_tui.services.bulk_export import write_template
    from cpf_tui.services.context import RequestContext

    principal = await Account.filter(identifier=_account("Administrateur principal")).first()
    if principal is None or principal.organisation_id is None:
        return None
    organisation = await Organisation.get(id=principal.organisation_id)
    data = await template_data(siret=organisation.siret, ctx=RequestContext(), as_system=True)
    target = Path(folder) / SAMPLE_BULK_FILE

    def build() -> Path:
        from openpyxl import load_workbook

        write_template(target, data)
        workbook = load_workbook(target)
        sheet = workbook["Habilitations"]
        profiles = ["Consultation", "Création", "Validation", "Clôture"]
        for i in range(rows):
            siret, _name = data.establishments[i % len(data.establishments)]
            values = [
                f"Stagiaire{chr(65 + i % 26)}", f"Prénom{chr(65 + (i * 7) % 26)}",
                f"stagiaire.{i + 1:03d}@formation-exemple.fr", f"06 12 34 {10 + i:02d} 56",
                "Gestionnaire" if i % 10 else "Administrateur délégué", profiles[i % 4], siret, "Service formation",
            ]
            # Row by row from the first line under the header, as a person fills it: the template's
            # formatted empty rows would make `append` write after them.
            for column, value in enumerate(values, start=1):
                sheet.cell(row=2 + i, column=column, value=value)
        workbook.save(target)
        return target

    return await asyncio.to_thread(build)


async def prepare_sample_bulk_file(url: str, folder: Any) -> Any:
    """Write the sample bulk workbook next to a freshly built sandbox database at `url`."""
    from tortoise.context import TortoiseContext

    from cpf_tui import db

    async with TortoiseContext() as ctx:
        await db.init_context(ctx, url)
        try:
            return await write_sample_bulk_file(folder)
        finally:
            await ctx.close_connections()
