"""The `cpf-tui` command: the bare command opens the application; subcommands call services.

Help texts and errors are in French. Heavy imports happen inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from cpf_tui.errors import CpfError
from cpf_tui.text import display

Handler = Callable[[argparse.Namespace], int]


class FrenchHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout with a French "usage" heading."""

    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)


class FrenchArgumentParser(argparse.ArgumentParser):
    """argparse with French usage errors, section titles and `-h` help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        add_help = kwargs.pop("add_help", True)
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "arguments positionnels"
        self._optionals.title = "options"
        if add_help:
            self.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")

    def error(self, message: str) -> None:  # type: ignore[override]
        translations = {
            "the following arguments are required": "arguments obligatoires manquants",
            "unrecognized arguments": "arguments non reconnus",
            "invalid choice": "choix invalide",
            "expected one argument": "une valeur est attendue",
            "choose from": "valeurs possibles :",
            "argument": "argument",
        }
        for english, french in translations.items():
            message = message.replace(english, french)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {message}\n")


def _parser() -> FrenchArgumentParser:
    parser = FrenchArgumentParser(
        prog="cpf-tui",
        description="Espace privé de gestion du Compte personnel de formation, dans le terminal.",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
    parser.add_argument("--config", metavar="FICHIER", help="fichier de configuration TOML (sinon CPF_TUI_CONFIG)")
    parser.add_argument("--no-mouse", action="store_true", help="ne pas activer la souris (liaisons lentes)")
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE", parser_class=FrenchArgumentParser)

    def add(name: str, help_text: str) -> FrenchArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, add_help=False)
        p.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
        return p

    add("migrate", "appliquer les migrations à la base configurée")
    add("init", "préparer la base configurée : migrations et données de référence (CGU, planning)")
    operator = add("create-operator", "créer un opérateur CDC (démarrage d'une installation)")
    operator.add_argument("--nom", required=True, help="nom de l'opérateur")
    operator.add_argument("--prenom", required=True, help="prénom de l'opérateur")
    operator.add_argument("--email", required=True, help="adresse e-mail (reçoit le mot de passe temporaire)")
    operator.add_argument("--telephone", default="", help="téléphone (facultatif)")
    demo = add("demo", "ouvrir le bac à sable de formation (base distincte, comptes de formation connus)")
    demo.add_argument("--reset", action="store_true", help="recréer la base de formation à son état de départ")
    demo.add_argument("--db", metavar="FICHIER", default="",
                      help="fichier SQLite de formation (par défaut <dossier de données>/sandbox.sqlite3)")
    # Also accepted after `demo` (`cpf-tui demo --no-mouse`); SUPPRESS keeps a top-level --no-mouse.
    demo.add_argument("--no-mouse", action="store_true", default=argparse.SUPPRESS,
                      help="ne pas activer la souris (liaisons lentes)")
    demo.add_argument("--build-only", action="store_true",
                      help="construire (ou mettre à jour) la base de formation sans ouvrir l'application "
                           "(scripts, préparation de plusieurs postes)")
    demo.add_argument("action", nargs="?", choices=["exercises"], metavar="exercises",
                      help="« exercises » : imprimer la fiche d'exercices du formateur (Markdown) sans ouvrir l'application")
    add("config", "afficher la configuration effective (secrets masqués)")
    cgu = add_db_option(add("cgu", "gérer les conditions générales d'utilisation (CGU)"))
    cgu_sub = cgu.add_subparsers(dest="cgu_command", metavar="ACTION", parser_class=FrenchArgumentParser,
                                 required=True)
    cgu_publish = cgu_sub.add_parser(
        "publish", help="publier une nouvelle version des CGU (acceptation redemandée à chaque utilisateur)",
        description="publier une nouvelle version des CGU (acceptation redemandée à chaque utilisateur)",
    )
    cgu_publish.add_argument("file", metavar="FICHIER", help="texte des CGU, encodé en UTF-8")
    add_db_option(cgu_publish, after=True)
    from cpf_tui.ssh_cli import add_ssh_serve_arguments

    add_ssh_serve_arguments(add("ssh-serve", "servir l'application par SSH (une session en terminal par connexion, dépôt de fichiers SFTP)"))
    add_db_option(add("check", "recalculer tous les soldes d'heures à partir des mouvements et signaler les écarts"))
    save = add("sauvegarde", "copier la base SQLite configurée dans un fichier (cohérent pendant que les sessions"
               " écrivent ; PostgreSQL : pg_dump)")
    save.add_argument("file", metavar="FICHIER", help="fichier de sauvegarde à créer (jamais remplacé)")
    restore = add("restauration", "remplacer la base SQLite configurée par une sauvegarde vérifiée (schéma,"
                  " journal d'audit) ; refusé tant que la base est ouverte")
    restore.add_argument("file", metavar="FICHIER", help="fichier écrit par « cpf-tui sauvegarde »")
    mail = add_db_option(add("mail", "gérer la file d'envoi des courriels"))
    mail_sub = mail.add_subparsers(dest="mail_command", metavar="ACTION", parser_class=FrenchArgumentParser,
                                   required=True)
    add_db_option(mail_sub.add_parser("send", help="envoyer les courriels en attente (file d'envoi)",
                                      description="envoyer les courriels en attente (file d'envoi)"), after=True)
    habilitation = add_db_option(add("habilitation", "habilitation en masse par classeur Excel (modèle, import)"))
    habilitation_sub = habilitation.add_subparsers(
        dest="habilitation_command", metavar="ACTION", parser_class=FrenchArgumentParser, required=True
    )
    template = habilitation_sub.add_parser(
        "template", help="écrire le modèle « Habilitation en masse » d'un organisme",
        description="écrire le modèle « Habilitation en masse » d'un organisme",
    )
    template.add_argument("--siret", required=True, help="SIRET de l'organisme")
    add_db_option(template, after=True)
    template.add_argument("-o", "--output", metavar="FICHIER", default="",
                          help="fichier .xlsx à écrire (par défaut dans le dossier de dépôt ou le dossier courant)")
    bulk_import = habilitation_sub.add_parser(
        "import", help="vérifier puis importer un classeur rempli (toutes les erreurs en une fois)",
        description="vérifier puis importer un classeur rempli (toutes les erreurs en une fois)",
    )
    bulk_import.add_argument("file", metavar="FICHIER", help="classeur .xlsx rempli")
    bulk_import.add_argument("--siret", required=True, help="SIRET de l'organisme")
    add_db_option(bulk_import, after=True)
    bulk_import.add_argument("--dry-run", action="store_true", help="vérifier seulement, sans rien créer")
    bulk_import.add_argument("--output-dir", metavar="DOSSIER", default="",
                             help="dossier du classeur de résultat (par défaut dossier de dépôt ou dossier courant)")
    feed_common = FrenchArgumentParser(add_help=False)
    feed_common.add_argument("file", metavar="FICHIER", help="fichier CSV UTF-8 séparé par des points-virgules"
                             " (format : docs/holder-feed.md)")
    feed_common.add_argument("--ignorer-erreurs", action="store_true",
                             help="appliquer les lignes valides et seulement signaler les autres (sinon rien"
                             " n'est appliqué dès qu'une ligne est en erreur)")
    feed_common.add_argument("--rapport", metavar="DOSSIER", default="",
                             help="dossier du rapport des erreurs (par défaut dossier de dépôt ou dossier courant)")
    holders_feed = add("titulaires", "registre des titulaires (alimentation par la Caisse des dépôts)")
    holders_sub = holders_feed.add_subparsers(dest="titulaires_command", metavar="ACTION",
                                              parser_class=FrenchArgumentParser, required=True)
    holders_sub.add_parser("import", parents=[feed_common], help="créer ou mettre à jour les titulaires d'un"
                           " fichier, par NIR (tout ou rien)", description="créer ou mettre à jour les titulaires"
                           " d'un fichier, par NIR (tout ou rien)")
    hours_feed = add("heures", "heures CPF annuelles (alimentation par la Caisse des dépôts)")
    hours_sub = hours_feed.add_subparsers(dest="heures_command", metavar="ACTION",
                                          parser_class=FrenchArgumentParser, required=True)
    credit = hours_sub.add_parser("alimenter", parents=[feed_common], help="créditer les heures CPF d'une année"
                                  " à partir des déclarations (tout ou rien)", description="créditer les heures CPF"
                                  " d'une année à partir des déclarations (tout ou rien)")
    credit.add_argument("--annee", metavar="AAAA", type=int, required=True, help="année de travail déclarée")
    audit_parser = add_db_option(add("audit", "vérifier ou exporter le journal d'audit"))
    audit_sub = audit_parser.add_subparsers(dest="audit_command", metavar="ACTION",
                                            parser_class=FrenchArgumentParser, required=True)
    verify = audit_sub.add_parser("verify", help="vérifier le chaînage du journal (code de sortie 2 si altéré)",
                                  description="vérifier le chaînage du journal et nommer le premier événement"
                                  " modifié ou manquant", add_help=False)
    verify.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
    verify.add_argument("--ancre", "--tete", dest="tete", metavar="N:EMPREINTE",
                        help="ancre relevée par « cpf-tui audit anchor » et gardée hors du serveur (détecte"
                        " les suppressions en fin de journal et une réécriture du journal)")
    add_db_option(verify, after=True)
    add_db_option(audit_sub.add_parser(
        "anchor", help="vérifier le journal puis imprimer son ancre (dernier événement et empreinte)"
        " à garder hors du serveur", description="vérifier le journal puis imprimer son ancre"
        " « N:EMPREINTE », à noter hors du serveur pour « cpf-tui audit verify --ancre »"), after=True)
    export = audit_sub.add_parser("export", help="exporter le journal au format .xlsx",
                                  description="exporter le journal au format .xlsx", add_help=False)
    export.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
    export.add_argument("-o", "--output", metavar="FICHIER.xlsx", help="fichier à écrire (par défaut dans le"
                        " dossier de données, exports/journal-….xlsx)")
    export.add_argument("--acteur", default="", help="identifiant de l'acteur (contient)")
    export.add_argument("--action", default="", help="action (code ou libellé, contient)")
    export.add_argument("--cible", default="", help="cible (libellé ou type contient, ou identifiant exact)")
    export.add_argument("--du", default="", metavar="JJ/MM/AAAA", help="premier jour de la période")
    export.add_argument("--au", default="", metavar="JJ/MM/AAAA", help="dernier jour de la période")
    add_db_option(export, after=True)
    return parser


DB_OPTION_HELP = ("fichier SQLite à utiliser au lieu de la base configurée (par exemple le bac à sable de "
                  "« cpf-tui demo » ; sa clé de journal <nom>-audit.key voisine est alors utilisée)")


def add_db_option(parser: argparse.ArgumentParser, *, after: bool = False) -> argparse.ArgumentParser:
    """`--db FICHIER` on a command that opens a database, like `demo`; `after`: also accepted after the action
    (`cpf-tui audit verify --db x`), without erasing a value given before it."""
    parser.add_argument("--db", dest="database_file", metavar="FICHIER",
                        default=argparse.SUPPRESS if after else "", help=DB_OPTION_HELP)
    return parser


def use_database_file(settings: Any, database_file: str) -> None:
    """Point the settings at an existing SQLite file (`--db`), with the journal key kept next to it if any."""
    from pathlib import Path

    from cpf_tui.errors import ConfigError

    path = Path(database_file).expanduser()
    if not path.is_file():
        raise ConfigError(f"Base introuvable : {path} (--db attend un fichier SQLite existant).")
    settings.database.url = f"sqlite://{path.resolve()}"
    key = path.parent / f"{path.stem}-audit.key"
    if key.is_file():
        settings.audit.key_file = str(key)


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run a coroutine; French errors become a message on stderr and exit code 1."""
    try:
        return asyncio.run(coro)
    except CpfError as exc:
        print(f"Erreur : {display(exc.message, multiline=True)}", file=sys.stderr)
        return 1
    except Exception as exc:
        from cpf_tui.services.locking import is_storage_full

        if not is_storage_full(exc):
            raise
        from cpf_tui.errors import StorageFull

        print(f"Erreur : {StorageFull.MESSAGE}", file=sys.stderr)  # a transaction is whole or absent
        return 1


