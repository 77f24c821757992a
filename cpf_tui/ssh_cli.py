"""The `cpf-tui ssh-serve` subcommand: French options, then the server (imported only when run)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from cpf_tui.errors import ConfigError


def add_ssh_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ssh-serve` (defaults under the data folder of the configuration)."""
    parser.add_argument("--host", default="127.0.0.1", metavar="ADRESSE",
                        help="adresse d'écoute (défaut : 127.0.0.1 ; 0.0.0.0 pour toutes les interfaces)")
    parser.add_argument("--port", type=int, default=2222, metavar="PORT",
                        help="port d'écoute (défaut : 2222 ; 0 = un port libre, affiché au démarrage)")
    parser.add_argument("--host-key", metavar="FICHIER",
                        help="clé privée d'hôte, créée au premier démarrage (défaut : <données>/ssh/host_ed25519_key)")
    parser.add_argument("--authorized-keys", metavar="CHEMIN",
                        help="clés publiques autorisées au format OpenSSH : un fichier, ou un dossier avec un "
                             "fichier par utilisateur SSH (défaut : <données>/ssh/authorized_keys)")
    parser.add_argument("--drop-root", metavar="DOSSIER",
                        help="dossier des dépôts de fichiers (SFTP), un sous-dossier par utilisateur SSH "
                             "(défaut : <données>/depot)")
    parser.add_argument("--drop-quota", type=int, default=100, metavar="MO",
                        help="taille maximale du dossier de dépôt de chaque utilisateur, en Mo (défaut : 100)")
    parser.add_argument("--max-sessions", type=int, default=50, metavar="N",
                        help="nombre maximal de sessions ouvertes en tout (défaut : 50)")
    parser.add_argument("--max-per-connection", type=int, default=3, metavar="N",
                        help="nombre maximal de sessions par connexion SSH (défaut : 3)")
    parser.add_argument("--max-per-user", type=int, default=10, metavar="N",
                        help="nombre maximal de sessions ouvertes par utilisateur SSH, application et SFTP "
                             "(défaut : 10)")
    parser.add_argument("--drop-max-files", type=int, default=10_000, metavar="N",
                        help="nombre maximal de fichiers et dossiers dans le dossier de dépôt de chaque "
                             "utilisateur (défaut : 10000)")
    parser.add_argument("--sftp-handles", type=int, default=64, metavar="N",
                        help="fichiers et dossiers ouverts au plus par session SFTP (défaut : 64)")
    parser.add_argument("--sftp-handles-per-user", type=int, default=256, metavar="N",
                        help="fichiers et dossiers ouverts au plus par utilisateur SSH, toutes sessions SFTP "
                             "confondues (défaut : 256)")
    parser.add_argument("--limit-memory", type=int, default=2048, metavar="MO",
                        help="mémoire virtuelle maximale de chaque session (RLIMIT_AS), en Mo (défaut : 2048 ; "
                             "0 = sans limite)")
    parser.add_argument("--limit-files", type=int, default=256, metavar="N",
                        help="fichiers ouverts au plus par session (RLIMIT_NOFILE ; défaut : 256 ; 0 = sans limite)")
    parser.add_argument("--limit-processes", type=int, default=4096, metavar="N",
                        help="processus et fils d'exécution au plus pour le compte Unix du serveur, vérifié à "
                             "chaque création depuis une session (RLIMIT_NPROC ; défaut : 4096 ; 0 = sans limite)")
    parser.add_argument("--app-command", metavar="COMMANDE",
                        help="commande lancée pour chaque session (défaut : ce Python avec « -m cpf_tui » "
                             "et la même configuration)")
    parser.add_argument("--no-preload", action="store_true",
                        help="lancer chaque session par un nouveau processus Python au lieu du lanceur préchargé "
                             "(démarrage plus lent ; implicite avec --app-command)")
    parser.add_argument("--log-file", metavar="FICHIER",
                        help="journal des sessions (défaut : sortie d'erreur)")


def _positive(value: int, option: str, minimum: int = 1) -> int:
    if value < minimum:
        raise ConfigError(f"Option {option} : un nombre supérieur ou égal à {minimum} est attendu.")
    return value


def _limit(value: int, option: str, minimum: int) -> int:
    """A resource limit: 0 (none) or at least `minimum` (below it the application cannot start)."""
    if value != 0 and value < minimum:
        raise ConfigError(f"Option {option} : 0 (sans limite) ou au moins {minimum} est attendu.")
    return value


def app_command(args: argparse.Namespace) -> list[str]:
    """The argv run per session, its program resolved to an absolute path (French error if missing)."""
    if args.app_command:
        try:
            argv = shlex.split(args.app_command)
        except ValueError as exc:
            raise ConfigError(f"Option --app-command illisible : {exc}.") from None
        if not argv:
            raise ConfigError("Option --app-command : la commande est vide.")
    else:
        argv = [sys.executable, "-m", "cpf_tui"]
        if args.config:
            argv += ["--config", str(Path(args.config).expanduser().resolve())]
        if getattr(args, "no_mouse", False):
            argv.append("--no-mouse")
    program = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
    if not program or not os.access(program, os.X_OK):
        raise ConfigError(f"Commande introuvable ou non exécutable : {argv[0]}.")
    return [os.path.abspath(program), *argv[1:]]


def run_ssh_serve(args: argparse.Namespace, settings) -> int:
    """Build the options from the command line and the settings, then serve until stopped."""
    import asyncio

    from cpf_tui.ssh_server import ServeOptions, configure_logging, serve

    data = settings.data_path
    command = app_command(args)
    options = ServeOptions(
        host=args.host,
        port=_positive(args.port, "--port", 0),
        host_key=Path(args.host_key or data / "ssh" / "host_ed25519_key").expanduser(),
        authorized_keys=Path(args.authorized_keys or data / "ssh" / "authorized_keys").expanduser(),
        drop_root=Path(args.drop_root or data / "depot").expanduser().resolve(),
        drop_quota_bytes=_positive(args.drop_quota, "--drop-quota") * 1024 * 1024,
        max_sessions=_positive(args.max_sessions, "--max-sessions"),
        max_per_connection=_positive(args.max_per_connection, "--max-per-connection"),
        max_per_user=_positive(args.max_per_user, "--max-per-user"),
        drop_max_entries=_positive(args.drop_max_files, "--drop-max-files"),
        sftp_handles_per_session=_positive(args.sftp_handles, "--sftp-handles"),
        sftp_handles_per_user=_positive(args.sftp_handles_per_user, "--sftp-handles-per-user"),
        limit_memory_bytes=_positive(args.limit_memory, "--limit-memory", 0) * 1024 * 1024,
        limit_open_files=_limit(args.limit_files, "--limit-files", 32),
        limit_processes=_limit(args.limit_processes, "--limit-processes", 16),
        app_command=command,
        # The default command is this Python running cpf_tui: a pre-loaded launcher forks it much faster.
        preload_args=None if args.app_command or args.no_preload else command[3:],
    )
    if options.port > 65535:
        raise ConfigError("Option --port : un numéro de port entre 0 et 65535 est attendu.")
    configure_logging(args.log_file)
    return asyncio.run(serve(options))