def _load(args: argparse.Namespace):
    from cpf_tui.config import load_settings

    settings = load_settings(args.config)
    if getattr(args, "no_mouse", False):
        settings.ui.mouse = False
    if getattr(args, "database_file", ""):
        use_database_file(settings, args.database_file)
    return settings


def use_audit_key(settings: Any, *, verifying: bool = False) -> None:
    """Sign the journal with the key named by the settings (created by the first event written when it
    is missing); verify it with that key only (`verifying`: French error when it is missing)."""
    from cpf_tui.services import audit_key

    audit_key.configure(settings, create_missing=not verifying)


async def ensure_audit_key(settings: Any) -> None:
    """Create the journal's key if missing (the database is open), install it, say where it is."""
    from cpf_tui.services import audit_key

    key, created = await audit_key.ensure_key(settings.audit_key_path)
    audit_key.install(key)
    if created:
        print(f"Clé du journal d'audit créée : {key.path} (mode 0600 ; sauvegardez-la à part).")


def has_terminal() -> bool:
    """Whether the application can be drawn: it reads the keyboard on stdin and draws on stderr."""
    import os

    return os.isatty(0) and os.isatty(2)


NO_TERMINAL = (
    "Erreur : cpf-tui a besoin d'un terminal (l'entrée ou la sortie d'erreur n'en est pas un). "
    "Lancez-le depuis un terminal{hint}."
)


def cmd_run(args: argparse.Namespace) -> int:
    from cpf_tui.app import make_app

    from cpf_tui.ssh_env import request_context_from_env

    if not has_terminal():
        print(NO_TERMINAL.format(hint=""), file=sys.stderr)
        return 2
    settings = _load(args)
    app = make_app(settings, request_context=request_context_from_env())
    app.run(mouse=settings.ui.mouse)
    return app.return_code or 0


def cmd_ssh_serve(args: argparse.Namespace) -> int:
    from cpf_tui.ssh_cli import run_ssh_serve

    return run_ssh_serve(args, _load(args))


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui import db

        applied = await db.migrate(settings.database_url)
        if applied:
            for name in applied:
                print(f"Migration appliquée : {name}")
        else:
            print("La base de données est déjà à jour.")
        await db.open_database(settings.database_url)
        try:
            await ensure_audit_key(settings)
        finally:
            await db.close_database()
        return 0

    return run_async(go())


def cmd_init(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui import db
        from cpf_tui.private_files import ensure_private_file, private_dir
        from cpf_tui.services.reference import load_reference_data

        private_dir(settings.data_path, restrict_existing=True)
        url = settings.database_url
        if url.startswith("sqlite://") and ":memory:" not in url:
            ensure_private_file(url[len("sqlite://"):].split("?", 1)[0], restrict_existing=True)
        applied = await db.migrate(settings.database_url)
        for name in applied:
            print(f"Migration appliquée : {name}")
        await db.open_database(settings.database_url)
        try:
            await ensure_audit_key(settings)
            created = await load_reference_data()
        finally:
            await db.close_database()
        print(f"Données de référence : {created['cgu']} version(s) de CGU et {created['planning']} "
              "ligne(s) de planning ajoutées.")
        print("Base prête. Créez le premier opérateur : cpf-tui create-operator --nom … --prenom … --email …")
        return 0

    return run_async(go())


def cmd_create_operator(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui import db
        from cpf_tui.services.context import RequestContext
        from cpf_tui.services.provisioning import bootstrap_operator

        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings)
            account = await bootstrap_operator(
                nom=args.nom, prenom=args.prenom, email=args.email, phone=args.telephone,
                ctx=RequestContext(terminal="cli"), temp_password_days=settings.security.temp_password_days,
            )
        finally:
            await db.close_database()
        print(f"Opérateur CDC créé : {account.prenom} {account.nom}")
        print(f"Identifiant : {account.identifier}")
        print(f"Le mot de passe temporaire part par courriel à {account.email} (cpf-tui mail send).")
        return 0

    return run_async(go())


def sandbox_path(settings: Any, db_option: str) -> Any:
    """The training database file: `--db`, else `<data dir>/sandbox.sqlite3`, never the configured database."""
    from pathlib import Path

    from cpf_tui.errors import ConfigError

    path = Path(db_option).expanduser() if db_option else settings.data_path / "sandbox.sqlite3"
    configured = settings.database_url
    if configured.startswith("sqlite://"):
        if Path(configured[len("sqlite://"):].split("?", 1)[0]).expanduser().resolve() == path.resolve():
            raise ConfigError(f"La base de formation doit être distincte de la base configurée ({path}).")
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    if getattr(args, "action", None) == "exercises":
        from cpf_tui.services.exercises import exercise_sheet

        print(exercise_sheet())
        return 0
    if not args.build_only and not has_terminal():
        # Textual would read end-of-file from /dev/null forever (100 % CPU): refuse before building anything.
        print(NO_TERMINAL.format(hint=" ; pour préparer le bac à sable sans l'ouvrir : cpf-tui demo --build-only"),
              file=sys.stderr)
        return 2
    settings = _load(args)
    path = sandbox_path(settings, args.db)
    url = f"sqlite://{path}"
    # The training journal has a key of its own, next to the training database.
    settings.audit.key_file = str(path.parent / f"{path.stem}-audit.key")

    async def prepare() -> int:
        from cpf_tui import db
        from cpf_tui.services import audit_key
        from cpf_tui.services.sandbox import build_sandbox

        if args.reset or not path.exists():
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"),
                             settings.audit_key_path):
                leftover.unlink(missing_ok=True)
            print(f"Création de la base de formation : {path}")
            audit_key.install(audit_key.create_key(settings.audit_key_path))
            await build_sandbox(url)
            from cpf_tui.services.exercises import prepare_sample_bulk_file

            sample = await prepare_sample_bulk_file(url, path.parent)
            print(f"Fichier d'exemple pour l'habilitation en masse : {sample}")
        else:
            await db.migrate(url)
            await db.open_database(url)
            try:
                await ensure_audit_key(settings)
            finally:
                await db.close_database()
        return 0

    if run_async(prepare()):
        return 1
    if args.build_only:
        print(f"Base de formation prête : {path} (pour l'ouvrir : cpf-tui demo"
              f"{' --db ' + str(path) if args.db else ''}).")
        return 0
    from cpf_tui.app import make_app
    from cpf_tui.services.sandbox import format_training_table

    print(format_training_table())
    settings.sandbox = True
    settings.database.url = url
    # Training never sends real e-mail: messages land in a spool next to the sandbox.
    settings.mail.delivery = "spool"
    settings.mail.spool_dir = str(path.parent / "sandbox-spool")
    from cpf_tui.ssh_env import request_context_from_env

    # Over `ssh-serve`, the SSH user and key reach the sandbox's sessions and audit too.
    app = make_app(settings, request_context=request_context_from_env())
    app.run(mouse=settings.ui.mouse)
    return app.return_code or 0


def cmd_mail(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui import db
        from cpf_tui.services import mail

        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings)
            report = await mail.deliver_pending(settings)
        finally:
            await db.close_database()
        smtp = settings.smtp
        where = settings.spool_path if settings.mail.delivery == "spool" else f"{smtp.host}:{smtp.port}"
        print(f"Envoi des courriels ({settings.mail.delivery} : {where}) : {report.summary()}")
        for error in report.errors:
            print(display(f"Échec : {error}"), file=sys.stderr)
        return 0 if not report.failed else 1

    return run_async(go())


def cmd_config(args: argparse.Namespace) -> int:
    from cpf_tui.config import masked_dict

    settings = _load(args)
    for section, values in masked_dict(settings).items():
        if isinstance(values, dict):
            print(f"[{section}]")
            for key, value in values.items():
                print(f"{key} = {value!r}")
            print()
        else:
            print(f"{section} = {values!r}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui import db
        from cpf_tui.services.ledger import check_ledger

        await db.open_database(settings.database_url)
        try:
            problems = await check_ledger()
        finally:
            await db.close_database()
        for problem in problems:
            print(display(f"Titulaire {problem.nir or problem.holder_id} : {problem.message}"))
        if problems:
            print(f"{len(problems)} incohérence(s) dans les comptes d'heures.", file=sys.stderr)
            return 1
        print("Comptes d'heures cohérents : tous les soldes correspondent aux mouvements.")
        return 0

    return run_async(go())


def cmd_backup(args: argparse.Namespace) -> int:
    from cpf_tui.services import backup

    settings = _load(args)
    try:
        report = backup.backup(settings.database_url, args.file)
    except CpfError as exc:
        print(f"Erreur : {display(exc.message, multiline=True)}", file=sys.stderr)
        return 1
    print(display(report.summary()))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from cpf_tui.services import backup

        use_audit_key(settings, verifying=True)
        report = await backup.restore(settings.database_url, args.file)
        for name in report.migrated:
            print(f"Migration appliquée à la copie : {name}")
        if report.previous is not None:
            print(display(f"Ancienne base gardée : {report.previous}"))
        print(display(f"Base restaurée : {report.target} (journal d'audit intact, {report.audit_events} "
                      "événement(s) vérifié(s))."))
        return 0

    return run_async(go())


def cmd_habilitation(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from pathlib import Path

        from cpf_tui import db
        from cpf_tui.services import bulk
        from cpf_tui.services.context import RequestContext

        ctx = RequestContext(terminal="cli")
        folder = bulk.output_directory(Path.cwd())
        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings)
            if args.habilitation_command == "template":
                target = Path(args.output) if args.output else folder
                path = await bulk.generate_template(
                    target, siret=args.siret, ctx=ctx, as_system=True, bulk=settings.bulk
                )
                print(f"Modèle écrit : {path}")
                return 0
            report = await bulk.analyse_workbook(
                args.file, siret=args.siret, ctx=ctx, as_system=True, bulk=settings.bulk, prepare=not args.dry_run
            )
            for line in report.lines():
                print(display(line))
            if not report.ok:
                return 1
            if args.dry_run:
                print("Vérification seulement (--dry-run) : aucun compte n'a été créé.")
                return 0
            result = await bulk.import_workbook(
                args.file, siret=args.siret, ctx=ctx, as_system=True, bulk=settings.bulk,
                output_dir=Path(args.output_dir) if args.output_dir else folder,
                temp_password_days=settings.security.temp_password_days, expected_sha256=report.sha256,
                report=report,
            )
        except bulk.BulkImportRejected as exc:
            for line in exc.report.lines():
                print(display(line))
            return 1
        finally:
            await db.close_database()
        print(display(f"{result.created} compte(s) créé(s) pour {result.organisation_label}."))
        print(f"Classeur de résultat (identifiants à transmettre) : {result.result_path}")
        return 0

    return run_async(go())


def cmd_feed(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        from pathlib import Path

        from cpf_tui import db
        from cpf_tui.services import bulk, holder_feed
        from cpf_tui.services.context import RequestContext

        ctx = RequestContext(terminal="cli")
        folder = Path(args.rapport) if args.rapport else bulk.output_directory(Path.cwd())
        line = FeedProgressLine(sys.stderr)
        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings)
            if args.command == "titulaires":
                result = await holder_feed.import_holders(
                    args.file, ctx=ctx, report_dir=folder, as_system=True, ignore_errors=args.ignorer_erreurs,
                    progress=line.show,
                )
            else:
                result = await holder_feed.credit_hours(
                    args.file, year=args.annee, ctx=ctx, report_dir=folder, as_system=True,
                    ignore_errors=args.ignorer_erreurs, progress=line.show,
                )
        finally:
            line.close()
            await db.close_database()
        for text_line in result.describe():
            print(text_line)
        return 0 if result.applied and not result.error_count else 1

    return run_async(go())


class FeedProgressLine:
    """The progress of a feed on one terminal line (rewritten in place), at most once per percent."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.last = ""

    def show(self, progress: Any) -> None:
        percent = 100 * progress.done // progress.total if progress.total else 100
        text = f"{progress.stage} : {percent} % ({progress.lines:,} lignes)".replace(",", "\u202f")
        if text != self.last:
            self.last = text
            self.stream.write("\r" + text.ljust(50))
            self.stream.flush()

    def close(self) -> None:
        if self.last:
            self.stream.write("\n")
            self.stream.flush()


def cmd_audit(args: argparse.Namespace) -> int:
    settings = _load(args)
    expected_head = None
    if args.audit_command == "verify" and args.tete:
        seq, _, digest = args.tete.partition(":")
        if not seq.strip().isdigit() or len(digest.strip()) != 64:
            print("Erreur : --ancre (ou --tete) attend « N:EMPREINTE » (numéro et empreinte de 64 caractères).",
                  file=sys.stderr)
            return 1
        expected_head = (int(seq), digest.strip())

    async def go() -> int:
        from pathlib import Path

        from cpf_tui import db
        from cpf_tui.services import audit, journal

        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings, verifying=args.audit_command in ("verify", "anchor"))
            if args.audit_command in ("verify", "anchor"):
                report = await audit.verify_chain(expected_head=expected_head)
                if args.audit_command == "anchor" and report.ok:
                    print(f"{report.head_seq}:{report.head_hash}")
                    print("Ancre du journal : gardez-la hors du serveur (papier, autre machine) ; plus tard :"
                          " cpf-tui audit verify --ancre N:EMPREINTE", file=sys.stderr)
                    return 0
                print(report.message)
                if report.ok and report.checked:
                    print(f"Dernier événement : n° {report.head_seq}, empreinte {report.head_hash}")
                    print("Ancre à garder hors du serveur pour une prochaine vérification : cpf-tui audit verify"
                          f" --ancre {report.head_seq}:{report.head_hash}")
                return 0 if report.ok else 2
            filters = journal.JournalFilters(args.acteur, args.action, args.cible, args.du, args.au)
            target = Path(args.output) if args.output else journal.default_export_path(settings.data_path)
            written, count = await journal.export_xlsx_system(filters, target)
            print(f"Journal exporté : {count} événement(s) dans {written}")
            return 0
        finally:
            await db.close_database()

    return run_async(go())


def cmd_cgu(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def go() -> int:
        import getpass

        from cpf_tui import db
        from cpf_tui.services import cgu

        await db.open_database(settings.database_url)
        try:
            await db.ensure_schema_current()
            use_audit_key(settings)
            version = await cgu.publish_file(args.file, published_by=getpass.getuser())
        finally:
            await db.close_database()
        print(f"CGU publiées : version {version.version}. "
              "Chaque utilisateur devra l'accepter à sa prochaine connexion.")
        return 0

    return run_async(go())


COMMANDS: dict[str | None, Handler] = {
    None: cmd_run,
    "migrate": cmd_migrate,
    "init": cmd_init,
    "create-operator": cmd_create_operator,
    "demo": cmd_demo,
    "config": cmd_config,
    "ssh-serve": cmd_ssh_serve,
    "check": cmd_check,
    "sauvegarde": cmd_backup,
    "restauration": cmd_restore,
    "mail": cmd_mail,
    "habilitation": cmd_habilitation,
    "audit": cmd_audit,
    "titulaires": cmd_feed,
    "heures": cmd_feed,
    "cgu": cmd_cgu,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CpfError as exc:
        print(f"Erreur : {display(exc.message, multiline=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
